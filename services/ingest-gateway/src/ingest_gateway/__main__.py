"""`python -m ingest_gateway`: load the settings, build the app, serve until SIGTERM."""

from __future__ import annotations

from aiohttp import web

from incident_shared.logging import setup_logging
from ingest_gateway.app import build_app
from ingest_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    setup_logging("ingest-gateway", settings.log_level, settings.log_format)
    # aiohttp's run_app handles SIGTERM/SIGINT: stop accepting, close WebSockets, run cleanup contexts
    # (which flush the Kafka producer), then exit.
    web.run_app(build_app(settings), host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
