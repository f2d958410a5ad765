"""The dashboard in a real browser (Debian's chromium via playwright-core), against a running stack.

The scenario lives in `dashboard/e2e/dashboard.e2e.mjs` (post a storm, see the incident appear live,
open it, see the summary, acknowledge it, see the change in a second page); this test runs it and
asserts that it passed. It also writes the README's screenshots to docs/screenshots/.

Where the stack is: a `stack` fixture (from tests/e2e/conftest.py, once the whole stack can be
started by the tests) with `api_url` and `dashboard_url`; otherwise II_E2E_API_URL and
II_E2E_DASHBOARD_URL, or the `make up` defaults (http://localhost:5000, http://localhost:3000),
skipped with a reason when nothing answers there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "dashboard" / "e2e" / "dashboard.e2e.mjs"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 (a URL from the test's own settings)
            return bool(resp.status < 500)
    except (urllib.error.URLError, OSError):
        return False


def _attr(obj: Any, name: str) -> str | None:
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return str(value) if value else None


@pytest.fixture
def stack_urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(API base, dashboard URL) of a running stack."""
    try:
        stack = request.getfixturevalue("stack")
    except pytest.FixtureLookupError:
        stack = None
    if stack is not None:
        api, dashboard = _attr(stack, "api_url"), _attr(stack, "dashboard_url")
        if api and dashboard:
            return api, dashboard
    explicit = "II_E2E_API_URL" in os.environ or "II_E2E_DASHBOARD_URL" in os.environ
    api = os.environ.get("II_E2E_API_URL", "http://localhost:5000").rstrip("/")
    dashboard = os.environ.get("II_E2E_DASHBOARD_URL", "http://localhost:3000").rstrip("/")
    missing = [u for u in (f"{api}/api/incidents/active", dashboard) if not _answers(u)]
    if missing:
        message = f"no running stack answers at {', '.join(missing)} (start it with `make up`)"
        if explicit:
            pytest.fail(message)
        pytest.skip(message)
    return api, dashboard


@pytest.mark.timeout(600)
def test_storm_appears_live_and_acknowledging_reaches_every_page(stack_urls: tuple[str, str]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the browser test needs node 20+")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never a downloaded browser)")
    if not (ROOT / "dashboard" / "node_modules" / "playwright-core").exists():
        pytest.fail("the dashboard's npm packages are missing: run deploy/local/setup.d/dashboard.sh (make setup)")
    api, dashboard = stack_urls
    env = os.environ | {"II_E2E_API_URL": api, "II_E2E_DASHBOARD_URL": dashboard, "CHROMIUM_PATH": CHROMIUM}
    result = subprocess.run(
        [node, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False
    )
    assert result.returncode == 0, f"browser scenario failed:\n{result.stdout}\n{result.stderr}"
    assert "all steps passed" in result.stdout
