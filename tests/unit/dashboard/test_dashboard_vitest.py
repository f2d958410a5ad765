"""The dashboard's own unit tests (Vitest: the live store, frame decoding, batching), run from pytest
so that `make test` and `make test-unit` include them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[3] / "dashboard"


def test_dashboard_unit_tests_pass() -> None:
    node = shutil.which("node")
    vitest = DASHBOARD / "node_modules" / "vitest" / "vitest.mjs"
    if node is None or not vitest.exists():
        pytest.fail("the dashboard's npm packages are missing: run deploy/local/setup.d/dashboard.sh (make setup)")
    result = subprocess.run(
        [node, str(vitest), "run", "--reporter=dot"],
        cwd=DASHBOARD,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"vitest failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
