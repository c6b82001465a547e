"""TLS for the threaded client: a socket look-alike over ``ssl.SSLObject``.

The client reads on one thread and writes on another. An OpenSSL connection
must not be used by two threads at once, so instead of ``SSLSocket`` this
keeps the TLS state in an :class:`ssl.SSLObject` over memory buffers, used
only under a lock that is never held across socket I/O: the reader feeds it
the bytes it received and takes out plaintext; a writer puts in plaintext
and sends the records it made. Records are sent in the order they were
made (one lock orders the sends), whichever thread made them.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Optional

from .errors import ConnectError


class TLSSocket:
    """``recv``, ``sendall``, ``settimeout``, ``shutdown`` and ``close`` of a
    TLS connection over a connected TCP socket (see the module docstring)."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: Optional[str]) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side=False,
                                     server_hostname=server_hostname)
        self._lock = threading.Lock()  # the SSLObject and both buffers
        self._send_lock = threading.Lock()  # orders what goes on the socket
        self._eof = False

    # -- the handshake ------------------------------------------------------

    def handshake(self) -> None:
        """Do the TLS handshake (bounded by the socket's timeout); raises
        :class:`ssl.SSLError` (a certificate that does not verify, ...)."""
        while True:
            with self._lock:
                try:
                    self._obj.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    done = False
                out = self._outgoing.read()
            if out:
                self._sock.sendall(out)
            if done:
                return
            data = self._sock.recv(65536)
            if not data:
                raise ConnectError("the server closed the connection during the TLS handshake")
            with self._lock:
                self._incoming.write(data)

    @property
    def version(self) -> Optional[str]:
        """The TLS version in use (``"TLSv1.3"``)."""
        return self._obj.version()

    def getpeercert(self) -> object:
        return self._obj.getpeercert()

    # -- the socket surface the client uses ---------------------------------

    def recv(self, size: int) -> bytes:
        """Plaintext, at most ``size`` bytes; ``b""`` at the end of the stream."""
        while True:
            with self._lock:
                try:
                    data = self._obj.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""
                pending = self._outgoing.pending
            if pending:
                self._send_made(blocking=False)
            if data is not None:
                if data or self._eof:
                    return data
            elif self._eof:
                return b""
            raw = self._sock.recv(65536)
            with self._lock:
                if raw:
                    self._incoming.write(raw)
                else:
                    self._eof = True
                    self._incoming.write_eof()

    def sendall(self, data: bytes) -> None:
        """Encrypt and send all of ``data``."""
        view = memoryview(data)
        with self._send_lock:
            with self._lock:
                while view:
                    written = self._obj.write(view)
                    view = view[written:]
                out = self._outgoing.read()
            self._sock.sendall(out)

    def _send_made(self, blocking: bool) -> None:
        """Send records the reader made (a TLS 1.3 key update, say). When a
        writer is busy it sends them with its own (its buffer is read
        whole), or the next write does."""
        if not self._send_lock.acquire(blocking=blocking):
            return
        try:
            with self._lock:
                out = self._outgoing.read()
            if out:
                self._sock.sendall(out)
        finally:
            self._send_lock.release()

    def settimeout(self, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()
