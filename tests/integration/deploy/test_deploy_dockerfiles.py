"""The images: every path a Dockerfile copies exists and reaches the build context, and every
image is multi-stage, runs as a non-root user and has a HEALTHCHECK.

No container engine is needed: these read the Dockerfiles and the root .dockerignore.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def test_every_service_package_has_an_image(dockerfiles: dict[str, Any]) -> None:
    services = {p.parent.name for p in REPO.glob("services/*/pyproject.toml")}
    with_image = {Path(p).parent.name for p in dockerfiles if p.startswith("services/")}
    assert services <= with_image, f"services without a Dockerfile: {sorted(services - with_image)}"
    assert "dashboard/Dockerfile" in dockerfiles


def test_every_copied_path_exists_and_is_in_the_build_context(
    dockerfiles: dict[str, Any],
    context_files: Callable[[str], list[Path]],
    excluded_from_context: Callable[[str], bool],
) -> None:
    problems: list[str] = []
    for name, dockerfile in dockerfiles.items():
        for source in dockerfile.context_copies():
            found = context_files(source)
            if not found:
                problems.append(f"{name}: COPY {source}: no such path in the repository")
                continue
            for path in found:
                files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
                rel = [str(f.relative_to(REPO)) for f in files]
                kept = [r for r in rel if not excluded_from_context(r)]
                if not kept:
                    problems.append(f"{name}: COPY {source}: .dockerignore keeps all of it out of the context")
    assert not problems, "\n".join(problems)


def test_dockerignore_keeps_local_state_out_of_the_context(
    excluded_from_context: Callable[[str], bool],
) -> None:
    for path in [
        ".venv/bin/python",
        ".local/kafka/data/x",
        ".git/HEAD",
        "dashboard/node_modules/x/index.js",
        "dashboard/dist/index.html",
        "shared/src/incident_shared/__pycache__/a.pyc",
        "tests/conftest.py",
    ]:
        assert excluded_from_context(path), path
    for path in [
        "uv.lock",
        "pyproject.toml",
        "shared/src/incident_shared/settings.py",
        "dashboard/package.json",
    ]:
        assert not excluded_from_context(path), path


@pytest.mark.parametrize("name", ["ingest-gateway", "aggregator", "summarizer", "ws-broadcaster"])
def test_a_python_image_installs_only_its_own_package_from_the_lockfile(name: str, dockerfiles: dict[str, Any]) -> None:
    path = f"services/{name}/Dockerfile"
    if path not in dockerfiles:
        pytest.skip(f"{path} not written yet")
    dockerfile = dockerfiles[path]
    package = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())["project"]["name"]
    syncs = [r for r in dockerfile.all("RUN") if "uv sync" in r]
    assert syncs, "the builder installs with uv sync"
    for run in syncs:
        assert "--frozen" in run, f"uv sync must use the lockfile as it is: {run}"
        assert "--no-dev" in run, run
        assert f"--package {package}" in run, f"uv sync must install only {package}: {run}"
    assert any("--no-editable" in r for r in syncs), "the venv must not point back into the builder's sources"
    entry = shlex.split(" ".join(dockerfile.final("ENTRYPOINT")).replace("[", "").replace("]", "").replace(",", " "))
    module = entry[entry.index("-m") + 1]
    assert (REPO / "services" / name / "src" / module / "__main__.py").is_file(), (
        f"ENTRYPOINT runs `python -m {module}`, which has no __main__.py"
    )


@pytest.mark.parametrize(
    "path",
    [p.replace(str(REPO) + "/", "") for p in map(str, sorted(REPO.glob("services/*/Dockerfile")))]
    + ["dashboard/Dockerfile"],
)
def test_an_image_is_multi_stage_non_root_with_a_healthcheck(path: str, dockerfiles: dict[str, Any]) -> None:
    dockerfile = dockerfiles[path]
    assert dockerfile.stages() >= 2, "a builder stage keeps the toolchain out of the runtime image"
    users = dockerfile.final("USER")
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert re.fullmatch(r"[1-9]\d*", user), f"USER must be a numeric non-root uid (runAsNonRoot checks it): {user}"
    assert dockerfile.final("HEALTHCHECK"), "the runtime stage has a HEALTHCHECK"
    assert "/health/live" in dockerfile.final("HEALTHCHECK")[-1]
    assert dockerfile.final("EXPOSE"), "the runtime stage documents its port"


def test_the_dashboard_renders_its_runtime_config_where_nginx_includes_it(dockerfiles: dict[str, Any]) -> None:
    dockerfile = dockerfiles["dashboard/Dockerfile"]
    env = " ".join(dockerfile.final("ENV"))
    output_dir = re.search(r"NGINX_ENVSUBST_OUTPUT_DIR=(\S+)", env)
    assert output_dir, "the entrypoint renders templates into a writable directory"
    (template_copy,) = [c for c in dockerfile.final("COPY") if "/etc/nginx/templates/" in c]
    target = template_copy.split()[-1].removeprefix("/etc/nginx/templates/").removesuffix(".template")
    rendered = f"{output_dir.group(1).rstrip('/')}/{target}"
    nginx_conf = (REPO / "dashboard" / "nginx.conf").read_text()
    includes = re.findall(r"include\s+(\S+);", nginx_conf)
    assert any(Path(rendered).match(pattern) for pattern in includes), f"nginx.conf never includes {rendered}"
    template = (REPO / "dashboard" / "nginx-config.js.conf.template").read_text()
    assert set(re.findall(r"\$\{(\w+)\}", template)) == {"VITE_API_URL", "VITE_WS_URL"}
    for name in ("VITE_API_URL", "VITE_WS_URL"):
        assert f'{name}=""' in env, f"{name} defaults to empty, or envsubst would leave ${{{name}}} in config.js"
