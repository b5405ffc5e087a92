"""Where a transport or WebRtcServer listens: mediasoup's TransportListenInfo, validated."""

from __future__ import annotations

import ipaddress
from typing import Literal, NotRequired, TypedDict

from FBS.Transport.ListenInfo import ListenInfoT
from FBS.Transport.PortRange import PortRangeT
from FBS.Transport.Protocol import Protocol
from FBS.Transport.SocketFlags import SocketFlagsT

TransportProtocol = Literal["udp", "tcp"]


class PortRange(TypedDict):
    min: int
    max: int


class SocketFlags(TypedDict, total=False):
    ipv6Only: bool
    udpReusePort: bool


class ListenInfo(TypedDict):
    """mediasoup's TransportListenInfo (camelCase keys, like every parameter dict here)."""

    protocol: TransportProtocol
    ip: str
    announcedAddress: NotRequired[str]
    exposeInternalIp: NotRequired[bool]
    port: NotRequired[int]
    portRange: NotRequired[PortRange]
    flags: NotRequired[SocketFlags]
    sendBufferSize: NotRequired[int]
    recvBufferSize: NotRequired[int]


PROTOCOL_TO_FBS: dict[str, int] = {"udp": Protocol.UDP, "tcp": Protocol.TCP}
PROTOCOL_FROM_FBS: dict[int, TransportProtocol] = {Protocol.UDP: "udp", Protocol.TCP: "tcp"}


def _check_port(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise ValueError(f"listen info {name} must be an integer in 0..65535, got {value!r}")
    return value


def _check_uint32(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"listen info {name} must be a non-negative integer, got {value!r}")
    return value


def listen_info_to_fbs(info: ListenInfo) -> ListenInfoT:
    """Validate one listen info (the worker trusts what it gets) and build its FlatBuffers value."""
    if not isinstance(info, dict):
        raise TypeError(f"listen info must be a dict, got {type(info).__name__}")
    protocol = info.get("protocol", "udp")
    if protocol not in PROTOCOL_TO_FBS:
        raise ValueError(f"listen info protocol must be 'udp' or 'tcp', got {protocol!r}")
    ip = info.get("ip")
    if not isinstance(ip, str):
        raise ValueError(f"listen info ip must be an IP address string, got {ip!r}")
    try:
        ipaddress.ip_address(ip)
    except ValueError as error:
        raise ValueError(f"listen info ip {ip!r} is not an IP address") from error
    announced = info.get("announcedAddress")
    if announced is not None and (not isinstance(announced, str) or not announced):
        raise ValueError(f"listen info announcedAddress must be a non-empty string, got {announced!r}")
    port_range = info.get("portRange") or PortRange(min=0, max=0)
    low, high = (
        _check_port("portRange.min", port_range.get("min", 0)),
        _check_port("portRange.max", port_range.get("max", 0)),
    )
    if low > high:
        raise ValueError(f"listen info portRange min {low} is above max {high}")
    flags = info.get("flags") or {}
    return ListenInfoT(
        protocol=PROTOCOL_TO_FBS[protocol],
        ip=ip,
        announcedAddress=announced,
        exposeInternalIp=bool(info.get("exposeInternalIp", False)),
        port=_check_port("port", info.get("port", 0)),
        portRange=PortRangeT(min=low, max=high),
        flags=SocketFlagsT(
            ipv6Only=bool(flags.get("ipv6Only")), udpReusePort=bool(flags.get("udpReusePort"))
        ),
        sendBufferSize=_check_uint32("sendBufferSize", info.get("sendBufferSize", 0)),
        recvBufferSize=_check_uint32("recvBufferSize", info.get("recvBufferSize", 0)),
    )
