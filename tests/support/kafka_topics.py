"""Deleting what a test created on the shared broker, so that a long-lived development broker does
not accumulate thousands of topics (every client's metadata requests, and the broker's heap, grow
with them)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient

from incident_shared.topics import Topics

log = logging.getLogger(__name__)


async def delete_topics_containing(bootstrap: str, stem: str) -> None:
    """Deletes every topic whose name contains `stem` (a test's random prefix); best effort."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-cleanup")
    try:
        async with asyncio.timeout(30):  # a broker busy electing leaders must not hold the test
            await admin.start()
            doomed = [t for t in await admin.list_topics() if stem in t]
            if doomed:
                await admin.delete_topics(doomed)
    except Exception as err:  # noqa: BLE001 - cleanup must not fail a test that passed
        log.warning("could not delete the test's topics (%s): %s", stem, err)
    finally:
        await admin.close()


def topic_stem(t: Topics) -> str:
    """The random part of a test's topic prefix: topics whose names contain it go with the test."""
    return t.prefix.rstrip(".")
