"""Every setting a service reads is wired in the Helm chart and in the Compose file, and neither
sets a name that no setting reads (a typo there would be ignored silently).

The names come from the services' own settings classes (subclasses of
`incident_shared.settings.CommonSettings`, by `validation_alias`), so a setting added to a service
fails here until the chart and Compose give it a value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
KUBE = ("--kube-version", "1.33.0")
# The optional settings the chart renders only when a value is given: give them all one.
ALL_OPTIONAL_SET = (
    *KUBE,
    "--set", "summarizer.ai.existingSecret=ai-keys",
    "--set", "summarizer.ai.anthropicBaseUrl=http://anthropic.internal",
    "--set", "summarizer.ai.openaiBaseUrl=http://vllm.internal/v1",
    "--set", "summarizer.ai.priceInputPerMtok=0.5",
    "--set", "summarizer.ai.priceOutputPerMtok=1.5",
    "--set", "summarizer.apiTokens.existingSecret=api",
    "--set", "ingestGateway.apiTokens.existingSecret=api",
)  # fmt: skip


def _chart_env(docs: list[dict[str, Any]], service: str) -> set[str]:
    (deployment,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/name"] == service
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"] for e in container["env"]}


def _compose_env(service: str) -> set[str]:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    return set(compose["services"][service]["environment"])


def test_every_python_service_reads_settings(service_env: dict[str, set[str]]) -> None:
    packages = {p.parent.name for p in REPO.glob("services/*/pyproject.toml")}
    assert set(service_env) == packages, "a new service needs its place in the chart, Compose and these checks"
    for name, env in service_env.items():
        assert {"PORT", "KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"} <= env, name


@pytest.mark.parametrize("service", ["ingest-gateway", "aggregator", "summarizer", "ws-broadcaster"])
def test_the_chart_wires_exactly_the_settings_a_service_reads(
    service: str, service_env: dict[str, set[str]], helm_template: Callable[..., list[dict[str, Any]]]
) -> None:
    wired = _chart_env(helm_template(*ALL_OPTIONAL_SET), service)
    reads = service_env[service]
    assert not reads - wired, f"{service} reads settings the chart never sets: {sorted(reads - wired)}"
    assert not wired - reads, f"the chart sets names {service} does not read: {sorted(wired - reads)}"


@pytest.mark.parametrize("service", ["ingest-gateway", "aggregator", "summarizer", "ws-broadcaster"])
def test_compose_wires_exactly_the_settings_a_service_reads(service: str, service_env: dict[str, set[str]]) -> None:
    wired = _compose_env(service)
    reads = service_env[service]
    assert not reads - wired, f"{service} reads settings compose.yaml never sets: {sorted(reads - wired)}"
    assert not wired - reads, f"compose.yaml sets names {service} does not read: {sorted(wired - reads)}"


def test_the_topic_creation_reads_only_common_settings(service_env: dict[str, set[str]]) -> None:
    from incident_shared.settings import CommonSettings  # noqa: PLC0415 - after the workspace is on the path

    common = {str(f.validation_alias) for f in CommonSettings.model_fields.values()}
    assert _compose_env("create-topics") <= common


# Stand-ins for what the chart takes from Secrets: plausible values of the right shape.
SECRET_STAND_INS = {
    "MONGODB_URI": "mongodb+srv://user:pass@cluster0.example.net/?retryWrites=true",
    "KAFKA_BOOTSTRAP_SERVERS": "b-1.kafka.internal:9092,b-2.kafka.internal:9092",
}


def _load_settings(classes: list[type[Any]], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds each settings class from exactly `env`, as the service does at start."""
    from incident_shared.settings import CommonSettings  # noqa: PLC0415 - after the workspace is on the path

    names = {str(f.validation_alias) for cls in [CommonSettings, *classes] for f in cls.model_fields.values()}
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for cls in classes:
        cls()  # raises pydantic's ValidationError naming the bad variable


def test_compose_file_is_valid_for_docker_compose(compose_project: dict[str, Any]) -> None:
    assert compose_project["name"] == "incident-intelligence"
    assert set(compose_project["services"]) >= {"kafka", "mongodb", "ingest-gateway", "dashboard"}


@pytest.mark.parametrize("service", ["ingest-gateway", "aggregator", "summarizer", "ws-broadcaster"])
def test_each_service_accepts_the_environment_compose_gives_it(
    service: str,
    compose_project: dict[str, Any],
    service_settings: dict[str, list[type[Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolved = compose_project["services"][service]["environment"]
    # A name without a value is passed only when set in the shell: the service sees it unset.
    env = {k: v for k, v in resolved.items() if v is not None}
    _load_settings(service_settings[service], env, monkeypatch)


@pytest.mark.parametrize("variant", ["default", "production"])
@pytest.mark.parametrize("service", ["ingest-gateway", "aggregator", "summarizer", "ws-broadcaster"])
def test_each_service_accepts_the_environment_the_chart_gives_it(
    service: str,
    variant: str,
    service_settings: dict[str, list[type[Any]]],
    helm_template: Callable[..., list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = (
        KUBE if variant == "default" else (*KUBE, "-f", str(REPO / "helm/incident-intelligence/values-production.yaml"))
    )
    (deployment,) = [
        d
        for d in helm_template(*args)
        if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/name"] == service
    ]
    env: dict[str, str] = {}
    for entry in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            assert "secretKeyRef" in entry["valueFrom"], entry
            env[entry["name"]] = SECRET_STAND_INS.get(entry["name"], "from-a-secret")
    _load_settings(service_settings[service], env, monkeypatch)
