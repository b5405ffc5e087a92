"""The cleanup after a socket is gone, the one way: the disconnect hooks in registration
order, then the registries. Run by the socket's own connection (connection.py) and, for a
web instance that died without running it, by the sweep (dead_instance_sweep.py)."""

from __future__ import annotations

import logging

from apps.realtime.event_registry import DISCONNECT_HOOKS, DisconnectHook, SocketSession
from apps.realtime.socket_registry import SocketRegistry

logger = logging.getLogger(__name__)


async def run_disconnect_cleanup(session: SocketSession, registry: SocketRegistry, *,
                                 instance_id: str | None,
                                 hooks: list[DisconnectHook] | None = None) -> bool:
    """Run every hook (a failing one is logged, the rest still run), then unregister the
    socket from its user and `instance_id`. True when all of it succeeded."""
    ok = True
    for hook in DISCONNECT_HOOKS if hooks is None else hooks:
        try:
            await hook(session)
        except Exception:
            ok = False
            logger.exception("disconnect hook %r failed for socket %s", hook, session.sid)
    try:
        await registry.remove(session.user.get("id"), session.sid, instance_id=instance_id)
    except Exception as exc:
        ok = False
        logger.warning("could not unregister socket %s: %r", session.sid, exc)
    return ok
