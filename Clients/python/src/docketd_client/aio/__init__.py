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

from .._common import DEFAULT_URL, __version__
from ..errors import (
    AuthorizationError,
    BadArgument,
    BadId,
    BadOption,
    BadQueue,
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    DocketError,
    Error,
    Forbidden,
    LimitReached,
    NoResponders,
    NotDead,
    NotFound,
    NotHeld,
    ProtocolError,
    ServerError,
    StoreFull,
    SubscriptionClosed,
    Timeout,
)
from ..models import (
    EnqueueResult,
    FailOutcome,
    Job,
    JobEvent,
    JobInfo,
    JobOutcome,
    Msg,
    QueueConfig,
    QueueInfo,
    QueueJobs,
    QueueRates,
    QueueTotals,
    Route,
    ServerStats,
)
from ..protocol import exponential, fixed
from ..worker import AUTO, NonRetryable, RetryAfter, Throttle, WorkerResult
from .client import Client, EventStream, Subscription, connect
from .worker import JobContext, Worker

__all__ = [
    "DEFAULT_URL",
    "__version__",
    "Client",
    "connect",
    "Subscription",
    "EventStream",
    "Worker",
    "JobContext",
    "WorkerResult",
    "AUTO",
    "NonRetryable",
    "RetryAfter",
    "Throttle",
    "fixed",
    "exponential",
    "Msg",
    "Job",
    "EnqueueResult",
    "FailOutcome",
    "JobOutcome",
    "JobInfo",
    "JobEvent",
    "QueueInfo",
    "QueueConfig",
    "QueueJobs",
    "QueueTotals",
    "QueueRates",
    "ServerStats",
    "Route",
    "Error",
    "DocketError",
    "NotFound",
    "NotHeld",
    "NotDead",
    "BadOption",
    "BadQueue",
    "BadId",
    "StoreFull",
    "Forbidden",
    "LimitReached",
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
]
