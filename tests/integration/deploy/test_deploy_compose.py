"""deploy/compose.yaml, read without a container engine: what `docker compose up` would need.

Every service is built from a Dockerfile that exists, has a health check, starts after Kafka's
topics exist and MongoDB answers, and reaches Kafka on an address the broker advertises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
APP_SERVICES = {"ingest-gateway", "aggregator", "summarizer", "ws-broadcaster", "dashboard"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def test_compose_runs_kafka_mongodb_every_service_and_the_dashboard(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= APP_SERVICES | {"kafka", "mongodb", "create-topics"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"], "KRaft, no ZooKeeper"
    assert services["mongodb"]["image"].startswith("mongo:")


def test_every_image_is_built_from_a_dockerfile_that_exists(compose: dict[str, Any]) -> None:
    base = COMPOSE_FILE.parent
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        context = (base / service["build"]["context"]).resolve()
        assert context == REPO, f"{name}: the build context is the repository root (.dockerignore lives there)"
        assert (context / service["build"]["dockerfile"]).is_file(), name


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name == "create-topics":
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert not check.get("disable"), f"{name} has its health check turned off"
        test = " ".join(check["test"])
        if name in APP_SERVICES:
            assert "/health/ready" in test, f"{name}: Compose waits on readiness"


def test_services_start_after_topics_exist_and_mongodb_answers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["create-topics"]["entrypoint"][-2:] == ["incident_shared.admin", "create-topics"]
    assert services["create-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in APP_SERVICES - {"dashboard"}:
        deps = services[name]["depends_on"]
        assert deps["create-topics"]["condition"] == "service_completed_successfully", name
        assert deps["mongodb"]["condition"] == "service_healthy", name
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on an unknown service {dep}"


def test_services_reach_kafka_and_mongodb_on_the_advertised_addresses(compose: dict[str, Any]) -> None:
    services = compose["services"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    for name in APP_SERVICES - {"dashboard"}:
        env = services[name]["environment"]
        assert f"//{env['KAFKA_BOOTSTRAP_SERVERS']}" in advertised, name
        assert env["MONGODB_URI"].startswith("mongodb://mongodb:"), name
    gateway = services["ingest-gateway"]["environment"]
    assert gateway["SUMMARIZER_URL"] == "http://summarizer:5001"
    assert gateway["BROADCASTER_URL"] == "http://ws-broadcaster:5002"


def test_services_run_read_only_without_capabilities(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert "/tmp" in service["tmpfs"], name  # noqa: S108 - a tmpfs in the container
        assert service["cap_drop"] == ["ALL"], name


def test_the_aggregator_mounts_the_repository_correlation_config(compose: dict[str, Any]) -> None:
    aggregator = compose["services"]["aggregator"]
    source, target, *_ = aggregator["volumes"][0].split(":")
    assert (COMPOSE_FILE.parent / source).resolve() == REPO / "deploy" / "config" / "correlation.toml"
    assert aggregator["environment"]["CORRELATION_CONFIG"] == target


def test_the_dashboard_points_the_browser_at_the_api_on_port_5000(compose: dict[str, Any]) -> None:
    dashboard = compose["services"]["dashboard"]
    assert dashboard["ports"] == ["3000:8080"]
    env = dashboard["environment"]
    assert env["VITE_API_URL"].endswith("http://localhost:5000}")
    assert env["VITE_WS_URL"].endswith("ws://localhost:5000/ws}")
