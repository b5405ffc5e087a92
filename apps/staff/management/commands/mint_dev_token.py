"""`manage.py mint_dev_token --user-id 7 [--name Ann] [--hours 24]`: a development JWT for the demo
page and socket clients, signed with this server's JWT_SECRET (HS256) and carrying the claims
Laravel puts in its tokens. Refused with NODE_ENV=production: real tokens come from Laravel."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

import jwt
from django.core.management.base import BaseCommand, CommandError

from flylive.config import get_config


def dev_claims(user_id: int, name: str, hours: float) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": user_id, "name": name, "signature": "", "email": f"user{user_id}@example.com",
        "avatar": "", "frame": "", "gender": "", "date_of_birth": "", "phone": "", "country": "",
        "coins": "0", "diamonds": "0", "wealth_xp": "0", "charm_xp": "0", "is_blocked": False,
        "isSpeaker": False, "iat": now, "exp": now + int(hours * 3600),
    }


class Command(BaseCommand):
    help = "Print a development JWT for the demo page (never in production)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--user-id", type=int, required=True)
        parser.add_argument("--name", default=None)
        parser.add_argument("--hours", type=float, default=24.0)

    def handle(self, *args: Any, **options: Any) -> None:
        config = get_config()
        if config.NODE_ENV == "production":
            raise CommandError("mint_dev_token is for development: production tokens come from Laravel")
        user_id = int(options["user_id"])
        if user_id <= 0:
            raise CommandError("--user-id must be a positive number")
        claims = dev_claims(user_id, options["name"] or f"User {user_id}", float(options["hours"]))
        self.stdout.write(jwt.encode(claims, config.JWT_SECRET, algorithm="HS256"))
