# ruff: noqa: T201 - a command-line tool prints its results
"""`incidentctl`: forensics for operators.

incidentctl replay --from 2026-01-31T10:00:00Z --to 2026-01-31T10:30:00Z [--config FILE] [--diff] [--json]
incidentctl dlq list [--reason TEXT] [--json]
incidentctl dlq replay (--offset N ... | --all) [--reason TEXT] [--set FIELD=VALUE ...] [--dry-run]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime

from aiokafka.errors import KafkaConnectionError

from aggregator import dlq_cli
from aggregator.engine import CorrelationConfig, load_config
from aggregator.replay import diff, live_incidents, print_table, replay
from aggregator.settings import AggregatorSettings
from incident_shared import codec
from incident_shared.timeutil import parse_iso


def _progress(done: int, total: int) -> None:
    pct = 100.0 * done / total if total else 100.0
    print(f"\rreplayed {done}/{total} records ({pct:.0f}%)", end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incidentctl")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="run the engine over a time range of the events topic (read-only)")
    rp.add_argument("--from", dest="start", required=True, help="ISO-8601 start (record time)")
    rp.add_argument("--to", dest="end", required=True, help="ISO-8601 end (record time)")
    rp.add_argument("--config", help="a correlation config to try instead of the deployed one")
    rp.add_argument("--diff", action="store_true", help="compare with the incidents live produced")
    rp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dlq_cli.add_parser(sub)
    args = parser.parse_args(argv)
    settings = AggregatorSettings()
    if args.command == "dlq":
        return _with_kafka(settings, lambda: dlq_cli.run(args, settings))
    try:
        start, end = parse_iso(args.start), parse_iso(args.end)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = load_config(args.config or settings.correlation_config)
    return _with_kafka(settings, lambda: _replay(args, settings, start, end, config))


def _with_kafka(settings: AggregatorSettings, run: Callable[[], int]) -> int:
    try:
        return run()
    except KafkaConnectionError:
        print(
            f"error: Kafka is not reachable at {settings.kafka_bootstrap_servers}: start it (`make infra`) "
            "or point KAFKA_BOOTSTRAP_SERVERS at the cluster",
            file=sys.stderr,
        )
        return 2


def _replay(
    args: argparse.Namespace, settings: AggregatorSettings, start: datetime, end: datetime, config: CorrelationConfig
) -> int:
    topics = settings.topics
    show_progress = sys.stderr.isatty()
    result = asyncio.run(
        replay(
            settings.kafka_bootstrap_servers,
            topics.events,
            start,
            end,
            config,
            progress=_progress if show_progress else None,
        )
    )
    if show_progress:
        print(file=sys.stderr)
    print(
        f"{result.events} records, {result.invalid} invalid, {result.duplicates} duplicates, "
        f"{len(result.incidents)} incidents",
        file=sys.stderr,
    )
    if args.diff:
        live = asyncio.run(live_incidents(settings.kafka_bootstrap_servers, topics.incidents, start, end))
        d = diff(live, result.incidents)
        if args.json:
            sys.stdout.write(codec.dumps_str(d) + "\n")
        else:
            print(
                f"same: {d['same']}  changed: {len(d['changed'])}  only live: {len(d['onlyLive'])}  "
                f"only replay: {len(d['onlyReplay'])}"
            )
            for c in d["changed"]:
                print(f"~ {c['incidentId']} {c['title'][:70]}")
                for f, v in c["fields"].items():
                    print(f"    {f}: live={v['live']} replay={v['replay']}")
            for r in d["onlyLive"]:
                print(f"- {r['incidentId']} {r['title'][:70]} ({r['eventCount']} events)")
            for r in d["onlyReplay"]:
                print(f"+ {r['incidentId']} {r['title'][:70]} ({r['eventCount']} events)")
        return 0
    if args.json:
        sys.stdout.write(codec.dumps_str([i.model_dump(mode="json") for i in result.incidents]) + "\n")
    else:
        print_table(result.incidents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
