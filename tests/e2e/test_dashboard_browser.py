"""The dashboard in a real browser (Debian's chromium via playwright-core), against a running stack.

The scenario lives in `dashboard/e2e/dashboard.e2e.mjs` (post a storm, see the incident appear live,
open it, see the summary, acknowledge it, see the change in a second page); this test runs it and
asserts that it passed. It also writes the README's screenshots to docs/screenshots/.

Where the stack is: a `stack` fixture (from tests/e2e/conftest.py, once the whole stack can be
started by the tests) with `api_url` and optionally `ws_url` and `dashboard_url`; without a
`dashboard_url` this test serves the built dashboard itself (a copy of dashboard/dist whose
config.js points at the stack). Otherwise II_E2E_API_URL and II_E2E_DASHBOARD_URL, or the `make up`
defaults (http://localhost:5000, http://localhost:3000), skipped with a reason when nothing answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_dashboard(api: str, ws: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Serves a copy of the built dashboard, configured at run time (config.js) for this stack."""
    dist = ROOT / "dashboard" / "dist"
    if not (dist / "index.html").exists():
        pytest.fail("dashboard/dist is missing: run deploy/local/setup.d/dashboard.sh (make setup)")
    site = workdir / "dashboard-dist"
    shutil.copytree(dist, site)
    (site / "config.js").write_text(f"window.__II_CONFIG__ = {json.dumps({'apiUrl': api, 'wsUrl': ws})};\n")
    port = _free_port()
    vite = ROOT / "dashboard" / "node_modules" / "vite" / "bin" / "vite.js"
    argv = ["node", str(vite), "preview", "--outDir", str(site), "--port", str(port), "--strictPort"]
    proc = subprocess.Popen([*argv, "--host", "127.0.0.1"], cwd=ROOT / "dashboard")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not _answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.terminate()
            pytest.fail(f"could not serve the dashboard at {url}")
        time.sleep(0.3)
    return proc, url


@pytest.fixture
def stack_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(API base, dashboard URL) of a running stack."""
    try:
        stack = request.getfixturevalue("stack")
    except pytest.FixtureLookupError:
        stack = None
    if stack is not None and (api := _attr(stack, "api_url")):
        api = api.rstrip("/")
        if dashboard := _attr(stack, "dashboard_url"):
            yield api, dashboard
            return
        ws = _attr(stack, "ws_url") or api.replace("http", "ws", 1) + "/ws"
        proc, url = _serve_dashboard(api, ws, tmp_path)
        try:
            yield api, url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return
    explicit = "II_E2E_API_URL" in os.environ or "II_E2E_DASHBOARD_URL" in os.environ
    api = os.environ.get("II_E2E_API_URL", "http://localhost:5000").rstrip("/")
    dashboard = os.environ.get("II_E2E_DASHBOARD_URL", "http://localhost:3000").rstrip("/")
    missing = [u for u in (f"{api}/api/incidents/active", dashboard) if not _answers(u)]
    if missing:
        message = f"no running stack answers at {', '.join(missing)} (start it with `make up`)"
        if explicit:
            pytest.fail(message)
        pytest.skip(message)
    yield api, dashboard


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
