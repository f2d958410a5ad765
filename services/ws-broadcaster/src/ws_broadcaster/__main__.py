"""`python -m ws_broadcaster`: load the settings, build the app, serve until SIGTERM."""

from __future__ import annotations

from aiohttp import web

from incident_shared.logging import setup_logging
from ws_broadcaster.app import build_app
from ws_broadcaster.settings import BroadcasterSettings


def main() -> None:
    settings = BroadcasterSettings()
    setup_logging("ws-broadcaster", settings.log_level, settings.log_format)
    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
