"""Test settings. The suite's fixtures start real Redis, workers and servers and
pass their addresses explicitly; these are only the defaults the contract
requires to be present."""

import os

# Required by the contract; tests must not depend on the developer's shell.
os.environ.setdefault("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
os.environ.setdefault("LARAVEL_API_URL", "http://127.0.0.1:9")
os.environ.setdefault("LARAVEL_INTERNAL_KEY", "test-internal-key-test-internal-key-0123")
os.environ.setdefault("NODE_ENV", "test")

from flylive.config import get_config, refuse_in_production
from flylive.settings.base import *  # noqa: F403

refuse_in_production(get_config(), __name__)

DEBUG = False
