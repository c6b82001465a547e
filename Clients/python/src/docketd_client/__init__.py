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

from ._common import DEFAULT_URL, __version__
from .client import Client, EventStream, Subscription, connect
from .errors import (
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
from .models import (
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
from .protocol import exponential, fixed
from .worker import AUTO, JobContext, NonRetryable, RetryAfter, Throttle, Worker, WorkerResult

__all__ = [
    "DEFAULT_URL",
    "Client",
    "Subscription",
    "connect",
    "Msg",
    "Job",
    "EnqueueResult",
    "FailOutcome",
    "JobOutcome",
    "JobInfo",
    "EventStream",
    "QueueInfo",
    "QueueConfig",
    "QueueJobs",
    "QueueTotals",
    "QueueRates",
    "ServerStats",
    "Route",
    "JobEvent",
    "Throttle",
    "Worker",
    "WorkerResult",
    "AUTO",
    "JobContext",
    "NonRetryable",
    "RetryAfter",
    "fixed",
    "exponential",
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
    "__version__",
]
