"""The install step of each Python image, replayed without a container engine.

For each service's Dockerfile, the files its builder stage copies are laid out in a scratch
directory exactly as the COPY instructions place them, and its `uv sync` commands run there
against a fresh virtualenv. Then every module of the service is imported from that virtualenv:
a service importing a package that only another service declares would start in the workspace's
shared .venv but crash in its image, and this is where it shows.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
# Heavy dependencies that belong to one service only: another image must not carry them.
OWN_DEPENDENCIES = {"faust": "aggregator", "anthropic": "summarizer", "openai": "summarizer"}
SERVICES = {"ingest-gateway": "ingest_gateway", "aggregator": "aggregator", "summarizer": "summarizer",
            "ws-broadcaster": "ws_broadcaster"}  # fmt: skip

IMPORT_ALL = """
import importlib, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
importlib.import_module("incident_shared.admin")
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    raise SystemExit(f"{name} is installed but belongs to another service")
print("ok")
"""


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (deploy/local/setup.sh installs it)")
    return found


def _replay_builder(dockerfile: Any, scratch: Path, venv: Path) -> None:
    workdir = scratch
    builder = [i for i in dockerfile.instructions if i.stage == 0]
    for ins in builder:
        if ins.keyword == "WORKDIR":
            workdir = scratch / ins.args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "COPY":
            *sources, dest = [w for w in shlex.split(ins.args) if not w.startswith("--")]
            target = workdir / dest
            for source in sources:
                src = REPO / source.rstrip("/")
                if src.is_dir():  # Docker copies a directory's contents into the destination
                    shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    out = target / src.name if dest.endswith("/") else target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, out)
        elif ins.keyword == "RUN" and "uv sync" in ins.args:
            words = [w for w in shlex.split(ins.args.replace("\\", " ")) if not w.startswith("--mount")]
            command = [_uv(), *words[words.index("uv") + 1 :]]
            env = {
                **os.environ,
                "UV_PROJECT_ENVIRONMENT": str(venv),
                "UV_PYTHON": sys.executable,
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_COMPILE_BYTECODE": "0",
                "UV_LINK_MODE": "copy",
                "UV_NO_PROGRESS": "1",
            }
            env.pop("VIRTUAL_ENV", None)
            proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
                                  check=False)  # fmt: skip
            assert proc.returncode == 0, f"{' '.join(words)} failed in the image's layout:\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_image_installs_what_the_service_imports_and_nothing_of_the_others(
    service: str, dockerfiles: dict[str, Any], tmp_path: Path
) -> None:
    path = f"services/{service}/Dockerfile"
    venv = tmp_path / "venv"
    _replay_builder(dockerfiles[path], tmp_path / "context", venv)
    foreign = [module for module, owner in OWN_DEPENDENCIES.items() if owner != service]
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", IMPORT_ALL, SERVICES[service], *foreign],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] or proc.stdout
    installed = {p.name for p in (venv / "lib").glob("python*/site-packages/*")}
    assert SERVICES[service] in installed, "the service is installed as a package, not pointed at the sources"
    assert not any(p.endswith(".pth") and "editable" in p for p in installed)
