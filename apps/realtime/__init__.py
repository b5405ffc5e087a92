"""Socket.IO over Django Channels: the wire layer every domain app builds on.

For domain apps (rooms, seats, media, chat, gifts, integrations):
- `event_registry` `@event(name, schema=, ack=AckStyle.*, invalid_ack=, invalid_message=, rate_limit=)`,
               `ClientError(text)`, `EventContext`, `SocketSession`, `@on_disconnect`,
               `@on_channel_message(type)` for custom channel-layer messages.
- `schema`     `Payload` base model and zod-like field types (`JsInt`, `JsNumber`, `JsString`,
               `JsBool`, `Utf16Len`, `NonEmptyStr`).
- `emit`       `await emit(Room(id, exclude_sid=...) | Socket(sid) | User(id) | Everyone(), event, payload)`.
- `loop_services` `get_redis()`: the loop's redis.asyncio client (decode_responses=True, DB REDIS_DB).
- `flylive.metrics`  every Prometheus series of the contract.

Inside: `consumer` -> `connection` (Engine.IO/Socket.IO state, heartbeat, writer) ->
`auth` (+ `tokens`, `claims`) -> `event_runner` (validation, acks, rate limit via
`ratelimit`, metrics, logs); `codec` frames; `redis_client` builds the Redis client;
`socket_registry` is `user:{id}:sockets` and the per-instance socket records;
`socket_cleanup` is the one disconnect cleanup; `web_instance` (heartbeat in
`web:instances`) and `dead_instance_sweep` clean up after a web process that died.
"""
