"""The real socket.io-client 4 (Node) against the server: handshake, acks, `error` event, broadcast."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from tests.support.processes import repo_root
from tests.support.server import TEST_ORIGIN, LiveServer, make_token, user_claims

JS_DIR = repo_root() / "tests" / "js"


async def run_node(*args: str, within: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=JS_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), within)
    return proc.returncode or 0, stdout.decode(), stderr.decode()


@pytest.fixture(scope="module")
def node() -> str:
    binary = shutil.which("node")
    if binary is None:
        pytest.fail("node is not installed (bin/setup installs nodejs)")
    return binary


async def ensure_node_modules() -> None:
    if (JS_DIR / "node_modules" / "socket.io-client").exists():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed (bin/setup installs it)"
    code, out, err = await run_node(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", within=300)
    assert code == 0, out + err


async def test_socket_io_client_4_talks_to_the_server(node: str, any_server: LiveServer) -> None:
    await ensure_node_modules()
    config = {"url": any_server.url, "token": make_token(user_claims(6001)), "origin": TEST_ORIGIN}
    code, out, err = await run_node(node, "sio_client.mjs", json.dumps(config))
    assert code == 0, err
    result = json.loads(out)
    assert result["connectError"] == "Invalid credentials"
    assert result["sid"]
    assert result["echo"] == {
        "success": True,
        "data": {"text": "héllo 😀", "data": {"list": [1, 2.5, None], "flag": True}},
    }
    assert result["invalid"] == {"success": False, "error": "Invalid payload"}
    assert result["plain"] == {"value": 7}
    assert result["clientError"] == {"success": False, "error": "Seat is locked"}
    assert result["errorEvent"] == [
        {
            "message": "Invalid shout",
            "errors": {
                "_errors": [],
                "content": {"_errors": ["String must contain at least 1 character(s)"]},
            },
        }
    ]
    assert result["broadcast"] == [{"userId": 1}]
