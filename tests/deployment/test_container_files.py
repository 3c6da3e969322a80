"""The Dockerfile, the compose file, the pipeline and the entrypoint, verified offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, inspect, text

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, **kwargs)


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = run(str(BIN / "hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def stages() -> list[list[str]]:
    """The Dockerfile's instructions, a list per stage."""
    found: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            found.append([])
        if found and line and not line.startswith("#"):
            found[-1].append(line)
    return found


def test_the_image_is_multi_stage_slim_non_root_with_a_healthcheck_and_gunicorn():
    builder, runtime = stages()
    assert builder[0].startswith("FROM python:3.12-slim") and runtime[0].startswith("FROM python:3.12-slim")
    assert any("requirements/prod.txt" in line for line in builder)
    user = [line for line in runtime if line.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") and "/health/" in line for line in runtime)
    assert any(line.startswith("CMD") and "gunicorn" in line for line in runtime)
    assert not any(tool in " ".join(runtime) for tool in ("apt-get", "gcc", "build-essential"))


def test_the_compose_file_matches_the_compose_specification():
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_stack_has_every_role_health_checks_and_ordering():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "proxy", "worker", "benchmark-worker", "beat", "migrate", "db", "redis"} <= set(services)
    assert "ports" not in services["web"]  # reached through the buffering proxy only
    assert services["proxy"]["ports"] == ["${JOUNCE_BIND:-127.0.0.1}:${JOUNCE_PORT:-5001}:8080"]
    queues = {name: services[name]["command"][services[name]["command"].index("-Q") + 1]
              for name in ("worker", "benchmark-worker")}  # fmt: skip
    assert queues == {"worker": "jounce", "benchmark-worker": "jounce-benchmarks"}
    redis = services["redis"]["command"]
    assert redis[redis.index("--maxmemory-policy") + 1] == "volatile-lru" and "--maxmemory" in redis
    assert services["db"]["image"] == "postgres:16" and services["redis"]["image"] == "redis:7"
    for name in ("db", "redis", "worker", "beat"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "benchmark-worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert services[name]["env_file"] == ".env.dev"
    assert set(compose["volumes"]) == {"postgres-data", "redis-data"}
    assert (ROOT / ".env.dev.example").exists()
    assert ".env.dev" in (ROOT / ".gitignore").read_text().split()


def test_the_pipeline_matches_gitlab_ci_and_deploys_only_from_main():
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    pipeline = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    assert pipeline["stages"] == ["lint", "test", "build", "deploy"]
    assert "make test" in pipeline["test"]["script"]
    assert {s["name"].split(":")[0] for s in pipeline["test"]["services"]} == {"postgres", "redis"}
    for job in ("build", "deploy"):
        assert pipeline[job]["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"'}]
    deploy = " ".join(pipeline["deploy"]["script"])
    assert "helm upgrade --install" in deploy and "--atomic" in deploy and "$CI_COMMIT_SHA" in deploy
    assert "$CI_COMMIT_SHA" in " ".join(pipeline["build"]["script"])


def test_the_eks_cluster_definition_is_an_eksctl_cluster_config():
    config = yaml.safe_load((ROOT / "deployment/eks/cluster.yaml").read_text())
    assert (config["apiVersion"], config["kind"]) == ("eksctl.io/v1alpha5", "ClusterConfig")
    assert config["iam"]["withOIDC"] is True and config["managedNodeGroups"]


@pytest.fixture
def entrypoint_env(make_database):
    url = make_database()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CACHE_", "CELERY_"))}
    return url, {**env, "DATABASE_URL": url, "FLASK_APP": "app", "LOG_LEVEL": "warning",
                 "PATH": f"{BIN}:{env['PATH']}"}  # fmt: skip


def test_the_entrypoint_migrates_seeds_and_runs_the_command(entrypoint_env):
    url, env = entrypoint_env
    result = run("deployment/docker-entrypoint.sh", "echo", "command ran",
                 env={**env, "MIGRATE": "true", "SEED": "true"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("command ran")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    assert "simulation_runs" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM llms")).scalar() == 12
    engine.dispose()
    waited = run("deployment/docker-entrypoint.sh", "true", env={**env, "WAIT_FOR_MIGRATIONS": "true"})
    assert waited.returncode == 0, waited.stderr


def test_the_entrypoint_gives_up_waiting_for_migrations_that_never_come(entrypoint_env):
    _, env = entrypoint_env
    result = run("deployment/docker-entrypoint.sh", "echo", "never",
                 env={**env, "WAIT_FOR_MIGRATIONS": "true", "MIGRATIONS_TIMEOUT": "1"}, timeout=60)  # fmt: skip
    assert result.returncode == 1 and "never" not in result.stdout
    assert "is not at migration" in result.stderr
