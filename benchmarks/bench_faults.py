"""Faults under a steady load: what each fault does to accepted events, and how long recovery takes.

Runs the fault suite's scenario (tests/support/fault_scenario.py) on a stack of its own: its own
Kafka and MongoDB-protocol server (ports: II_E2E_PORT_OFFSET + 500 above the usual ones), the four
services as processes under a supervisor that restarts what exits, and the AI stand-in. A load of
about 12 events/s goes through the public API while, in turn, the aggregator is stopped for 20 s,
killed (SIGKILL), Kafka is stopped for 30 s, the MongoDB-protocol server for 60 s, and the AI
provider fails for 30 s.

Prints one row per fault: events sent while it lasted, how many got a 2xx, how many of those are in
MongoDB at the end, duplicates, the seconds from the end of the fault until the platform was whole
again (every service ready, incidents updated again, every event accepted so far in MongoDB), and
the restarts the supervisor made. Then how the incidents compare with a fault-free run of the same
events. Numbers, not pass/fail: `tests/faults` asserts. About ten minutes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.fault_scenario import run_scenario


def log(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def main() -> None:
    report = asyncio.run(run_scenario(log=log))
    print(report.table())
    print()
    print(report.details())


if __name__ == "__main__":
    main()
