"""The text of the project's Lua scripts, read from disk once per process.

Each app keeps its scripts in its own `lua/` folder and registers them with redis-py
(`redis.register_script`, called by SHA). Objects that register scripts are built often
(a lock per auto-close pass and per gift flush), so the files are read here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from redis.commands.core import AsyncScript

from flylive.redis_types import AsyncPipeline, AsyncRedis

# Scripts shared by several apps (flylive/lua/).
SHARED_LUA_DIR = Path(__file__).resolve().parent / "lua"


@cache
def lua_text(lua_dir: Path, name: str, *, prelude: str | None = None) -> str:
    """`lua_dir/name`, after `lua_dir/prelude` when given (shared local functions)."""
    body = (lua_dir / name).read_text()
    return body if prelude is None else (lua_dir / prelude).read_text() + "\n" + body


def queue_script(pipe: AsyncPipeline, script: AsyncScript, keys: Sequence[str],
                 args: Sequence[str | int | float]) -> None:
    """Queue `script` in a pipeline as EVAL with its text, not EVALSHA.

    A pipeline cannot recover from NOSCRIPT (after a Redis restart or SCRIPT FLUSH) once its
    other commands ran, redis-py's own remedy (SCRIPT EXISTS before each execute) costs a
    round trip every time, and a Cluster pipeline has none. Redis caches the compiled script
    by its SHA, so an EVAL costs only the text on the wire.
    """
    text = script.script if isinstance(script.script, str) else bytes(script.script).decode()
    pipe.eval(text, len(keys), *keys, *args)


def zrem_if_score_script(redis: AsyncRedis) -> AsyncScript:
    """`zrem_if_score.lua`: drop an index entry only while its score is the one read."""
    return redis.register_script(lua_text(SHARED_LUA_DIR, "zrem_if_score.lua"))
