"""Python client for Docket, a job and event server.

>>> import docket
>>> client = docket.Client("nats://127.0.0.1:4222")
>>> client.enqueue("emails", b"hello", attempts=3, backoff="fixed:5s").id
1

Pub/sub (the NATS core protocol): :meth:`Client.publish`,
:meth:`Client.subscribe`, :meth:`Client.request`. Jobs:
:meth:`Client.enqueue`, :meth:`Client.reserve`, :meth:`Client.ack`,
:meth:`Client.fail`, ... and :class:`Worker` to run handlers.
"""

from .client import DEFAULT_URL, Client, EventStream, Subscription, connect
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

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "Client",
    "Subscription",
    "connect",
    "Msg",
    "Job",
    "EnqueueResult",
    "FailOutcome",
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
