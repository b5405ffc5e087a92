"""The worker build fails early with a message that says what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.processes import repo_root

RECIPE = repo_root() / "tools" / "mediasoup-worker"


def _run_build(recipe: Path, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(recipe / "build.sh"), "--print-dir"],
        env={**os.environ, "FLYLIVE_CACHE_DIR": str(cache), **env},
        capture_output=True, text=True, timeout=300,
    )


def test_missing_system_libraries_are_named_with_the_apt_command(tmp_path: Path) -> None:
    empty = tmp_path / "no-pkgconfig"
    empty.mkdir()
    result = _run_build(RECIPE, tmp_path / "cache", PKG_CONFIG_LIBDIR=str(empty), PKG_CONFIG_PATH="")
    assert result.returncode == 1
    assert "missing build prerequisites" in result.stderr
    for library in ("libuv", "openssl", "libsrtp2"):
        assert f"pkg-config:{library}" in result.stderr
    assert "apt-get install -y" in result.stderr
    assert result.stdout == ""


def test_a_tarball_checksum_mismatch_stops_the_build(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    shutil.copytree(RECIPE, recipe)
    script = recipe / "build.sh"
    text = script.read_text()
    real = "8ff08878ec3c859d4404b35da1785740f1b75ce5127affd488938db3006dcea4"
    assert real in text
    script.write_text(text.replace(real, "0" * 64))
    result = _run_build(recipe, tmp_path / "cache")
    assert result.returncode == 1
    assert "checksum mismatch for mediasoup-3.27.1.tgz" in result.stderr
    assert not (tmp_path / "cache" / "mediasoup-worker").exists() or not any(
        (tmp_path / "cache" / "mediasoup-worker").iterdir()
    )
