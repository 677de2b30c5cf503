"""docker-compose.yaml and the Dockerfile, checked without Docker: the services a CeleryExecutor deployment
needs, one image and one environment for every Airflow service, the init creating the pools the DAGs use,
secrets required (never defaulted), settings the code reads and Airflow options that exist.
When a compose binary is installed, it validates the file too."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ledgerbridge import settings
from ledgerbridge.cli import SANDBOXES
from ledgerbridge_airflow.cli import wanted_pools

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
COMPOSE_TEXT = COMPOSE_FILE.read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)  # merge keys (<<) resolved: each service as compose sees it
SERVICES = COMPOSE["services"]
ENV = COMPOSE["x-airflow-env"]
DEMO_ENV = ROOT / "docker" / "demo.env"

AIRFLOW_SERVICES = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker")
LONG_RUNNING = ("postgres", "redis", *AIRFLOW_SERVICES[1:])
REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY",
                    "AIRFLOW_ADMIN_PASSWORD", "LEDGERBRIDGE_TOKEN_KEY")


def _command(service: str) -> str:
    command = SERVICES[service].get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def _env_lines(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def test_every_service_of_a_celery_deployment_is_there():
    for service in ("postgres", "redis", *AIRFLOW_SERVICES):
        assert service in SERVICES, f"docker-compose.yaml has no service {service}"
        assert "profiles" not in SERVICES[service], f"{service} must start without a profile"
    assert _command("airflow-api-server") == "airflow api-server"
    assert _command("airflow-scheduler") == "airflow scheduler"
    assert _command("airflow-dag-processor") == "airflow dag-processor"
    assert _command("airflow-triggerer") == "airflow triggerer"
    assert _command("airflow-worker") == "airflow celery worker"


def test_two_celery_workers_that_can_be_scaled():
    worker = SERVICES["airflow-worker"]
    assert worker["deploy"]["replicas"] >= 2
    # Replicas of one service: a fixed name or host port would make a second one clash.
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker


def test_every_airflow_service_runs_the_same_image_with_the_same_environment():
    images = {SERVICES[name].get("image") for name in AIRFLOW_SERVICES}
    assert len(images) == 1 and None not in images
    assert all(SERVICES[name].get("build") == "." for name in AIRFLOW_SERVICES)  # built from this repository
    for name in AIRFLOW_SERVICES:
        environment = SERVICES[name]["environment"]
        differing = {key for key, value in ENV.items() if environment.get(key) != value}
        assert not differing, f"{name} differs from x-airflow-env on {sorted(differing)}"


def test_celery_executor_with_redis_broker_postgres_result_backend_and_the_execution_api():
    assert ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert ENV["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    # Drivers spelt out: SQLAlchemy 2.1 takes a bare postgresql:// for psycopg 3, which is not installed.
    assert ENV["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    assert ENV["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert re.fullmatch(r"http://airflow-api-server:8080/execution/", ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert SERVICES["airflow-api-server"]["ports"] == ["${AIRFLOW_API_PORT:-8080}:8080"]


def test_the_ledger_is_a_postgresql_database_that_the_postgres_service_creates():
    url = ENV["LEDGERBRIDGE_DB_URL"]
    assert url.startswith("postgresql+psycopg2://") and url.endswith("@postgres:5432/ledgerbridge")
    created = (ROOT / "docker" / "init-ledger-db.sql").read_text()
    assert "CREATE DATABASE ledgerbridge" in created
    assert "./docker/init-ledger-db.sql:/docker-entrypoint-initdb.d/init-ledger-db.sql:ro" in SERVICES["postgres"]["volumes"]


def test_every_long_running_service_has_a_healthcheck_of_its_own_kind():
    for name in LONG_RUNNING:
        assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    tests = {name: " ".join(SERVICES[name]["healthcheck"]["test"]) for name in LONG_RUNNING}
    assert "/api/v2/monitor/health" in tests["airflow-api-server"]
    assert ENV["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True" and ":8974/health" in tests["airflow-scheduler"]
    assert "airflow jobs check --job-type DagProcessorJob" in tests["airflow-dag-processor"]
    assert "airflow jobs check --job-type TriggererJob" in tests["airflow-triggerer"]
    assert "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping" in tests["airflow-worker"]


def test_the_airflow_services_wait_for_a_successful_init():
    for name in AIRFLOW_SERVICES[1:]:
        assert SERVICES[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert SERVICES[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_init_migrates_both_databases_then_creates_pools_connections_and_the_admin():
    steps = [line.strip() for line in _command("airflow-init").splitlines() if line.strip()]
    order = ["airflow db migrate", "ledgerbridge db upgrade", "ledgerbridge-airflow setup",
             "| ledgerbridge-airflow set-connections", "| ledgerbridge-airflow set-password admin"]
    positions = [next((i for i, step in enumerate(steps) if wanted in step), None) for wanted in order]
    assert None not in positions, f"the init misses one of {order}: {steps}"
    assert positions == sorted(positions), "pools and connections need Airflow's migrated database"
    assert SERVICES["airflow-init"]["command"][:2] == ["bash", "-ec"]  # a failing step fails the init


def test_the_pools_the_init_creates_are_every_pool_the_dags_use(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    # The registry every service mounts (its default: the repository's).
    mount = next(volume for volume in SERVICES["airflow-scheduler"]["volumes"]
                 if volume.endswith(f":{ENV['LEDGERBRIDGE_REGISTRY']}:ro"))
    registry = ROOT / re.fullmatch(r"\$\{LEDGERBRIDGE_REGISTRY_FILE:-\./([^}]+)\}:.+", mount)[1]
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    used = {task.pool for dag in bag.dags.values() for task in dag.tasks} - {"default_pool"}
    created = {pool.name for pool in wanted_pools()}
    assert used, "no DAG task names a pool"
    assert used <= created, f"pools the DAGs use that `ledgerbridge-airflow setup` does not create: {used - created}"
    # The repository's registry has QuickBooks Online, QuickBooks Desktop and Xero entities.
    assert used >= {"ledgerbridge_quickbooks_online", "ledgerbridge_quickbooks_desktop", "ledgerbridge_xero"}


def test_ledgerbridge_settings_in_the_environment_are_the_ones_the_code_reads():
    source = Path(settings.__file__).read_text()
    names = {key for key in ENV if key.startswith("LEDGERBRIDGE_")}
    assert names >= {"LEDGERBRIDGE_ENVIRONMENT", "LEDGERBRIDGE_TOKEN_KEY", "LEDGERBRIDGE_DB_URL",
                     "LEDGERBRIDGE_REGISTRY", "LEDGERBRIDGE_DATA_DIR"}
    for name in names:
        assert f'"{name}"' in source, f"{name} is set in docker-compose.yaml but settings.py never reads it"
    assert ENV["LEDGERBRIDGE_ENVIRONMENT"] == "production"
    # What the init alone is given, it uses.
    for name in set(SERVICES["airflow-init"]["environment"]) - set(ENV):
        assert f"${{{name}}}" in _command("airflow-init"), f"the init is given {name} but never reads it"


def test_airflow_options_in_the_environment_exist_in_airflow_and_its_providers():
    from airflow.configuration import conf

    described = conf.configuration_description  # the providers' too: the celery provider's [celery]
    for key in ENV:
        if not key.startswith("AIRFLOW__"):
            continue
        section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
        assert option in described.get(section, {}).get("options", {}), f"{key}: Airflow has no [{section}] {option}"


def test_every_secret_is_required_from_the_environment_never_defaulted():
    for name in REQUIRED_SECRETS:
        assert f"${{{name}:?" in COMPOSE_TEXT, f"{name} must be required (${{{name}:?...}})"
        assert not re.search(rf"\$\{{{name}:-", COMPOSE_TEXT), f"{name} has a default in docker-compose.yaml"
    demo = _env_lines(DEMO_ENV)
    example = _env_lines(ROOT / "docker" / "production.env.example")
    for name in REQUIRED_SECRETS:
        assert demo.get(name), f"docker/demo.env gives no {name}"
        assert name in example and example[name] == "", f"production.env.example must name {name}, empty"


def test_the_sandboxes_run_only_under_the_demo_profile():
    sandboxes = {name: service for name, service in SERVICES.items()
                 if _command(name).startswith("ledgerbridge sandbox ")}
    assert {_command(name).split()[2] for name in sandboxes} == set(SANDBOXES)  # every sandbox of the CLI
    for name, service in sandboxes.items():
        assert service.get("profiles") == ["demo"], f"{name} would start in production"
        if _command(name).split()[2] == "desktop-agent":
            continue  # polls the drop's folder: no server
        assert "--host 0.0.0.0" in _command(name)  # reachable from the workers' containers
        assert service.get("healthcheck", {}).get("test")


def test_the_dockerfile_installs_the_pinned_requirements_then_the_project_without_dependencies():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    requirements = lines.index("RUN pip install -r requirements.txt")
    assert lines.index("COPY requirements.txt ./") < requirements
    project = next(i for i, line in enumerate(lines) if line.startswith("RUN pip install --no-deps"))
    assert requirements < project and lines.index("COPY include include") < project
    pinned = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert pinned and all("==" in line for line in pinned)
    assert "celery==5.6.3" in pinned  # 5.7 breaks the celery provider's import (pyproject.toml)


def _compose_binary() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


@pytest.mark.skipif(_compose_binary() is None, reason="neither docker-compose nor the docker compose plugin here")
def test_compose_accepts_the_file_with_the_demo_env_and_refuses_a_missing_token_key(tmp_path):
    compose = [*_compose_binary(), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    valid = subprocess.run([*compose, "--env-file", str(DEMO_ENV), "--profile", "demo", "config", "-q"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr

    without_key = tmp_path / "no-key.env"
    without_key.write_text("".join(f"{name}={value}\n" for name, value in _env_lines(DEMO_ENV).items()
                                   if name != "LEDGERBRIDGE_TOKEN_KEY"))
    refused = subprocess.run([*compose, "--env-file", str(without_key), "config", "-q"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode != 0
    assert "set LEDGERBRIDGE_TOKEN_KEY, required in production" in refused.stderr


def test_the_docs_list_every_pool_setup_creates_with_its_slots():
    for doc in ("docs/deployment.md", "docs/operations.md"):
        text = (ROOT / doc).read_text()
        for pool in wanted_pools():
            assert re.search(rf"\| `{pool.name}` \| {pool.slots} \|", text), f"{doc} does not list {pool.name}"
