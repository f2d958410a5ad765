"""Event values shared by the unit, store and contract suites: the contract's own example, and values
at the edge of what the store holds.

`KEPT`: legal JSON that a MongoDB-protocol server cannot hold as sent; the event is accepted, the
value kept in a storable form, and the place listed in `metadataAdjustments`.
`REFUSED_BODIES`: request bodies (raw bytes) that are not an event at all; the gateway answers 400
naming the problem, and the same bytes on the `events` topic go to the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The contract's request example, verbatim (DESIGN.md): message and error type inside metadata.
CONTRACT_EXAMPLE: dict[str, Any] = {
    "service": "payment-service",
    "severity": 4,
    "metadata": {
        "errorType": "ConnectionTimeout",
        "message": "Database connection pool exhausted",
        "requestId": "req-12345",
    },
    "tags": ["database", "timeout"],
}


@dataclass(frozen=True)
class Kept:
    name: str
    metadata: dict[str, Any]
    stored: dict[str, Any]  # the metadata as stored
    paths: tuple[str, ...]  # the adjusted places (JSON Pointers into metadata)
    # The local MongoDB-protocol server (or its driver) refuses the value as sent; the depth rule is
    # for MongoDB's 100-level limit, which FerretDB does not enforce.
    refused_as_sent: bool = True


def _deep(levels: int, bottom: Any = "bottom") -> Any:
    value: Any = bottom
    for _ in range(levels):
        value = {"a": value}
    return value


def _deep_stored() -> Any:
    """`_deep(40)` as stored: 31 levels of objects, then the remaining 9 as JSON text."""
    text = '{"a":' * 9 + '"bottom"' + "}" * 9
    return _deep(31, text)


KEPT: list[Kept] = [
    # The reproduction of the outage: one accepted event with this took the aggregator down.
    Kept("nested array", {"k": [[], None, ""]}, {"k": '[[],null,""]'}, ("/k",)),
    Kept("array of arrays deep inside", {"a": [{"b": [[1, 2], [3]]}]}, {"a": [{"b": "[[1,2],[3]]"}]}, ("/a/0/b",)),
    Kept("dotted key", {"exception.type": "Timeout"}, {"exception\uff0etype": "Timeout"}, ("/exception\uff0etype",)),
    Kept("leading $", {"labels": {"$where": "1"}}, {"labels": {"\uff04where": "1"}}, ("/labels/\uff04where",)),
    Kept("key with NUL", {"a\x00b": 1}, {"a\u2400b": 1}, ("/a\u2400b",)),
    # PostgreSQL's JSON (where the local server keeps documents by default) refuses NUL anywhere in
    # text; MongoDB and FerretDB on SQLite hold it, so not every server refuses it as sent.
    Kept("NUL inside a string", {"s": "NUL \x00 inside"}, {"s": "NUL \u2400 inside"}, ("/s",), refused_as_sent=False),
    Kept("integer beyond int64", {"n": 18446744073709551615}, {"n": "18446744073709551615"}, ("/n",)),
    # Only from code: a JSON parser reads this as a double.
    Kept("negative integer beyond int64", {"n": -(2**63) - 1}, {"n": "-9223372036854775809"}, ("/n",)),
    # metadata is level 1, so the object at level 33 (under 31 "a" keys) is the one kept as text.
    Kept("nested too deep", {"d": _deep(40)}, {"d": _deep_stored()}, ("/d" + "/a" * 31,), refused_as_sent=False),
]

# Legal values that both servers hold as they are: nothing is adjusted.
UNCHANGED: list[dict[str, Any]] = [
    {"": "empty key"},
    {"a$b": "dollar inside a key"},
    {"n": 2**63 - 1, "m": -(2**63), "f": 1e308, "t": 5e-324},
    {"u": "\uffff\ufdd0\ufeff \U0001f600"},
    {"arrays": [1, {"x": [2]}, {}], "objects": [{"a": {"b": [1, 2]}}]},
    {"d": _deep(31)},
]

# (name, body bytes, the field the 400 names)
REFUSED_BODIES: list[tuple[str, bytes, str]] = [
    ("not UTF-8", b'{"service": "api", "severity": 3, "message": "caf\xe9"}', "body"),
    ("lone surrogate", b'{"service": "api", "severity": 3, "message": "\\ud800"}', "body"),
    ("infinite number", b'{"service": "api", "severity": 3, "metadata": {"x": 1e400}}', "body"),
    ("NaN literal", b'{"service": "api", "severity": 3, "metadata": {"x": NaN}}', "body"),
    ("not an object", b"[1, 2, 3]", "body"),
    ("timestamp null", b'{"service": "api", "severity": 3, "timestamp": null}', "timestamp"),
    ("service with a newline", b'{"service": "api\\n", "severity": 3}', "service"),
    ("colliding keys", b'{"service": "api", "severity": 3, "metadata": {"a.b": 1, "a\\uff0eb": 2}}', "metadata"),
    ("severity out of range", b'{"service": "api", "severity": 9}', "severity"),
    (
        "metadata too large",
        b'{"service": "api", "severity": 3, "metadata": {"x": "' + b"y" * 17_000 + b'"}}',
        "metadata",
    ),
]
