"""ASGI entry point (daphne or uvicorn): `flylive.asgi:application`.

- websocket `/socket.io/` -> the Socket.IO consumer (apps/realtime). The Origin
  check is the handshake's (contract 1.2, 11a): no AllowedHostsOriginValidator, so
  a foreign Origin gets `connect_error: Origin not allowed`, not a transport error.
- http `/socket.io/` -> 400 (only the websocket transport is served).
- any other http -> Django (health, metrics, admin, API).
"""

from __future__ import annotations

import gc
import os
from typing import Any

from flylive.config import default_settings_module, get_config
from flylive.redis_cluster import require_redis_topology

os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings_module())  # from NODE_ENV

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()  # sets Django up before anything imports models

require_redis_topology(get_config())  # a Sentinel or Cluster that does not answer stops start-up

from channels.routing import ProtocolTypeRouter  # noqa: E402

from apps.realtime.connection import ASGIReceive, ASGISend  # noqa: E402
from apps.realtime.routing import (  # noqa: E402
    install_daphne_shutdown_hook,
    is_socketio_path,
    lifespan_application,
    polling_refused,
    websocket_application,
)


async def http_application(scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
    if is_socketio_path(scope):
        await polling_refused(scope, receive, send)
    else:
        await django_application(scope, receive, send)


install_daphne_shutdown_hook()

application = ProtocolTypeRouter({
    "http": http_application,
    "websocket": websocket_application,
    "lifespan": lifespan_application,
})

# What is loaded by now (Django, the apps and their libraries, about 150,000 objects) lives as
# long as the process. Frozen, it is left out of every full garbage collection, which otherwise
# walks it each time (48 ms per collection on an idle process; full collections of 120 to 490 ms
# were seen with 500 sockets under load).
gc.freeze()
