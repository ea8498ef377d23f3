"""The Django cache on Redis, failing open.

The cache holds nothing the portal needs to be right: rate-limit counters and the like. So when Redis
does not answer, the portal carries on as if the cache were empty and kept nothing (throttles let
requests through, nothing is cached) and logs a warning, rather than answering 500: usage reports,
registrations and pages need only the database. After a failure the cache is not asked again for
`RETRY_SECONDS`, so a Redis that hangs costs one timeout, not one per request.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["FailOpenRedisCache", "redis_cache_settings"]

logger = logging.getLogger("config.cache")

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def redis_cache_settings(url: str) -> dict:
    """The `CACHES` entry for a Redis URL: short timeouts, failing open."""
    return {
        "BACKEND": "config.cache.FailOpenRedisCache",
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache; when Redis is unreachable, an empty cache that keeps nothing (see the module)."""

    RETRY_SECONDS = 10.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._down_until = 0.0
        self._where = ", ".join(_without_credentials(s) for s in self._servers)

    def _call(self, operation: str, fallback, method, *args, **kwargs):
        if self._down_until and time.monotonic() < self._down_until:
            return fallback
        try:
            result = method(*args, **kwargs)
        except UNREACHABLE as error:
            self._down_until = time.monotonic() + self.RETRY_SECONDS
            logger.warning(
                "The cache at %s does not answer (%s on %s: %s); rate limits and caching are off until it "
                "does (next try in %.0f s).",
                self._where,
                type(error).__name__,
                operation,
                error,
                self.RETRY_SECONDS,
            )
            return fallback
        if self._down_until:
            self._down_until = 0.0
            logger.warning("The cache at %s answers again; rate limits and caching are back on.", self._where)
        return result

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", False, super().add, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", default, super().get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", None, super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", False, super().delete, key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, super().has_key, key, version)

    def incr(self, key, delta=1, version=None):
        # An empty cache has no counter to increment: Django's contract for that is ValueError.
        missing = object()
        result = self._call("incr", missing, super().incr, key, delta, version)
        if result is missing:
            raise ValueError(f"Key '{key}' not found (the cache does not answer).")
        return result

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # The keys that could not be stored: all of them.
        return self._call("set_many", list(data), super().set_many, data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", None, super().delete_many, keys, version)

    def clear(self):
        return self._call("clear", False, super().clear)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
