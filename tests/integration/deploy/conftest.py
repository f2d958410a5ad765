"""Helpers for the deployment checks: Dockerfiles, the Helm chart and the Compose file.

None of these tests needs a container engine or a cluster. They read the Dockerfiles, render the
chart with a `helm` binary built from the Go module proxy (`deploy/ci.d/helm.sh`), validate the
output against the Kubernetes schemas that the `kubernetes-validate` package ships, and compare
the environment the chart and Compose give each service with what its settings class reads.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "incident-intelligence"
HELM_SETUP = REPO / "deploy" / "ci.d" / "helm.sh"

# Every Python service: its directory under services/, its module, the chart's values key and the
# Compose service name.
PYTHON_SERVICES: dict[str, dict[str, str]] = {
    "ingest-gateway": {"module": "ingest_gateway", "values": "ingestGateway"},
    "aggregator": {"module": "aggregator", "values": "aggregator"},
    "summarizer": {"module": "summarizer", "values": "summarizer"},
    "ws-broadcaster": {"module": "ws_broadcaster", "values": "wsBroadcaster"},
}


# ---------------------------------------------------------------------------------------- Dockerfiles
@dataclass(slots=True)
class Instruction:
    keyword: str
    args: str
    stage: int


@dataclass(slots=True)
class Dockerfile:
    path: Path
    instructions: list[Instruction] = field(default_factory=list)

    def stages(self) -> int:
        return 1 + max((i.stage for i in self.instructions), default=0)

    def final(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction in the last stage."""
        last = self.stages() - 1
        return [i.args for i in self.instructions if i.keyword == keyword and i.stage == last]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def context_copies(self) -> list[str]:
        """Every source path that a COPY or ADD takes from the build context (not `--from=`)."""
        sources: list[str] = []
        for ins in self.instructions:
            if ins.keyword not in {"COPY", "ADD"}:
                continue
            words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
            if any(w.startswith("--from") for w in shlex.split(ins.args)):
                continue
            sources.extend(words[:-1])
        return sources


def parse_dockerfile(path: Path) -> Dockerfile:
    """Instructions with continuation lines joined; FROM starts a new stage (the first is stage 0)."""
    parsed = Dockerfile(path)
    stage = -1
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        parsed.instructions.append(Instruction(keyword, args.strip(), max(stage, 0)))
        logical = ""
    return parsed


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern that matches the path or a parent decides."""
    excluded = False
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        regex = _glob_regex(pat)
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def read_dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def dockerfile_paths() -> list[Path]:
    return sorted([*REPO.glob("services/*/Dockerfile"), REPO / "dashboard" / "Dockerfile"])


def expand_context_path(source: str) -> list[Path]:
    """The files a COPY source names in the build context (globs expanded)."""
    if any(ch in source for ch in "*?["):
        return [p for p in REPO.glob(source) if fnmatch.fnmatch(str(p.relative_to(REPO)), source)]
    path = REPO / source.rstrip("/")
    return [path] if path.exists() else []


# ------------------------------------------------------------------------------------------- settings
def settings_classes(module: str) -> list[type[Any]]:
    """The settings classes of a service: subclasses of `CommonSettings` defined in its package.

    Imports only the modules that mention `CommonSettings` (the services do nothing at import time).
    """
    from incident_shared.settings import CommonSettings  # noqa: PLC0415 - needs the workspace

    src = next(REPO.glob(f"services/*/src/{module}"))
    classes: list[type[Any]] = []
    for file in sorted(src.rglob("*.py")):
        if file.name == "__main__.py" or "CommonSettings" not in file.read_text():
            continue
        dotted = ".".join(file.relative_to(src.parent).with_suffix("").parts)
        mod = importlib.import_module(dotted)
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, CommonSettings) and obj.__module__ == dotted:
                classes.append(obj)
    return classes


def settings_env_names(module: str) -> set[str]:
    """The environment names every settings class of a service reads (`validation_alias`)."""
    names: set[str] = set()
    for cls in settings_classes(module):
        names |= _aliases(cls)
    return names


def common_env_names() -> set[str]:
    from incident_shared.settings import CommonSettings  # noqa: PLC0415 - needs the workspace

    return _aliases(CommonSettings)


def _aliases(cls: type[Any]) -> set[str]:
    names: set[str] = set()
    for info in cls.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif alias is not None and hasattr(alias, "choices"):
            names |= {c for c in alias.choices if isinstance(c, str)}
    return names


# ------------------------------------------------------------------------------------------------ helm
def _find_helm() -> str | None:
    local = REPO / ".local" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary, built from the Go module proxy by deploy/ci.d/helm.sh (which keeps a binary
    of the pinned version and build, and rebuilds an older one)."""
    found = _find_helm()
    if (found is None or found.startswith(str(REPO))) and HELM_SETUP.exists() and shutil.which("go"):
        proc = subprocess.run(["bash", str(HELM_SETUP)], capture_output=True, text=True, timeout=1800, check=False)
        found = _find_helm()
        if found is None:
            pytest.skip(f"helm could not be built by {HELM_SETUP.name}: {proc.stderr[-800:]}")
    if found is None:
        pytest.skip("helm is not installed and Go is missing to build it (deploy/ci.d/helm.sh)")
    return found


