"""`python -m summarizer`: load the settings, build the app, serve until SIGTERM."""

from __future__ import annotations

from aiohttp import web

from incident_shared.logging import setup_logging
from summarizer.app import build_app
from summarizer.settings import SummarizerSettings


def main() -> None:
    settings = SummarizerSettings()
    setup_logging("summarizer", settings.log_level, settings.log_format)
    # run_app handles SIGTERM/SIGINT: stop accepting requests, then the cleanup contexts stop the
    # consumer, let summaries being written finish and be published, and close the producer.
    web.run_app(build_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
