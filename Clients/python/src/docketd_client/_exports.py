"""The names that :mod:`docketd_client` and :mod:`docketd_client.aio` both
export, listed once: the errors, the documents, the backoff helpers, the
handler's exceptions and :class:`WorkerResult`. Each package adds its own
``Client``, ``connect``, ``Subscription``, ``EventStream``, ``Worker`` and
``JobContext``.
"""

from . import errors, models
from ._common import DEFAULT_URL, __version__
from ._worker_core import AUTO, NonRetryable, RetryAfter, Throttle, WorkerResult
from .errors import *  # noqa: F401,F403 - every name of errors.__all__
from .models import *  # noqa: F401,F403 - every name of models.__all__
from .protocol import exponential, fixed

__all__ = [
    "DEFAULT_URL",
    "__version__",
    "fixed",
    "exponential",
    "AUTO",
    "NonRetryable",
    "RetryAfter",
    "Throttle",
    "WorkerResult",
]
__all__ += errors.__all__
__all__ += models.__all__
__all__.remove("job_error")  # the protocol code's helper, not for users
