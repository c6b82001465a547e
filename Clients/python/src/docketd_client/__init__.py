"""Python client for Docket (docketd), a job and event server.

Distribution ``docketd-client``, import name ``docketd_client``:

>>> import docketd_client as docket
>>> client = docket.Client("nats://127.0.0.1:4222")
>>> client.enqueue("emails", b"hello", attempts=3, backoff="fixed:5s").id
1

Pub/sub (the NATS core protocol): :meth:`Client.publish`,
:meth:`Client.subscribe`, :meth:`Client.request`. Jobs:
:meth:`Client.enqueue`, :meth:`Client.reserve`, :meth:`Client.ack`,
:meth:`Client.fail`, :meth:`Client.wait`, ... and :class:`Worker` to run
handlers. The asyncio flavour, with the same surface, is
:mod:`docketd_client.aio`.
"""

import typing as _typing

from . import _exports
from ._exports import *  # noqa: F401,F403 - what both flavours export (see _exports.__all__)
from .client import Client, EventStream, Subscription, connect
from .worker import JobContext, Worker

if _typing.TYPE_CHECKING:
    # Type checkers do not follow the names _exports adds to its __all__
    # from these two modules: name them where they can see them.
    from .errors import *  # noqa: F401,F403
    from .models import *  # noqa: F401,F403

__all__ = ["Client", "connect", "Subscription", "EventStream", "Worker", "JobContext"]
__all__ += _exports.__all__
