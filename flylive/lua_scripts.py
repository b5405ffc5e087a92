"""The text of the project's Lua scripts, read from disk once per process.

Each app keeps its scripts in its own `lua/` folder and registers them with redis-py
(`redis.register_script`, called by SHA). Objects that register scripts are built often
(a lock per auto-close pass and per gift flush), so the files are read here, once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def lua_text(lua_dir: Path, name: str, *, prelude: str | None = None) -> str:
    """`lua_dir/name`, after `lua_dir/prelude` when given (shared local functions)."""
    body = (lua_dir / name).read_text()
    return body if prelude is None else (lua_dir / prelude).read_text() + "\n" + body
