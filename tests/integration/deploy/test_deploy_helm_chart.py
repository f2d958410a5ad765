"""The Helm chart, checked without a cluster: `helm lint`, `helm template` with the default values
and with values-production.yaml, every object validated against the Kubernetes schemas of a pinned
version (offline, from kubernetes-validate), and the properties a platform team relies on:
non-root read-only pods, probes, autoscaling, disruption budgets, secrets and the ingress routes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate.utils import ValidationError, validate

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "incident-intelligence"
KUBERNETES_VERSION = "1.33.0"
KUBE = ("--kube-version", KUBERNETES_VERSION)
PRODUCTION = (*KUBE, "-f", str(CHART / "values-production.yaml"))
EVERYTHING = (*KUBE, "--set", "ingress.enabled=true", "--set", "serviceMonitor.enabled=true")
VARIANTS = {"default": KUBE, "production": PRODUCTION, "everything": EVERYTHING}
SERVICES = {"ingest-gateway", "aggregator", "summarizer", "ws-broadcaster", "dashboard"}
Render = Callable[..., list[dict[str, Any]]]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in docs if d["kind"] == kind}


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("values", [(), ("-f", str(CHART / "values-production.yaml"))], ids=["default", "production"])
def test_helm_lint_passes(helm: str, values: tuple[str, ...]) -> None:
    proc = subprocess.run(
        [helm, "lint", str(CHART), "--strict", *KUBE, *values], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_plain_helm_template_renders_without_a_cluster(helm: str) -> None:
    """No --kube-version: what a person types first. helm then assumes its own Kubernetes version."""
    proc = subprocess.run([helm, "template", str(CHART)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "kind: Deployment" in proc.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(helm_template: Render, variant: str) -> None:
    docs = helm_template(*VARIANTS[variant])
    assert docs
    errors = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema ships with Kubernetes; its shape is checked below
        try:
            validate(doc, KUBERNETES_VERSION, strict=True)
        except ValidationError as exc:
            errors.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_pod_runs_non_root_read_only_without_capabilities(helm_template: Render, variant: str) -> None:
    workloads = [d for d in helm_template(*VARIANTS[variant]) if d["kind"] in {"Deployment", "Job"}]
    assert {d["metadata"]["labels"]["app.kubernetes.io/name"] for d in workloads} >= SERVICES
    for doc in workloads:
        pod = _pod(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"], "every container asks for resources"
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, "a read-only root filesystem needs a writable /tmp"  # noqa: S108


def test_every_service_probes_live_and_ready(helm_template: Render) -> None:
    for name, doc in _by_kind(helm_template(*KUBE), "Deployment").items():
        (container,) = _pod(doc)["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        assert container["readinessProbe"]["httpGet"]["port"] == "http"


def test_stateless_services_autoscale_and_the_aggregator_does_not(helm_template: Render) -> None:
    docs = helm_template(*PRODUCTION)
    hpas = _by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"ingest-gateway", "ws-broadcaster", "summarizer"}
    deployments = _by_kind(docs, "Deployment")
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployments[name]["metadata"]["name"]
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns the replica count"
    assert deployments["aggregator"]["spec"]["replicas"] == 3


def test_every_service_has_a_disruption_budget(helm_template: Render) -> None:
    docs = helm_template(*KUBE)
    pdbs = _by_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == SERVICES
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == name


def test_too_many_aggregator_workers_for_the_partitions_is_refused(helm: str) -> None:
    proc = subprocess.run(
        [helm, "template", "ii", str(CHART), *KUBE, "--set", "aggregator.replicas=7"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "eventsPartitions" in proc.stderr


def test_each_service_can_be_switched_off(helm_template: Render) -> None:
    for key, name in [("summarizer", "summarizer"), ("wsBroadcaster", "ws-broadcaster"), ("dashboard", "dashboard")]:
        docs = helm_template(*EVERYTHING, "--set", f"{key}.create=false")
        assert name not in _by_kind(docs, "Deployment")
        assert name not in _by_kind(docs, "Service")
        (ingress,) = [d for d in docs if d["kind"] == "Ingress"]
        backends = {p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
        assert not any(b.endswith(f"-{name}") for b in backends)


def _route(ingress: dict[str, Any], path: str) -> str:
    """The backend a request path reaches: the longest matching Prefix path wins."""
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    matches = [p for p in paths if path == p["path"] or path.startswith(p["path"].rstrip("/") + "/")]
    best = max(matches, key=lambda p: len(p["path"]))
    name: str = best["backend"]["service"]["name"]
    return name.removeprefix("ii-incident-intelligence-")


def test_the_ingress_routes_api_websocket_and_dashboard_under_one_host(helm_template: Render) -> None:
    (ingress,) = [d for d in helm_template(*PRODUCTION) if d["kind"] == "Ingress"]
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["incidents.example.com"]
    assert ingress["spec"]["tls"][0]["hosts"] == ["incidents.example.com"]
    assert _route(ingress, "/api/ai/health") == "summarizer"
    assert _route(ingress, "/api/ai/summarize/inc_1") == "summarizer"
    assert _route(ingress, "/api/events") == "ingest-gateway"
    assert _route(ingress, "/api/incidents/inc_1") == "ingest-gateway"
    assert _route(ingress, "/health/ready") == "ingest-gateway"
    assert _route(ingress, "/v1/logs") == "ingest-gateway"
    assert _route(ingress, "/v2/enqueue") == "ingest-gateway"
    assert _route(ingress, "/v1/other") == "dashboard"
    assert _route(ingress, "/ws") == "ws-broadcaster"
    assert _route(ingress, "/") == "dashboard"
    assert _route(ingress, "/incidents/inc_1") == "dashboard"
    assert _route(ingress, "/apiary") == "dashboard", "a prefix matches whole path segments only"


def test_secrets_come_only_from_secret_references(helm_template: Render) -> None:
    docs = helm_template(*PRODUCTION)
    secret_names = {"MONGODB_URI", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "API_TOKENS", "KAFKA_BOOTSTRAP_SERVERS"}
    seen: set[str] = set()
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in _pod(doc)["containers"]:
            for env in container.get("env", []):
                if env["name"] in secret_names:
                    seen.add(env["name"])
                    assert "value" not in env, f"{doc['metadata']['name']}: {env['name']} must come from a Secret"
                    assert env["valueFrom"]["secretKeyRef"]["name"].startswith("incident-intelligence-")
    assert seen == secret_names
    assert not [d for d in docs if d["kind"] == "Secret"], "with existing Secrets the chart makes none"


def test_ai_keys_are_absent_without_a_secret_and_the_chart_keeps_the_mongodb_uri_in_a_secret(
    helm_template: Render,
) -> None:
    docs = helm_template(*KUBE)
    summarizer = _by_kind(docs, "Deployment")["summarizer"]
    env = {e["name"]: e for e in _pod(summarizer)["containers"][0]["env"]}
    assert "ANTHROPIC_API_KEY" not in env
    assert "OPENAI_API_KEY" not in env
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert secret["stringData"]["MONGODB_URI"] == "mongodb://mongodb:27017"
    assert env["MONGODB_URI"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]


def test_topics_are_created_by_a_hook_before_install_and_upgrade(helm_template: Render) -> None:
    (job,) = [d for d in helm_template(*PRODUCTION) if d["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert _pod(job)["containers"][0]["command"] == ["python", "-m", "incident_shared.admin", "create-topics"]


def test_the_service_monitor_scrapes_metrics_of_every_python_service(helm_template: Render) -> None:
    docs = helm_template(*EVERYTHING)
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    selector = monitor["spec"]["selector"]
    scraped = {
        name
        for name, svc in _by_kind(docs, "Service").items()
        if all(svc["metadata"]["labels"].get(k) == v for k, v in selector["matchLabels"].items())
        and name not in selector["matchExpressions"][0]["values"]
    }
    assert scraped == SERVICES - {"dashboard"}


def test_the_aggregator_mounts_the_correlation_config_the_repository_ships(helm_template: Render) -> None:
    chart_copy = (CHART / "files" / "correlation.toml").read_text()
    assert chart_copy == (REPO / "deploy" / "config" / "correlation.toml").read_text(), (
        "helm/incident-intelligence/files/correlation.toml must link to deploy/config/correlation.toml"
    )
    docs = helm_template(*KUBE)
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config["data"]["correlation.toml"].strip() == chart_copy.strip()
    aggregator = _by_kind(docs, "Deployment")["aggregator"]
    container = _pod(aggregator)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["CORRELATION_CONFIG"] == f"{mounts['config']}/correlation.toml"


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("ingestGateway.autoscalling.enabled=false", "autoscalling"),
        ("summarizer.ai.provider=gemini", "provider"),
        ("logging.level=VERBOSE", "level"),
    ],
)
def test_a_mistyped_or_unknown_value_is_refused(helm: str, setting: str, complaint: str) -> None:
    proc = subprocess.run(
        [helm, "template", "ii", str(CHART), *KUBE, "--set", setting],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0, f"{setting} was accepted"
    assert complaint in proc.stderr


def test_network_policies_open_the_gateway_to_the_cluster_and_close_the_rest(helm_template: Render) -> None:
    policies = _by_kind(helm_template(*PRODUCTION), "NetworkPolicy")
    assert set(policies) == SERVICES
    (gateway_rule,) = policies["ingest-gateway"]["spec"]["ingress"]
    assert "from" not in gateway_rule, "any service in the cluster may send events"
    for name in ["summarizer", "ws-broadcaster"]:
        (rule,) = policies[name]["spec"]["ingress"]
        pods = [
            p["podSelector"]["matchLabels"] for p in rule["from"] if "podSelector" in p and "namespaceSelector" not in p
        ]
        assert pods == [{"app.kubernetes.io/name": "ingest-gateway", "app.kubernetes.io/instance": "ii"}], (
            f"{name}: the gateway forwards to it"
        )
    (aggregator_rule,) = policies["aggregator"]["spec"]["ingress"]
    assert len(aggregator_rule["from"]) == 1, "only the monitoring stack talks to the aggregator"
    assert not _by_kind(helm_template(*KUBE), "NetworkPolicy"), "off by default"


def test_the_dashboard_finds_the_api_and_websocket_on_its_own_origin(helm_template: Render) -> None:
    dashboard = _by_kind(helm_template(*PRODUCTION), "Deployment")["dashboard"]
    env = {e["name"]: e["value"] for e in _pod(dashboard)["containers"][0]["env"]}
    assert env == {"VITE_API_URL": "/", "VITE_WS_URL": "/ws"}, "paths resolve against the ingress host"
