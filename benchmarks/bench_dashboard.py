"""The dashboard under a firehose of live events, in headless chromium: frames per second, frame
times, long tasks, events taken in, DOM rows and heap, per event rate (see
dashboard/e2e/bench-stream.mjs; the events come from the dashboard's in-memory stand-in API, so
this measures the browser side alone).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    node = shutil.which("node")
    if node is None or not (ROOT / "dashboard/node_modules/playwright-core").exists():
        print("skipped: needs node and the dashboard's npm packages (make setup)")
        return 0
    if not Path("/usr/bin/chromium").exists():
        print("skipped: needs /usr/bin/chromium (apt-get install -y chromium)")
        return 0
    return subprocess.run([node, "dashboard/e2e/bench-stream.mjs", "--seconds", "10"], cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
