# ruff: noqa: T201 - a command-line tool prints its results
"""`incidentctl`: forensics and backtesting for operators.

    incidentctl replay --from 2026-01-31T10:00:00Z --to 2026-01-31T10:30:00Z [--config FILE]
        [--diff] [--json] [--explain] [--labels FILE [--baseline-config FILE]] [--events FILE]

Replays a range of the events topic (or a file of events) through the engine, read-only, and
prints the incidents; `--explain` says why each incident is what it is; `--labels` scores the
incidents against the true ones and, with `--baseline-config`, exits 1 when `--config` scores worse
than the baseline config over the same events.

    incidentctl dlq list [--reason TEXT] [--json]
    incidentctl dlq replay (--offset N ... | --all) [--reason TEXT] [--set FIELD=VALUE ...] [--dry-run]

Lists what the aggregator dead-lettered, and replays it onto the events topic after a fix.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiokafka.errors import KafkaConnectionError

from aggregator import dlq_cli
from aggregator.backtest import Score, load_labels, score, worse
from aggregator.engine import CorrelationConfig, load_config
from aggregator.replay import (
    ReplayResult,
    diff,
    live_incidents,
    print_explained,
    print_table,
    replay_file,
    replay_many,
)
from aggregator.settings import AggregatorSettings
from incident_shared import codec
from incident_shared.timeutil import parse_iso

EXIT_WORSE = 1
EXIT_USAGE = 2


def _progress(done: int, total: int) -> None:
    pct = 100.0 * done / total if total else 100.0
    print(f"\rreplayed {done}/{total} records ({pct:.0f}%)", end="", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incidentctl")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="run the engine over a time range of the events topic (read-only)")
    rp.add_argument("--from", dest="start", help="ISO-8601 start (record time); required unless --events")
    rp.add_argument("--to", dest="end", help="ISO-8601 end (record time); required unless --events")
    rp.add_argument("--events", help="read the events from this file (JSON lines or a JSON array) instead of Kafka")
    rp.add_argument("--config", help="a correlation config to try instead of the deployed one")
    rp.add_argument("--diff", action="store_true", help="compare with the incidents live produced")
    rp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rp.add_argument("--explain", action="store_true", help="say why each incident is what it is")
    rp.add_argument(
        "--labels", help="score against the true incidents: event id -> incident (JSON object, JSON lines or CSV)"
    )
    rp.add_argument(
        "--baseline-config",
        help="score this config too over the same events; exit 1 when --config scores worse (needs --labels)",
    )
    rp.add_argument(
        "--fresh-fingerprints",
        action="store_true",
        help="do not learn the fingerprints live handed out (from the incidents topic) before replaying",
    )
    dlq_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = AggregatorSettings()
    if args.command == "dlq":
        return _with_kafka(settings, lambda: dlq_cli.run(args, settings))
    return _replay_command(args, settings)


def _with_kafka(settings: AggregatorSettings, run: Callable[[], int]) -> int:
    try:
        return run()
    except KafkaConnectionError:
        print(
            f"error: Kafka is not reachable at {settings.kafka_bootstrap_servers}: start it (`make infra`) "
            "or point KAFKA_BOOTSTRAP_SERVERS at the cluster",
            file=sys.stderr,
        )
        return EXIT_USAGE


def _replay_command(args: argparse.Namespace, settings: AggregatorSettings) -> int:
    try:
        start = parse_iso(args.start) if args.start else None
        end = parse_iso(args.end) if args.end else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.events and (start is None or end is None):
        print("error: --from and --to are required to replay the events topic (or give --events FILE)", file=sys.stderr)
        return EXIT_USAGE
    if args.baseline_config and not args.labels:
        print("error: --baseline-config compares scores: give --labels too", file=sys.stderr)
        return EXIT_USAGE
    if args.events and args.diff:
        print("error: --diff compares with the live incidents of a range of the topic, not a file", file=sys.stderr)
        return EXIT_USAGE
    try:
        labels = load_labels(args.labels) if args.labels else None
        configs = [load_config(args.config or settings.correlation_config)]
        if args.baseline_config:
            configs.append(load_config(args.baseline_config))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    window = (start, end) if start is not None and end is not None else None

    def run() -> int:
        results = _results(args, settings, window, configs, track=labels is not None)
        return _report(args, settings, window, results, labels=labels)

    return _with_kafka(settings, run)


Window = tuple[datetime, datetime] | None


def _results(
    args: argparse.Namespace,
    settings: AggregatorSettings,
    window: Window,
    configs: list[CorrelationConfig],
    *,
    track: bool,
) -> list[ReplayResult]:
    if args.events or window is None:
        start, end = window or (None, None)
        return replay_file(args.events, configs, start=start, end=end, track=track)
    start, end = window
    topics = settings.topics
    show_progress = sys.stderr.isatty()
    live = (
        []
        if args.fresh_fingerprints
        else asyncio.run(live_incidents(settings.kafka_bootstrap_servers, topics.incidents))
    )
    results = asyncio.run(
        replay_many(
            settings.kafka_bootstrap_servers,
            topics.events,
            start,
            end,
            configs,
            progress=_progress if show_progress else None,
            track=track,
            live=live,
        )
    )
    if show_progress:
        print(file=sys.stderr)
    return results


def _report(
    args: argparse.Namespace,
    settings: AggregatorSettings,
    window: Window,
    results: list[ReplayResult],
    *,
    labels: dict[str, str] | None,
) -> int:
    result = results[0]
    print(
        f"{result.events} records, {result.invalid} invalid, {result.duplicates} duplicates, "
        f"{len(result.incidents)} incidents",
        file=sys.stderr,
    )
    if args.diff and window is not None:
        topics = settings.topics
        live = asyncio.run(live_incidents(settings.kafka_bootstrap_servers, topics.incidents, *window))
        _print_diff(args, diff(live, result.incidents))
    elif args.explain:
        print_explained(result)
    elif args.json:
        sys.stdout.write(codec.dumps_str([i.model_dump(mode="json") for i in result.incidents]) + "\n")
    else:
        print_table(result.incidents)
    if labels is None:
        return 0
    scores = [score(r.assigned, labels, r.roots()) for r in results]
    return _print_scores(args, scores)


def _print_scores(args: argparse.Namespace, scores: list[Score]) -> int:
    candidate = scores[0]
    baseline = scores[1] if len(scores) > 1 else None
    reasons = worse(candidate, baseline) if baseline is not None else []
    if args.json:
        out: dict[str, Any] = {"score": candidate.to_dict()}
        if baseline is not None:
            out |= {"baseline": baseline.to_dict(), "worse": reasons}
        sys.stdout.write(codec.dumps_str(out) + "\n")
    else:
        print(f"\nscore ({args.config or 'deployed config'}):")
        for line in candidate.lines():
            print(f"  {line}")
        if baseline is not None:
            print(f"baseline ({args.baseline_config}):")
            for line in baseline.lines():
                print(f"  {line}")
    if reasons:
        print(f"worse than the baseline: {'; '.join(reasons)}", file=sys.stderr)
        return EXIT_WORSE
    return 0


def _print_diff(args: argparse.Namespace, d: dict[str, Any]) -> None:
    if args.json:
        sys.stdout.write(codec.dumps_str(d) + "\n")
        return
    changed, only_live, only_replay = d["changed"], d["onlyLive"], d["onlyReplay"]
    print(f"same: {d['same']}  changed: {len(changed)}  only live: {len(only_live)}  only replay: {len(only_replay)}")
    for c in changed:
        print(f"~ {c['incidentId']} {c['title'][:70]}")
        for f, v in c["fields"].items():
            print(f"    {f}: live={v['live']} replay={v['replay']}")
    for r in only_live:
        print(f"- {r['incidentId']} {r['title'][:70]} ({r['eventCount']} events)")
    for r in only_replay:
        print(f"+ {r['incidentId']} {r['title'][:70]} ({r['eventCount']} events)")


if __name__ == "__main__":
    sys.exit(main())
