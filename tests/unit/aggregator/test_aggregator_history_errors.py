"""Every MongoDB failure classified: duplicates are success, "not now" holds the stream, "not this
document" dead-letters it, and the rest gets a bounded number of attempts."""

from __future__ import annotations

import pytest
from bson.errors import InvalidDocument
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DocumentTooLarge,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from aggregator.history.errors import Kind, classify, classify_write_error, describe

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ServerSelectionTimeoutError("127.0.0.1:27017: connection refused"), Kind.TRANSIENT),
        (AutoReconnect("connection closed"), Kind.TRANSIENT),
        (NetworkTimeout("timed out"), Kind.TRANSIENT),
        (OperationFailure("interrupted at shutdown", code=11600), Kind.TRANSIENT),
        (OperationFailure("not primary", code=10107), Kind.TRANSIENT),
        (OperationFailure("E11000 duplicate key", code=11000), Kind.DUPLICATE),
        (OperationFailure("invalid key", code=2), Kind.REFUSED),
        (InvalidDocument("Key names must not contain the NULL byte"), Kind.REFUSED),
        (DocumentTooLarge("BSON document too large"), Kind.REFUSED),
        (OverflowError("MongoDB can only handle up to 8-byte ints"), Kind.REFUSED),
        (OperationFailure("something new", code=123456), Kind.UNKNOWN),
        (RuntimeError("a bug"), Kind.UNKNOWN),
    ],
)
def test_a_failed_operation_is_classified(exc: BaseException, kind: Kind) -> None:
    assert classify(exc) is kind


def test_a_retryable_label_is_transient_whatever_the_code() -> None:
    exc = OperationFailure("write failed", code=999, details={"errorLabels": ["RetryableWriteError"]})
    assert classify(exc) is Kind.TRANSIENT


def test_a_documents_own_error_in_a_bulk_write_refuses_it_unless_it_says_not_now() -> None:
    assert classify_write_error({"code": 11000}) is Kind.DUPLICATE
    assert classify_write_error({"code": 2, "errmsg": "nested arrays are not supported"}) is Kind.REFUSED
    assert classify_write_error({"code": 4242}) is Kind.REFUSED
    assert classify_write_error({"code": 91}) is Kind.TRANSIENT
    assert classify(BulkWriteError({"writeErrors": []})) is Kind.UNKNOWN  # looked at per document instead


def test_a_reason_names_the_servers_message_and_code() -> None:
    assert describe({"code": 2, "errmsg": 'invalid key: "$x"'}) == 'invalid key: "$x" (code 2)'
    assert describe(OperationFailure("oops", code=8)) == "OperationFailure: oops (code 8)"
    assert describe(InvalidDocument("bad key")) == "InvalidDocument: bad key"
