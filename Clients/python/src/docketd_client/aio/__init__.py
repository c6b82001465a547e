"""The asyncio flavour of the Docket client: the same surface as
:mod:`docketd_client`, as coroutines, on asyncio streams.

>>> import docketd_client.aio as docket
>>> async def main():
...     async with docket.connect("nats://127.0.0.1:4222") as client:
...         job = await client.enqueue("emails", b"hello")
...         outcome = await client.wait(job.id, timeout=30)

:class:`Client` (made by :func:`connect`) publishes, subscribes (``async
for msg in sub``), requests, and sends every job verb; :class:`Worker` runs
``async def`` handlers. Both share the protocol code of the threaded client
(:mod:`docketd_client.protocol`), its errors, documents and handler
exceptions, which are re-exported here.
"""

import typing as _typing

from .. import _exports
from .._exports import *  # noqa: F401,F403 - what both flavours export (see _exports.__all__)
from .client import Client, EventStream, Subscription, connect
from .worker import JobContext, Worker

if _typing.TYPE_CHECKING:
    # Type checkers do not follow the names _exports adds to its __all__
    # from these two modules: name them where they can see them.
    from ..errors import *  # noqa: F401,F403
    from ..models import *  # noqa: F401,F403

__all__ = ["Client", "connect", "Subscription", "EventStream", "Worker", "JobContext"]
__all__ += _exports.__all__
