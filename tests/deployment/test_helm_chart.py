"""The Helm chart, rendered and linted without a cluster, every manifest schema-checked."""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "deployment" / "k8s-chart"
KUBERNETES = "1.31.0"
VALUE_SETS = {
    "defaults": {"secret": {"values": {"DATABASE_URL": "postgresql://u:p@db/j", "SECRET_KEY": "s" * 40}}},
    "existing-secret": {"existingSecret": "jounce-secrets", "image": {"tag": "abc123"}},
    "quick-start": {
        "existingSecret": "jounce-secrets",
        "redis": {"enabled": True},
        "ingress": {"enabled": False},
        "web": {"autoscaling": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
        "worker": {"autoscaling": {"enabled": False}},
    },
}


def render(values: dict) -> list[dict]:
    manifests = helm.Chart.load(CHART).render(values, name="jounce", namespace="jounce")
    return [
        document
        for path, text in manifests.items()
        if path.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


@pytest.fixture(params=list(VALUE_SETS), scope="module")
def manifests(request) -> list[dict]:
    return render(VALUE_SETS[request.param])


def by_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_specs(manifests: list[dict]) -> dict[str, dict]:
    return {
        m["metadata"]["name"]: m["spec"]["template"]["spec"] for m in manifests if m["kind"] in ("Deployment", "Job")
    }


def test_the_chart_lints_clean():
    result = helm.lint(CHART)
    assert not result.get("errors"), result


def test_every_manifest_is_valid_kubernetes_in_strict_mode(manifests):
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_there_is_exactly_one_beat_and_it_is_recreated_not_rolled(manifests):
    beat = by_kind(manifests, "Deployment")["jounce-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(
        h["spec"]["scaleTargetRef"]["name"] == "jounce-beat"
        for h in by_kind(manifests, "HorizontalPodAutoscaler").values()
    )


def test_every_container_has_probes_resources_and_no_root(manifests):
    for name, spec in pod_specs(manifests).items():
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, name
        for container in spec["containers"] + spec.get("initContainers", []):
            assert container["resources"]["limits"] and container["resources"]["requests"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        if not name.endswith("migrations"):  # a Job runs to completion: it has nothing to probe
            for container in spec["containers"]:
                assert "livenessProbe" in container and "readinessProbe" in container, (name, container["name"])


def test_web_probes_readiness_on_ready_and_liveness_on_health(manifests):
    web = pod_specs(manifests)["jounce-web"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/"


SECRET_NAMES = {
    "DATABASE_URL",
    "SECRET_KEY",
    "CACHE_REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "API_KEY",
}


def test_secrets_reach_containers_only_through_secret_references(manifests):
    for name, spec in pod_specs(manifests).items():
        if name == "jounce-redis":  # the quick-start Redis takes no application settings
            continue
        for container in spec["containers"] + spec.get("initContainers", []):
            env = {e["name"]: e for e in container.get("env", [])}
            for secret in SECRET_NAMES:
                assert "value" not in env.get(secret, {}), (name, secret)
                assert "secretKeyRef" in env[secret]["valueFrom"], (name, secret)
    for config_map in by_kind(manifests, "ConfigMap").values():
        assert not SECRET_NAMES & set(config_map["data"])


def test_migrations_run_as_a_hook_job_that_web_and_worker_wait_for(manifests):
    job = by_kind(manifests, "Job")["jounce-migrations"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MIGRATE"] == "true"
    for name in ("jounce-web", "jounce-worker"):
        init = pod_specs(manifests)[name]["initContainers"][0]
        assert {"name": "WAIT_FOR_MIGRATIONS", "value": "true"} in init["env"]


def test_pods_roll_when_the_configuration_changes(manifests):
    for name in ("jounce-web", "jounce-worker", "jounce-beat"):
        annotations = by_kind(manifests, "Deployment")[name]["spec"]["template"]["metadata"]["annotations"]
        assert len(annotations["checksum/config"]) == 64


def test_the_default_release_scales_web_and_worker_and_protects_web():
    manifests = render(VALUE_SETS["defaults"])
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(manifests, "HorizontalPodAutoscaler").values()}
    assert targets == {"jounce-web", "jounce-worker"}
    assert "jounce-web" in by_kind(manifests, "PodDisruptionBudget")
    ingress = by_kind(manifests, "Ingress")["jounce"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] == "/ready"
    assert by_kind(manifests, "ServiceAccount") and by_kind(manifests, "Secret")


def test_an_existing_secret_replaces_the_charts_own():
    manifests = render(VALUE_SETS["existing-secret"])
    assert by_kind(manifests, "Secret") == {}
    web = pod_specs(manifests)["jounce-web"]["containers"][0]
    assert web["image"].endswith(":abc123")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in web["env"] if "valueFrom" in e}
    assert refs == {"jounce-secrets"}


def test_the_quick_start_runs_redis_in_the_chart():
    manifests = render(VALUE_SETS["quick-start"])
    assert "jounce-redis" in by_kind(manifests, "Deployment") and "jounce-redis" in by_kind(manifests, "Service")
    assert by_kind(manifests, "Ingress") == {} and by_kind(manifests, "HorizontalPodAutoscaler") == {}
    assert by_kind(manifests, "Deployment")["jounce-web"]["spec"]["replicas"] == 2


def test_web_and_worker_pods_are_annotated_for_prometheus_scraping():
    deployments = by_kind(render(VALUE_SETS["defaults"]), "Deployment")
    web = deployments["jounce-web"]["spec"]["template"]["metadata"]["annotations"]
    assert (web["prometheus.io/scrape"], web["prometheus.io/path"], web["prometheus.io/port"]) == (
        "true",
        "/-/metrics",
        "5000",
    )
    worker = deployments["jounce-worker"]["spec"]["template"]
    assert worker["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    env = {e["name"]: e.get("value") for e in worker["spec"]["containers"][0]["env"]}
    assert env["WORKER_METRICS_PORT"] == "9100"


def test_measured_runs_have_workers_of_their_own_on_their_queue():
    deployments = by_kind(render(VALUE_SETS["defaults"]), "Deployment")
    commands = {
        name: deployments[name]["spec"]["template"]["spec"]["containers"][0]["command"]
        for name in ("jounce-worker", "jounce-benchmark-worker")
    }
    queue = {name: command[command.index("-Q") + 1] for name, command in commands.items()}
    assert queue == {"jounce-worker": "jounce", "jounce-benchmark-worker": "jounce-benchmarks"}


def test_the_ingress_never_routes_the_metrics_and_they_take_a_token_from_the_secret():
    manifests = render(VALUE_SETS["defaults"])
    ingress = next(iter(by_kind(manifests, "Ingress").values()))
    first = ingress["spec"]["rules"][0]["http"]["paths"][0]
    assert (first["path"], first["backend"]["service"]["name"]) == ("/-/", "internal-paths")
    action = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.internal-paths"]
    assert '"statusCode":"404"' in action
    web = by_kind(manifests, "Deployment")["jounce-web"]["spec"]["template"]["spec"]["containers"][0]
    token = next(e for e in web["env"] if e["name"] == "METRICS_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["optional"] is True


def test_the_in_chart_redis_has_bounded_memory_and_evicts_only_expiring_keys():
    redis = by_kind(render(VALUE_SETS["quick-start"]), "Deployment")["jounce-redis"]
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory") + 1] == "200mb"
    assert args[args.index("--maxmemory-policy") + 1] == "volatile-lru"