@pytest.fixture(scope="session")
def helm_template(helm: str) -> Callable[..., list[dict[str, Any]]]:
    """Renders the chart with extra helm arguments and returns its documents."""
    cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def render(*args: str) -> list[dict[str, Any]]:
        if args not in cache:
            proc = subprocess.run(
                [helm, "template", "ii", str(CHART), "--namespace", "incidents", *args],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode == 0, f"helm template {' '.join(args)} failed:\n{proc.stderr}"
            cache[args] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        return cache[args]

    return render


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, Dockerfile]:
    """Every image's Dockerfile by its path from the repository root."""
    return {str(p.relative_to(REPO)): parse_dockerfile(p) for p in dockerfile_paths()}


@pytest.fixture(scope="session")
def excluded_from_context() -> Callable[[str], bool]:
    """Whether the root .dockerignore keeps a path out of the build context."""
    patterns = read_dockerignore()
    return lambda path: dockerignore_excludes(patterns, path)


@pytest.fixture(scope="session")
def context_files() -> Callable[[str], list[Path]]:
    return expand_context_path


@pytest.fixture(scope="session")
def service_settings() -> dict[str, list[type[Any]]]:
    """Each Python service (by directory name) -> its settings classes."""
    return {
        name: settings_classes(spec["module"])
        for name, spec in PYTHON_SERVICES.items()
        if (REPO / "services" / name / "src" / spec["module"]).is_dir()
    }


@pytest.fixture(scope="session")
def compose_project() -> dict[str, Any]:
    """deploy/compose.yaml as Docker Compose resolves it (compose-go), in a clean environment.

    Built by deploy/ci.d/compose-check.sh from the Go module proxy when missing.
    """
    binary = REPO / ".local" / "bin" / "compose-check"
    script = REPO / "deploy" / "ci.d" / "compose-check.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800, check=False)
    if not binary.exists():
        pytest.skip(f"compose-check could not be built (is Go installed?): {proc.stderr[-800:]}")
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    out = subprocess.run(
        [str(binary), str(REPO / "deploy" / "compose.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean,
    )
    assert out.returncode == 0, f"Docker Compose would refuse deploy/compose.yaml:\n{out.stderr}"
    project: dict[str, Any] = json.loads(out.stdout)
    return project


@pytest.fixture(scope="session")
def service_env() -> dict[str, set[str]]:
    """Each Python service (by directory name) -> the environment names its settings read."""
    return {
        name: settings_env_names(spec["module"]) | common_env_names()
        for name, spec in PYTHON_SERVICES.items()
        if (REPO / "services" / name / "src" / spec["module"]).is_dir()
    }
