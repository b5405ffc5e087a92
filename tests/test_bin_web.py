"""bin/web refuses what it cannot run with a clear message and exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.processes import repo_root


def run_web(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """bin/web from a checkout with no .venv (a copy of the script alone)."""
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "web"
    shutil.copy(repo_root() / "bin" / "web", script)
    return subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env})


def test_granian_not_installed_is_named_with_the_version_to_install(tmp_path: Path) -> None:
    result = run_web(tmp_path, WEB_SERVER="granian")
    assert result.returncode == 2
    assert "granian is not installed (pip install granian==2.8.9)" in result.stderr


def test_an_unknown_server_is_refused(tmp_path: Path) -> None:
    result = run_web(tmp_path, WEB_SERVER="nginx")
    assert result.returncode == 2
    assert "WEB_SERVER must be uvicorn, granian or daphne, not 'nginx'" in result.stderr


def test_the_granian_version_it_names_is_the_one_pinned() -> None:
    pinned = next(line for line in (repo_root() / "requirements" / "dev.txt").read_text().splitlines()
                  if line.startswith("granian=="))
    script = (repo_root() / "bin" / "web").read_text()
    assert script.count("granian==") == script.count(pinned) > 0
