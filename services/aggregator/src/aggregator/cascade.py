"""The cross-key stage as a step: incident candidates in, cascade decisions (links) out.

Each candidate's decisions are sent, and only once the broker has them is the linker's state saved:
a crash in between replays the candidate, and a decision sent twice changes nothing. A candidate
the linker fails on is dead-lettered and its half-made decisions are dropped (the linker is built
again over its saved state), so the next candidate starts clean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aggregator.deadletters import DeadLetters
from aggregator.engine import Linker
from aggregator.intake import Decoded
from aggregator.metrics import Metrics
from aggregator.steps import Batch, Forward, Sink, Terminal, await_sent
from incident_shared import codec

log = logging.getLogger(__name__)


class LinkCandidates(Forward):
    def __init__(
        self, make_linker: Callable[[], Linker], links: Sink, metrics: Metrics, dead_letters: DeadLetters
    ) -> None:
        super().__init__(Terminal())
        self._make_linker = make_linker
        self.linker = make_linker()
        self._links = links
        self._metrics = metrics
        self._dead_letters = dead_letters

    async def submit(self, message: Batch[Decoded[dict[str, Any]]]) -> None:
        for item in message.items:
            try:
                links = self.linker.update(item.value)
            except Exception as exc:  # one record must never end the worker
                log.exception("the cross-key stage failed on a candidate", extra={"origin": item.record.origin})
                self.linker = self._make_linker()
                await self._dead_letters.send(item.record, f"cascade: {type(exc).__name__}: {exc}", "failed")
                continue
            sent = [
                ("link", await self._links.send(key=str(link["routingKey"]).encode(), value=codec.dumps(link)))
                for link in links
            ]
            await await_sent(sent, self._metrics.publish_refused)
            self.linker.commit()
            self._metrics.links.inc(len(links))
        await self._dead_letters.flush()


def _object(raw: bytes, what: str, **checks: Any) -> dict[str, Any]:
    """The JSON object in `raw`; ValueError unless each named field passes its check."""
    value = codec.loads(raw)
    if not isinstance(value, dict) or not all(check(value.get(k)) for k, check in checks.items()):
        raise ValueError(f"not {what}")
    return value


def _text(v: Any) -> bool:
    return isinstance(v, str)


def parse_candidate(raw: bytes) -> dict[str, Any]:
    return _object(raw, "an incident candidate (incidentId, routingKey)", incidentId=_text, routingKey=_text)


def parse_link(raw: bytes) -> dict[str, Any]:
    return _object(
        raw, "a cascade link (incidentId, op merge or member)", incidentId=_text, op=lambda v: v in ("merge", "member")
    )
