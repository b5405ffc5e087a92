"""The installed FlatBuffers bindings belong to the worker binary the library runs."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from FBS import _build
from FBS.Notification.Event import Event
from FBS.Request.Method import Method

from apps.media.mediasoup.worker_binary import resolve_worker_binary
from tests.support.processes import repo_root

RECIPE_DIR = repo_root() / "tools" / "mediasoup-worker"


def _build_script_value(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)", (RECIPE_DIR / "build.sh").read_text(), re.MULTILINE)
    assert match is not None, f"{name} not found in build.sh"
    return match.group(1)


def _recipe_hash() -> str:
    """The same digest build.sh computes (version, tarball, revision, pinned tools, shims, patches)."""
    listing = subprocess.run(
        "find build-requirements.txt shims patches -type f -print0 | sort -z | xargs -0 sha256sum",
        shell=True, cwd=RECIPE_DIR, check=True, capture_output=True, text=True,
    ).stdout
    head = (f"{_build_script_value('MS_VERSION')} {_build_script_value('MS_TGZ_SHA256')} "
            f"{_build_script_value('COMPILE_RECIPE_REV')}\n")
    return hashlib.sha256((head + listing).encode()).hexdigest()[:12]


def _enum_values(fbs: Path, enum: str) -> dict[str, int]:
    """An .fbs enum's names and values (implicit values count up from the previous one)."""
    text = re.sub(r"//[^\n]*", "", fbs.read_text())
    body = re.search(rf"enum {enum}\s*:\s*\w+\s*\{{(.*?)\}}", text, re.DOTALL)
    assert body is not None, f"enum {enum} not in {fbs}"
    values: dict[str, int] = {}
    next_value = 0
    for item in filter(None, (part.strip() for part in body.group(1).split(","))):
        name, _, explicit = (piece.strip() for piece in item.partition("="))
        next_value = int(explicit) if explicit else next_value
        values[name] = next_value
        next_value += 1
    return values


def test_bindings_are_for_the_pinned_mediasoup_version() -> None:
    assert _build.MEDIASOUP_VERSION == _build_script_value("MS_VERSION") == "3.27.1"


def test_bindings_come_from_the_current_recipe() -> None:
    # A changed shim or patch means a new worker; bin/setup rebuilds it and reinstalls the bindings.
    assert _recipe_hash() == _build.RECIPE_HASH, "stale worker build: run bin/setup"


def test_bindings_and_worker_share_one_cache_entry() -> None:
    entry = Path(_build.WORKER_BIN).parent.parent
    assert entry.name == f"{_build.MEDIASOUP_VERSION}-{_build.RECIPE_HASH}"
    assert Path(_build.WORKER_BIN).is_file()
    assert resolve_worker_binary({}) == Path(_build.WORKER_BIN)


def test_bindings_know_every_request_and_notification_of_the_worker_schema() -> None:
    fbs_dir = Path(_build.WORKER_BIN).parent.parent / "fbs"
    for fbs, enum, generated in (("request.fbs", "Method", Method), ("notification.fbs", "Event", Event)):
        schema = _enum_values(fbs_dir / fbs, enum)
        assert len(schema) > 10
        assert {name: getattr(generated, name, None) for name in schema} == schema
