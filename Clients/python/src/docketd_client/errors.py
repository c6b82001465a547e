"""Exceptions raised by the Docket client.

Everything the library raises derives from :class:`Error`. There are three
families:

* :class:`DocketError` and its subclasses: the server refused a job command
  with ``-ERR '<CODE> <message>'``. The connection stays usable.
* connection problems: :class:`ConnectionLost` (retryable: the request may or
  may not have reached the server), :class:`ConnectionClosed` (the client was
  closed), :class:`ConnectError` (no server could be reached).
* everything else: :class:`Timeout`, :class:`NoResponders`,
  :class:`ProtocolError` (the server sent bytes the protocol does not allow),
  :class:`ServerError` (a NATS-level ``-ERR`` such as ``'Invalid Subject'``),
  :class:`BadArgument` (refused by the client before anything was sent).
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
    "Error",
    "DocketError",
    "NotFound",
    "NotHeld",
    "NotDead",
    "NotDelayed",
    "BadOption",
    "BadQueue",
    "BadId",
    "StoreFull",
    "Forbidden",
    "LimitReached",
    "Unavailable",
    "ConnectionLost",
    "ConnectionClosed",
    "ConnectError",
    "AuthorizationError",
    "Timeout",
    "NoResponders",
    "ProtocolError",
    "ServerError",
    "SubscriptionClosed",
    "BadArgument",
    "job_error",
]


class Error(Exception):
    """Base class of every exception raised by the docketd_client package."""


class DocketError(Error):
    """The server refused a job command: ``-ERR '<CODE> <message>'``.

    ``code`` is the error code (``NOT_HELD``, ...), ``message`` the rest of
    the text. Codes this library does not know yet raise a plain
    ``DocketError`` with that code.
    """

    code: str = ""

    def __init__(self, message: str = "", code: Optional[str] = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        super().__init__(f"{self.code} {message}".strip())


class NotFound(DocketError):
    """No job has this id (never existed, deleted, or removed by retention)."""

    code = "NOT_FOUND"


class NotHeld(DocketError):
    """The job is not active under a lease this connection holds."""

    code = "NOT_HELD"


class NotDead(DocketError):
    """RETRY of a job that is not dead."""

    code = "NOT_DEAD"


class NotDelayed(DocketError):
    """PROMOTE of a job that is not delayed."""

    code = "NOT_DELAYED"


class BadOption(DocketError):
    """An option is unknown, repeated, or its value is out of range."""

    code = "BAD_OPTION"


class BadQueue(DocketError):
    """The queue name is missing or not valid."""

    code = "BAD_QUEUE"


class BadId(DocketError):
    """The job id is not a number."""

    code = "BAD_ID"


class StoreFull(DocketError):
    """The store is too full to take this: a new job (ENQ, a routed job)
    past 90% of ``--max-store``, or a result, reason or note (ACK, FAIL,
    PROGRESS with a body) past 95%. Nothing changed; a job held stays held,
    and the same command without a body always goes."""

    code = "STORE_FULL"


class Forbidden(DocketError):
    """The connection's credentials do not allow this job command. The
    connection stays open; other commands may still be allowed."""

    code = "FORBIDDEN"


class LimitReached(DocketError):
    """A configured limit of the server was reached (``LIMIT``): another
    queue past ``--max-queues``, or another waiting ``$DOCKET.API`` RESERVE
    or WAIT past ``--max-waiting-requests``. Nothing changed."""

    code = "LIMIT"


class Unavailable(DocketError):
    """The job store (PostgreSQL) cannot be reached (``UNAVAILABLE``).
    Nothing was promised: the command may or may not have been carried out
    if it was in flight, and can be sent again (``enqueue`` with ``key=`` to
    be safe). The server reconnects to the database by itself."""

    code = "UNAVAILABLE"


_BY_CODE: Dict[str, Type[DocketError]] = {
    cls.code: cls
    for cls in (
        NotFound, NotHeld, NotDead, NotDelayed, BadOption, BadQueue, BadId, StoreFull, Forbidden, LimitReached,
        Unavailable,
    )
}


def job_error(code: str, message: str) -> DocketError:
    """Build the exception for a job error code (a plain DocketError if unknown)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return DocketError(message, code=code)
    return cls(message)


class ConnectionLost(Error, ConnectionError):
    """The connection broke while the request was in flight (or before it
    could be sent). The request may or may not have been carried out: retry
    it if it is safe to (reads, ``enqueue`` with ``key=``)."""


class ConnectionClosed(Error, ConnectionError):
    """The client was closed (by ``close()`` or after giving up reconnecting)."""


class ConnectError(Error, ConnectionError):
    """No connection to the server could be established."""


class AuthorizationError(ConnectError):
    """The server refused the connection's credentials (``-ERR
    'Authorization Violation'``): they are wrong, or none were given to a
    server that requires them. Not worth retrying with the same credentials.

    Raised by ``Client(...)`` at once. When it happens while reconnecting
    (the server came back with other credentials), it is logged at ERROR
    and passed to ``error_callback``, and the client keeps trying with its
    usual backoff. The message never contains the password or token.
    """

    def __init__(self, message: str, text: str = "Authorization Violation") -> None:
        #: The server's -ERR text.
        self.text = text
        super().__init__(message)


class Timeout(Error, TimeoutError):
    """No answer arrived in time."""


class NoResponders(Error):
    """A request reached no subscriber (the server's 503 status)."""


class ProtocolError(Error):
    """The server sent something the protocol does not allow. The client
    drops the connection (the stream can no longer be trusted) and
    reconnects."""


class ServerError(Error):
    """A NATS-level ``-ERR`` from the server, e.g. ``'Invalid Subject'``, or an
    ``-ERR`` without a job error code that answers a job command: the command
    fails with it at once (``text`` holds the text without quotes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


class SubscriptionClosed(Error):
    """The subscription has ended (unsubscribed, max_msgs reached, or the
    client closed) and every message it received was taken."""


class BadArgument(Error, ValueError):
    """An argument the client refuses before sending anything (an invalid
    subject or queue name, an option out of range, a payload above the
    server's max_payload, ...)."""
