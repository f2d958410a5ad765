"""`python -m aggregator`: load the settings, build the Faust app, run one worker."""

from __future__ import annotations

from aggregator.settings import AggregatorSettings
from incident_shared.logging import setup_logging


def main() -> None:
    settings = AggregatorSettings()
    setup_logging("aggregator", settings.log_level, settings.log_format)
    from aggregator.worker import build_app  # noqa: PLC0415 - Faust is imported only when a worker runs

    app = build_app(settings)

    from faust.worker import Worker  # noqa: PLC0415

    # Logging stays as `setup_logging` made it (JSON lines at LOG_LEVEL): left to Faust, the root
    # logger would drop to DEBUG for a terminal spinner and every debug call in Faust's per-record
    # path would build a log record only to discard it.
    Worker(
        app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False, override_logging=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
