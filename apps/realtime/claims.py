"""The user claims of a FlyLive JWT (contract 1.4): the only place their shape is written.

The validated claims are what a socket knows about its user (`SocketSession.user`)
and what `room:userJoined` broadcasts as `user`: exactly these 16 keys, in this
order; everything else in the token (exp, iat, ...) is dropped.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictStr

from apps.realtime.schema import JsNumber
from flylive.js_number import js_number


def js_string(value: Any) -> str:
    """JavaScript's `String(value)` for a JSON value: 1 -> "1", null -> "null", [1,2] -> "1,2"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # Array.prototype.join: null and undefined elements print as "".
        try:
            return ",".join("" if item is None else js_string(item) for item in value)
        except RecursionError:  # a claim nested hundreds deep is no genuine token's
            raise ValueError("nested too deeply") from None
    return "[object Object]"


class UserClaims(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: JsNumber  # not checked for integer-ness, like the baseline
    name: StrictStr
    signature: StrictStr
    email: StrictStr
    avatar: StrictStr
    frame: StrictStr
    # z.any().transform(String): always present after validation, "undefined" when missing.
    gender: Annotated[str, BeforeValidator(js_string)] = "undefined"
    date_of_birth: StrictStr
    phone: StrictStr
    country: StrictStr
    coins: StrictStr
    diamonds: StrictStr
    wealth_xp: StrictStr
    charm_xp: StrictStr
    is_blocked: StrictBool  # validated, not enforced (contract 1.4)
    isSpeaker: StrictBool

    def as_user(self) -> dict[str, Any]:
        """The claims as the plain dict sockets carry and events broadcast."""
        return self.model_dump()
