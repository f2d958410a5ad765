"""Every MongoDB failure, classified: what it means for the document and for the stream.

- `DUPLICATE`: the document is already there (a redelivery or a replay): success.
- `TRANSIENT`: the server is down, unreachable, stepping down or too slow: nothing is wrong with
  the documents; the stream holds and the write is retried with backoff for as long as it lasts.
- `REFUSED`: the server (or the driver, before sending) refuses this document for what it holds:
  retrying cannot help; it goes to the dead-letter topic with the reason.
- `UNKNOWN`: anything else: retried a bounded number of times, then treated as refused, so that no
  record is retried forever or blocks its partition.
"""

from __future__ import annotations

from enum import Enum

from bson.errors import InvalidDocument
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure, WriteConcernError


class Kind(Enum):
    DUPLICATE = "duplicate"
    TRANSIENT = "transient"
    REFUSED = "refused"
    UNKNOWN = "unknown"


DUPLICATE_KEY = frozenset({11000, 11001, 12582})
# Server codes that say "not now" rather than "not this": shutdown, elections, network, time limits,
# lock and write conflicts, and the client-side pool and socket errors.
TRANSIENT_CODES = frozenset(
    {6, 7, 24, 46, 50, 63, 89, 91, 112, 150, 189, 202, 262, 9001, 10107, 11600, 11602, 13435, 13436, 13388}
)
# Codes a server answers for one document it will not store (bad value, bad field name, too large).
REFUSED_CODES = frozenset({2, 9, 14, 52, 55, 56, 57, 10334, 17419, 17420, 16755, 4, 10, 15})


def classify(exc: BaseException) -> Kind:
    """The kind of a failed operation as a whole (not the per-document errors of a bulk write)."""
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout, WriteConcernError, TimeoutError, OSError)):
        return Kind.TRANSIENT
    if isinstance(exc, (InvalidDocument, OverflowError)):  # the driver cannot encode a document
        return Kind.REFUSED
    if isinstance(exc, OperationFailure):
        if exc.has_error_label("RetryableWriteError") or exc.code in TRANSIENT_CODES:
            return Kind.TRANSIENT
        if exc.code in DUPLICATE_KEY:
            return Kind.DUPLICATE
        if exc.code in REFUSED_CODES:
            return Kind.REFUSED
    return Kind.UNKNOWN


def classify_write_error(error: dict[str, object]) -> Kind:
    """The kind of one document's error in a bulk write. The server looked at this document and
    said no: unless the code says "not now", it is this document that is refused."""
    code = error.get("code")
    if code in DUPLICATE_KEY:
        return Kind.DUPLICATE
    if code in TRANSIENT_CODES:
        return Kind.TRANSIENT
    return Kind.REFUSED


def describe(error: dict[str, object] | BaseException) -> str:
    """A short reason for a person: the server's message and code."""
    if isinstance(error, BaseException):
        code = getattr(error, "code", None)
        text = str(error).split(", full error:")[0]
        return f"{type(error).__name__}: {text}" + (f" (code {code})" if code is not None else "")
    return f"{error.get('errmsg', 'write error')} (code {error.get('code')})"
