"""Operator commands for the shared infrastructure: `python -m incident_shared.admin create-topics`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from incident_shared.kafka import ensure_topics
from incident_shared.settings import CommonSettings
from incident_shared.topics import ALL_TOPICS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incident_shared.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create-topics", help="create the registry's topics that do not exist yet")
    sub.add_parser("list-topics", help="print the registry: name, partitions, key, settings")
    args = parser.parse_args(argv)
    settings = CommonSettings()
    topics = settings.topics
    if args.command == "list-topics":
        for spec in ALL_TOPICS:
            print(f"{topics.name(spec):<28} partitions={spec.partitions:<3} key={spec.key}  {spec.config}")  # noqa: T201
        return 0
    try:
        created = asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, topics))
    except Exception as exc:  # noqa: BLE001 - a command-line tool reports any failure plainly
        print(f"error: cannot create topics on {settings.kafka_bootstrap_servers}: {exc}", file=sys.stderr)  # noqa: T201
        print("is Kafka running? `make infra` starts it", file=sys.stderr)  # noqa: T201
        return 1
    for name in created:
        print(f"    created {name}")  # noqa: T201
    print(f"    {len(ALL_TOPICS)} topics in the registry, {len(created)} newly created")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
