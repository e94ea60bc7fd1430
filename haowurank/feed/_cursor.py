"""Stateless feed cursors: an opaque, URL-safe token holding the offset of the next page, the
reference time of the feed and a snapshot key of everything the ranking depends on.

A feed is a deterministic full ranking, sliced by offset. The snapshot key (a digest of the
dataset's visibility structures, the ranker and the feed parameters) and the reference time
``now`` travel in the cursor, so the next page is computed against the same ranking: pages never
repeat or skip an entry. When the world changed in between (new data, a new ranker artifact,
other parameters) the key no longer matches and :class:`CursorError` says so, instead of silently
serving a page of a different ranking.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

__all__ = ["Cursor", "CursorError", "StaleCursorError"]

_VERSION = 1
# Integrity tag over the payload: not a secret (cursors carry nothing private), it only turns a
# mangled or hand-edited token into a clear error rather than a page at a made-up offset.
_TAG_KEY = b"haowurank.feed.cursor"


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
        tag = hmac.new(_TAG_KEY, body, hashlib.sha256).digest()[:8]
        return base64.urlsafe_b64encode(tag + body).decode().rstrip("=")

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
        tag, body = raw[:8], raw[8:]
        if not hmac.compare_digest(tag, hmac.new(_TAG_KEY, body, hashlib.sha256).digest()[:8]):
            raise CursorError("The 'cursor' parameter is not a feed cursor (its tag does not match).")
        try:
            d = json.loads(body.decode())
            if d["v"] != _VERSION:
                raise CursorError(f"The 'cursor' has version {d['v']!r}; expected {_VERSION}.")
            offset, now, snap = d["o"], d["t"], d["s"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CursorError(f"The 'cursor' parameter is not a feed cursor ({exc}).") from exc
        if not (isinstance(offset, int) and offset >= 0 and isinstance(now, int)
                and isinstance(snap, str)):
            raise CursorError("The 'cursor' parameter is not a feed cursor (bad fields).")
        return cls(offset=offset, now=now, snapshot=snap)
