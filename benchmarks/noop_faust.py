"""A Faust worker with the aggregator's own Faust settings and one agent that takes the `events`
topic in the same batches and does nothing with them: the ceiling for any Faust-driven consumer of
that topic on this machine. Run as a process by bench_aggregator.py (env as for the aggregator)."""

from __future__ import annotations

from typing import Any

from faust.worker import Worker

from aggregator.settings import AggregatorSettings
from aggregator.worker import faust_app


def main() -> None:
    settings = AggregatorSettings()
    app = faust_app(settings)
    topic = app.topic(settings.topics.events, key_serializer="raw", value_serializer="raw")

    async def noop(stream: Any) -> None:
        async for _ in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            pass

    app.agent(topic, name="events")(noop)
    Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False, override_logging=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
