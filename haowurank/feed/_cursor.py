"""Stateless feed cursors: an opaque, URL-safe token holding the offset of the next page, the
reference time of the feed and a snapshot key of everything the ranking depends on.

A feed is a deterministic full ranking, sliced by offset. The snapshot key (a digest of the
dataset's visibility structures, the ranker and the feed parameters) and the reference time
``now`` travel in the cursor, so the next page is computed against the same ranking: pages never
repeat or skip an entry. When the world changed in between (new data, a new ranker artifact,
other parameters) the key no longer matches and :class:`CursorError` says so, instead of silently
serving a page of a different ranking.

Cursors are signed with a server secret (HMAC-SHA256), so nobody else can forge one: the secret
is read from the environment variable :data:`SECRET_ENV` (``HAOWURANK_CURSOR_SECRET``; set it
to the same value on every worker behind one load balancer) or, when it is unset, generated
once per process (cursors then do not survive a restart). A decoded cursor is also bounded: its
offset lies in ``[0, MAX_OFFSET]``, its time in the library's time range and its snapshot key is
a short hex string, so even a cursor signed with a leaked secret cannot ask for a huge page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass

__all__ = ["MAX_OFFSET", "SECRET_ENV", "Cursor", "CursorError", "StaleCursorError"]

_VERSION = 2
#: Environment variable holding the server secret that signs feed cursors.
SECRET_ENV = "HAOWURANK_CURSOR_SECRET"
#: Largest offset a cursor may carry.
MAX_OFFSET = 1_000_000
_TAG_BYTES = 16
_PROCESS_SECRET = secrets.token_bytes(32)


def _secret() -> bytes:
    """The signing key: ``$HAOWURANK_CURSOR_SECRET`` if set, else this process's random key."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return hashlib.sha256(b"haowurank.feed.cursor\0" + env.encode("utf-8")).digest()
    return _PROCESS_SECRET


def _tag(body: bytes) -> bytes:
    return hmac.new(_secret(), body, hashlib.sha256).digest()[:_TAG_BYTES]


class CursorError(ValueError):
    """A feed cursor is malformed, or was issued for a feed that has changed since."""


class StaleCursorError(CursorError):
    """A well-formed cursor of a feed that has changed since (new data, ranker or parameters)."""


@dataclass(frozen=True)
class Cursor:
    """Decoded cursor: ``offset`` of the next page, reference time ``now``, ``snapshot`` key."""

    offset: int
    now: int
    snapshot: str

    def encode(self) -> str:
        body = json.dumps(
            {"v": _VERSION, "o": int(self.offset), "t": int(self.now), "s": self.snapshot},
            separators=(",", ":"), sort_keys=True,
        ).encode()
        return base64.urlsafe_b64encode(_tag(body) + body).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        if not isinstance(token, str) or not token or len(token) > 512:
            raise CursorError(
                f"The 'cursor' parameter must be a cursor string returned with a feed page. "
                f"Got {token!r:.60} instead."
            )
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise CursorError(f"The 'cursor' parameter is not a feed cursor ({exc}).") from exc
        tag, body = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if not hmac.compare_digest(tag, _tag(body)):
            raise CursorError(
                "The 'cursor' parameter is not a feed cursor this server issued (its signature does "
                "not match; cursors also expire when the server restarts without "
                f"${SECRET_ENV} set)."
            )
        try:
            d = json.loads(body.decode())
            if d["v"] != _VERSION:
                raise CursorError(f"The 'cursor' has version {d['v']!r}; expected {_VERSION}.")
            offset, now, snap = d["o"], d["t"], d["s"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CursorError(f"The 'cursor' parameter is not a feed cursor ({exc}).") from exc
        from .._time import MAX_SECONDS, MIN_SECONDS

        if not (isinstance(offset, int) and not isinstance(offset, bool)
                and 0 <= offset <= MAX_OFFSET):
            raise CursorError(
                f"The 'cursor' offset must be an int in [0, {MAX_OFFSET}]. Got {offset!r:.40}."
            )
        if not (isinstance(now, int) and not isinstance(now, bool)
                and MIN_SECONDS <= now <= MAX_SECONDS):
            raise CursorError(
                f"The 'cursor' time must be int seconds in [{MIN_SECONDS}, {MAX_SECONDS}]. "
                f"Got {now!r:.40}."
            )
        if not (isinstance(snap, str) and _SNAPSHOT.fullmatch(snap)):
            raise CursorError(f"The 'cursor' snapshot key must be 1-64 hex digits. Got {snap!r:.40}.")
        return cls(offset=offset, now=now, snapshot=snap)


_SNAPSHOT = re.compile(r"[0-9a-f]{1,64}")
