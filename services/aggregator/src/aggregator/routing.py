"""Which partition a key belongs to, so that everything of one correlation key lives on one worker.

Keys of the engine's tables are `<correlation key>\\x1f<rest>`: the producer's partitioner hashes
only the part before the separator, so a group's baselines, minute counts and seen event ids land on
the same changelog partition as the group itself and move with it on a rebalance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiokafka.partitioner import murmur2

SEP: Final = "\x1f"
_SEP_BYTES: Final = SEP.encode()
_JSON_SEP: Final = b"\\u001f"


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` (as UTF-8), as every producer computes it."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


def routing_prefix(key_bytes: bytes) -> bytes:
    """The part of a serialized key that decides its partition."""
    if _SEP_BYTES in key_bytes:
        return key_bytes.split(_SEP_BYTES, 1)[0]
    if _JSON_SEP in key_bytes:  # windowed tables serialize their keys as JSON: ["<group>\u001f...", [...]]
        head = key_bytes.split(_JSON_SEP, 1)[0]
        return head[head.rfind(b'"') + 1 :] if b'"' in head else head
    if len(key_bytes) >= 2 and key_bytes[:1] == b'"' and key_bytes[-1:] == b'"':  # a JSON string key
        return key_bytes[1:-1]
    return key_bytes


def partitioner(key_bytes: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """A Kafka default partitioner that routes by the routing prefix of table keys."""
    if key_bytes is None:
        return (available or all_partitions)[0]
    idx = int((murmur2(routing_prefix(key_bytes)) & 0x7FFFFFFF) % len(all_partitions))
    return sorted(all_partitions)[idx]
