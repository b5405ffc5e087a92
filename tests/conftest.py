"""Fixtures of the configuration tests in this folder."""

from __future__ import annotations

import pytest

from flylive.config import AppConfig
from tests.support.processes import repo_root
from tests.test_config import REQUIRED


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with only the required variables, in a folder with no `.env` file."""
    for name in list(AppConfig.model_fields):
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(repo_root() / "tests")  # no .env file here
    return monkeypatch
