"""The compose stack cannot run here (no Docker engine), so check it fits the code."""

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

COMPOSE = Path(settings.BASE_DIR) / "docker-compose.yml"
SETTINGS_SOURCE = (Path(settings.BASE_DIR) / "traffickcam" / "settings.py").read_text()


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_stack_has_every_service_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "redis", "postgres"}
    for name in ("web", "worker", "redis", "postgres"):
        assert "healthcheck" in services[name], name
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")


def test_app_services_run_the_right_programs(compose):
    services = compose["services"]
    assert "gunicorn traffickcam.wsgi:application" in services["web"]["command"]
    assert "migrate" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A traffickcam worker")
    assert services["beat"]["command"].startswith("celery -A traffickcam beat")


def test_app_services_share_one_environment_that_settings_read(compose):
    services = compose["services"]
    envs = [services[name]["environment"] for name in ("web", "worker", "beat")]
    assert envs[0] == envs[1] == envs[2]
    for variable in envs[0]:
        assert re.search(rf'"{variable}"', SETTINGS_SOURCE), f"settings never read {variable}"
    assert envs[0]["DATABASE_URL"].startswith("postgres://")
    assert envs[0]["CELERY_BROKER_URL"].startswith("redis://redis:")


def test_no_secret_is_written_into_the_compose_file(compose):
    env = compose["services"]["web"]["environment"]
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert (
        "${POSTGRES_PASSWORD:?"
        in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    )


def test_media_volume_is_shared_by_web_and_worker(compose):
    services = compose["services"]
    assert services["web"]["volumes"] == services["worker"]["volumes"] == ["media:/data"]
    assert "media" in compose["volumes"]
    # A graph built by a worker container is where the web processes load it.
    assert services["web"]["environment"]["MATCHER_GRAPH_DIR"].startswith("/data/")


def test_health_endpoint_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
