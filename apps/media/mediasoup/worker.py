"""Worker: one mediasoup-worker process, its channel, its routers and WebRtcServers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Sequence
from typing import Any, Literal, TypedDict, cast

from FBS.Notification.Event import Event
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.Transport.ListenInfo import ListenInfoT
from FBS.Worker.CreateRouterRequest import CreateRouterRequestT
from FBS.Worker.CreateWebRtcServerRequest import CreateWebRtcServerRequestT
from FBS.Worker.UpdateSettingsRequest import UpdateSettingsRequestT

from . import ortc
from .channel import DEFAULT_REQUEST_TIMEOUT, Channel, Packable
from .errors import InvalidStateError, WorkerDiedError, WorkerSpawnError
from .events import EventEmitter
from .fbs_codec import text_list
from .listen_info import ListenInfo, listen_info_to_fbs
from .remote_object import AppData
from .router import Router
from .rtp_types import RtpCodecCapability
from .webrtc_server import WebRtcServer
from .worker_binary import mediasoup_version, resolve_worker_binary
from .worker_process import ExitStatus, WorkerProcess, spawn_worker_process

logger = logging.getLogger(__name__)

WorkerLogLevel = Literal["debug", "warn", "error", "none"]
WorkerLogTag = Literal[
    "info", "ice", "dtls", "rtp", "srtp", "rtcp", "rtx", "bwe", "score", "simulcast", "svc", "sctp", "message"
]
LOG_LEVELS: frozenset[str] = frozenset({"debug", "warn", "error", "none"})
LOG_TAGS: frozenset[str] = frozenset(
    {
        "info",
        "ice",
        "dtls",
        "rtp",
        "srtp",
        "rtcp",
        "rtx",
        "bwe",
        "score",
        "simulcast",
        "svc",
        "sctp",
        "message",
    }
)
WRONG_SETTINGS_EXIT_CODE = 42  # the worker's own code for bad command-line settings
CLOSE_GRACE_SECONDS = 5.0


class WorkerDump(TypedDict):
    pid: int
    webRtcServerIds: list[str]
    routerIds: list[str]
    channelMessageHandlers: dict[str, list[str]]


class WorkerResourceUsage(TypedDict):
    """getrusage(2) of the worker process (times in ms, as mediasoup reports them)."""

    ru_utime: int
    ru_stime: int
    ru_maxrss: int
    ru_ixrss: int
    ru_idrss: int
    ru_isrss: int
    ru_minflt: int
    ru_majflt: int
    ru_nswap: int
    ru_inblock: int
    ru_oublock: int
    ru_msgsnd: int
    ru_msgrcv: int
    ru_nsignals: int
    ru_nvcsw: int
    ru_nivcsw: int


def _validate_log_settings(log_level: str | None, log_tags: Sequence[str] | None) -> None:
    if log_level is not None and log_level not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {sorted(LOG_LEVELS)}, got {log_level!r}")
    if isinstance(log_tags, str):
        raise TypeError("log_tags must be a sequence of tags, not a string")
    for tag in log_tags or ():
        if tag not in LOG_TAGS:
            raise ValueError(f"unknown log tag {tag!r} (known: {sorted(LOG_TAGS)})")


def _worker_args(
    *,
    log_level: str,
    log_tags: Sequence[str],
    rtc_min_port: int,
    rtc_max_port: int,
    dtls_cert_file: str | None,
    dtls_private_key_file: str | None,
    libwebrtc_field_trials: str | None,
) -> list[str]:
    _validate_log_settings(log_level, log_tags)
    for name, port in (("rtc_min_port", rtc_min_port), ("rtc_max_port", rtc_max_port)):
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"{name} must be an integer in 1..65535, got {port!r}")
    if rtc_min_port > rtc_max_port:
        raise ValueError(f"rtc_min_port {rtc_min_port} is above rtc_max_port {rtc_max_port}")
    if (dtls_cert_file is None) != (dtls_private_key_file is None):
        raise ValueError("dtls_cert_file and dtls_private_key_file go together")
    args = [f"--logLevel={log_level}", *(f"--logTag={tag}" for tag in log_tags)]
    args += [f"--rtcMinPort={rtc_min_port}", f"--rtcMaxPort={rtc_max_port}"]
    if dtls_cert_file is not None and dtls_private_key_file is not None:
        for path in (dtls_cert_file, dtls_private_key_file):
            if not os.path.isfile(path):
                raise ValueError(f"DTLS file {path} does not exist")
        args += [f"--dtlsCertificateFile={dtls_cert_file}", f"--dtlsPrivateKeyFile={dtls_private_key_file}"]
    if libwebrtc_field_trials:
        args.append(f"--libwebrtcFieldTrials={libwebrtc_field_trials}")
    return args


async def create_worker(
    *,
    log_level: WorkerLogLevel = "error",
    log_tags: Sequence[WorkerLogTag] = (),
    rtc_min_port: int = 10000,
    rtc_max_port: int = 59999,
    dtls_cert_file: str | None = None,
    dtls_private_key_file: str | None = None,
    libwebrtc_field_trials: str | None = None,
    app_data: AppData | None = None,
    worker_bin: str | os.PathLike[str] | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    spawn_timeout: float = 10.0,
) -> Worker:
    """Spawn a mediasoup-worker and return once it reported it is running."""
    args = _worker_args(
        log_level=log_level,
        log_tags=log_tags,
        rtc_min_port=rtc_min_port,
        rtc_max_port=rtc_max_port,
        dtls_cert_file=dtls_cert_file,
        dtls_private_key_file=dtls_private_key_file,
        libwebrtc_field_trials=libwebrtc_field_trials,
    )
    binary = str(worker_bin) if worker_bin is not None else str(resolve_worker_binary())
    env = {**os.environ, "MEDIASOUP_VERSION": mediasoup_version()}
    process, stdout_fd, stderr_fd = spawn_worker_process(binary, args, env)
    logger.debug("spawned worker pid=%s: %s %s", process.pid, binary, " ".join(args))
    try:
        await process.start_output_logging(stdout_fd, stderr_fd)
        channel = await Channel.open(
            read_fd=process.channel_read_fd,
            write_fd=process.channel_write_fd,
            pid=process.pid,
            request_timeout=request_timeout,
        )
    except BaseException:
        process.send_signal(signal.SIGKILL)
        raise
    worker = Worker(process=process, channel=channel, app_data=app_data)
    await worker._wait_running(spawn_timeout)
    return worker


class Worker(EventEmitter):
    """A mediasoup-worker process. Events: `died` (WorkerDiedError), `subprocessclose`.

    Observer events: `close`, `newrouter` (Router), `newwebrtcserver` (WebRtcServer).
    """

    def __init__(self, *, process: WorkerProcess, channel: Channel, app_data: AppData | None) -> None:
        super().__init__()
        self._process = process
        self._channel = channel
        self.app_data: AppData = app_data if app_data is not None else {}
        self.observer = EventEmitter()
        self._routers: dict[str, Router] = {}
        self._webrtc_servers: dict[str, WebRtcServer] = {}
        self._closed = False
        self._died = False
        self._close_task: asyncio.Task[None] | None = None
        self._running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        channel.add_handler(str(process.pid), self._on_worker_notification)
        self._watch_task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- state

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def died(self) -> bool:
        return self._died

    @property
    def subprocess_closed(self) -> bool:
        return self._process.returned

    @property
    def routers(self) -> list[Router]:
        return list(self._routers.values())

    @property
    def webrtc_servers(self) -> list[WebRtcServer]:
        return list(self._webrtc_servers.values())

    @property
    def channel(self) -> Channel:
        """The channel (for the library's own tests and benchmarks)."""
        return self._channel

    def __repr__(self) -> str:
        return f"<Worker pid={self.pid}{' closed' if self._closed else ''}>"

    # ---------------------------------------------------------------- lifecycle

    def _on_worker_notification(self, event: int, _body: object) -> None:
        if event == Event.WORKER_RUNNING and not self._running.done():
            self._running.set_result(None)

    async def _wait_running(self, limit_seconds: float) -> None:
        exited = self._process.wait()
        waiting: set[asyncio.Future[Any]] = {self._running, exited}
        done, _ = await asyncio.wait(waiting, timeout=limit_seconds, return_when=asyncio.FIRST_COMPLETED)
        if self._running in done:
            logger.debug("worker pid=%s running", self.pid)
            # Watched from now on: an exit before this point is a failed start, not a death.
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_process())
            return
        if exited in done:
            await self._process.output_drained(0.5)  # what it printed on its way out explains why
        tail = "; ".join(self._process.stderr_tail)
        if exited in done:
            status = exited.result()
            self._closed = True
            self._channel.close("worker failed to start")
            if status.exit_code == WRONG_SETTINGS_EXIT_CODE:
                raise WorkerSpawnError(f"worker pid={self.pid} rejected its settings (exit 42): {tail}")
            raise WorkerSpawnError(
                f"worker pid={self.pid} exited before running ({status.describe()}): {tail}"
            )
        await self._kill_and_reap()
        raise WorkerSpawnError(
            f"worker pid={self.pid} did not report running within {limit_seconds:g}s: {tail}"
        )

    async def _kill_and_reap(self) -> None:
        self._closed = True
        self._channel.close("worker killed")
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()

    async def _watch_process(self) -> None:
        status = await self._process.wait()
        if self._closed:
            return
        self._died_with(status)

    def _died_with(self, status: ExitStatus) -> None:
        logger.error("worker pid=%s died unexpectedly (%s)", self.pid, status.describe())
        self._closed = True
        self._died = True
        self._channel.close(f"worker pid={self.pid} died ({status.describe()})")
        self._close_children()
        self.emit(
            "died", WorkerDiedError(self.pid, status.exit_code, status.signal_number, status.signal_name)
        )
        self.emit("subprocessclose")
        self.observer.emit("close")

    def _close_children(self) -> None:
        routers, self._routers = list(self._routers.values()), {}
        for router in routers:
            router._teardown("workerclose")
        servers, self._webrtc_servers = list(self._webrtc_servers.values()), {}
        for server in servers:
            server._teardown("workerclose")

    async def close(self) -> None:
        """Close the worker: it closes everything it holds and exits; then the local side follows."""
        if self._close_task is None:
            if self._closed:
                return
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        self._closed = True
        # A closed channel means the process is exiting anyway.
        # What the worker reports while shutting down must not pre-empt the local cascade.
        self._channel.remove_all_handlers()
        with contextlib.suppress(InvalidStateError):
            self._channel.notify(Event.WORKER_CLOSE)
        exited = self._process.wait()
        try:
            await asyncio.wait_for(asyncio.shield(exited), CLOSE_GRACE_SECONDS)
        except TimeoutError:
            logger.warning(
                "worker pid=%s ignored WORKER_CLOSE for %gs: killing it", self.pid, CLOSE_GRACE_SECONDS
            )
            self._process.send_signal(signal.SIGKILL)
            await exited
        self._channel.close(f"worker pid={self.pid} closed")
        self._close_children()
        self.emit("subprocessclose")
        self.observer.emit("close")

    # ---------------------------------------------------------------- requests

    async def _request(self, method: int, body_type: int = 0, body: Packable | None = None) -> Any:
        if self._closed:
            raise InvalidStateError(f"worker pid={self.pid} is closed")
        return await self._channel.request(method, body_type, body)

    async def dump(self) -> WorkerDump:
        response = await self._request(Method.WORKER_DUMP)
        handlers = response.channelMessageHandlers
        return WorkerDump(
            pid=int(response.pid),
            webRtcServerIds=text_list(response.webRtcServerIds),
            routerIds=text_list(response.routerIds),
            channelMessageHandlers={
                "channelRequestHandlers": text_list(handlers.channelRequestHandlers),
                "channelNotificationHandlers": text_list(handlers.channelNotificationHandlers),
            },
        )

    async def get_resource_usage(self) -> WorkerResourceUsage:
        usage = await self._request(Method.WORKER_GET_RESOURCE_USAGE)
        values = {key: int(getattr(usage, _camel(key))) for key in WorkerResourceUsage.__annotations__}
        return cast(WorkerResourceUsage, values)

    async def update_settings(
        self, *, log_level: WorkerLogLevel | None = None, log_tags: Sequence[WorkerLogTag] | None = None
    ) -> None:
        _validate_log_settings(log_level, log_tags)
        body = UpdateSettingsRequestT(
            logLevel=log_level, logTags=list(log_tags) if log_tags is not None else None
        )
        await self._request(Method.WORKER_UPDATE_SETTINGS, RequestBody.Worker_UpdateSettingsRequest, body)

    async def create_webrtc_server(
        self, *, listen_infos: Sequence[ListenInfo], app_data: AppData | None = None
    ) -> WebRtcServer:
        if not listen_infos:
            raise ValueError("create_webrtc_server needs at least one listen info")
        fbs_infos: list[ListenInfoT] = [listen_info_to_fbs(info) for info in listen_infos]
        server_id = str(uuid.uuid4())
        body = CreateWebRtcServerRequestT(webRtcServerId=server_id, listenInfos=fbs_infos)
        await self._request(
            Method.WORKER_CREATE_WEBRTCSERVER, RequestBody.Worker_CreateWebRtcServerRequest, body
        )
        server = WebRtcServer(channel=self._channel, server_id=server_id, app_data=app_data)
        self._webrtc_servers[server_id] = server
        server._teardown_callbacks.append(lambda: self._webrtc_servers.pop(server_id, None))
        self.observer.emit("newwebrtcserver", server)
        return server

    async def create_router(
        self, *, media_codecs: Sequence[RtpCodecCapability] = (), app_data: AppData | None = None
    ) -> Router:
        # Validates the codecs before anything reaches the worker (raises on bad input).
        rtp_capabilities = ortc.generate_router_rtp_capabilities(list(media_codecs))
        router_id = str(uuid.uuid4())
        body = CreateRouterRequestT(routerId=router_id)
        await self._request(Method.WORKER_CREATE_ROUTER, RequestBody.Worker_CreateRouterRequest, body)
        router = Router(
            channel=self._channel,
            router_id=router_id,
            rtp_capabilities=rtp_capabilities,
            worker=self,
            app_data=app_data,
        )
        self._routers[router_id] = router
        router._teardown_callbacks.append(lambda: self._routers.pop(router_id, None))
        self.observer.emit("newrouter", router)
        return router


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)
