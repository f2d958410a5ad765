# ruff: noqa: T201 - a command-line tool prints its results
"""`incidentctl dlq list | replay`: the dead-letter topic from the command line (see `dlq.py`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from aggregator.dlq import DeadLetter, parse_edits, read_dead_letters, replay, replay_value, select
from aggregator.settings import AggregatorSettings
from incident_shared import codec


def add_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="list and replay the records the aggregator dead-lettered")
    actions = dlq.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="every dead-lettered record with its reason (read-only)")
    ls.add_argument("--reason", help="only records whose reason contains this text")
    ls.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    rp = actions.add_parser("replay", help="produce dead-lettered records to the events topic again")
    which = rp.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=int, action="append", help="a record's offset in the dead-letter topic")
    which.add_argument("--all", action="store_true", help="every record (narrow it with --reason)")
    rp.add_argument("--reason", help="only records whose reason contains this text")
    rp.add_argument(
        "--set",
        dest="edits",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field of each record before replaying it (VALUE is JSON, or else a string)",
    )
    rp.add_argument("--dry-run", action="store_true", help="show what would be replayed, produce nothing")


def _progress(done: int, total: int) -> None:
    print(f"\rread {done}/{total} dead-lettered records", end="", file=sys.stderr, flush=True)


def _preview(value: bytes | None, width: int = 100) -> str:
    if value is None:
        return "(empty)"
    text = value.decode(errors="replace").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(letters: list[DeadLetter]) -> None:
    print(f"{'offset':>7}  {'dead-lettered at':<24} {'origin':<28} reason / record")
    for d in letters:
        print(f"{d.offset:>7}  {d.timestamp:%Y-%m-%d %H:%M:%S}{'':5} {d.origin[-28:]:<28} {d.reason}")
        print(f"{'':>7}  {'':<24} {'':<28} {_preview(d.value)}")


def run(args: argparse.Namespace, settings: AggregatorSettings) -> int:
    topics = settings.topics
    try:
        edits = parse_edits(args.edits) if args.action == "replay" else {}
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    show_progress = sys.stderr.isatty()
    letters = asyncio.run(
        read_dead_letters(
            settings.kafka_bootstrap_servers, topics.events_dlq, progress=_progress if show_progress else None
        )
    )
    if show_progress:
        print(file=sys.stderr)
    offsets = None if args.action == "list" or args.all else set(args.offset)
    chosen = select(letters, offsets=offsets, reason=args.reason)
    if args.action == "list":
        if args.json:
            for d in chosen:
                sys.stdout.write(codec.dumps_str(d.summary()) + "\n")
        else:
            _print_table(chosen)
        print(f"{len(chosen)} of {len(letters)} dead-lettered records on {topics.events_dlq}", file=sys.stderr)
        return 0
    if offsets is not None and (missing := offsets - {d.offset for d in chosen}):
        print(
            f"error: no dead-lettered record at offset(s) {sorted(missing)} (see `incidentctl dlq list`)",
            file=sys.stderr,
        )
        return 2
    try:
        values = [(d, replay_value(d, edits)) for d in chosen]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for d, value in values:
            print(f"{d.offset:>7}  would replay: {_preview(value, 200)}")
        print(f"{len(values)} record(s) would be replayed to {topics.events} (dry run)", file=sys.stderr)
        return 0
    sent = asyncio.run(replay(settings.kafka_bootstrap_servers, topics.events_dlq, topics.events, chosen, edits))
    print(
        f"replayed {sent} record(s) to {topics.events}; a record that fails again is dead-lettered again"
        " (`incidentctl dlq list`)",
        file=sys.stderr,
    )
    return 0
