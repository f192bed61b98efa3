"""Signed, expiring tokens for links sent by email (HMAC-SHA256).

A token reads `<payload>.<expiry>.<signature>`: the payload (a short,
URL-safe string such as an appointment id), the expiry in Unix seconds, and
an HMAC over the purpose, payload and expiry. The HMAC key is derived from
the server's secret keys (`security.secrets.key_material`), one per purpose,
so a token made for one kind of link never opens another, and a key rotation
keeps older tokens valid while the old key is still listed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re

from coach_app.security.secrets import key_material

_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadToken(ValueError):
    """Not a token we made: malformed, or its signature does not match."""


class ExpiredToken(ValueError):
    """A genuine token whose time has passed; carries its payload."""

    def __init__(self, payload: str) -> None:
        super().__init__("expired")
        self.payload = payload


def _key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(
        secret, f"coach-app link key: {purpose}".encode(), "sha256"
    ).digest()


def _mac(key: bytes, purpose: str, payload: str, expiry: int) -> str:
    digest = hmac.new(key, f"{purpose}|{payload}|{expiry}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def sign(purpose: str, payload: str, expires_at: dt.datetime) -> str:
    if not _PAYLOAD.match(payload):
        raise ValueError("the payload must be 1-64 URL-safe characters")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expiry = int(expires_at.timestamp())
    key = _key(key_material()[0], purpose)
    return f"{payload}.{expiry}.{_mac(key, purpose, payload, expiry)}"


def verify(purpose: str, token: str, now: dt.datetime | None = None) -> str:
    """The payload of a valid token; `BadToken` or `ExpiredToken` otherwise.

    The signature is checked (in constant time, against every listed key)
    before the expiry, so an altered expiry reads as tampered, not expired.
    """
    parts = (token or "").strip().split(".")
    if len(parts) != 3 or not _PAYLOAD.match(parts[0]) or not parts[1].isdigit():
        raise BadToken("malformed")
    payload, expiry_text, signature = parts
    expiry = int(expiry_text)
    if not any(
        hmac.compare_digest(
            _mac(_key(secret, purpose), purpose, payload, expiry), signature
        )
        for secret in key_material()
    ):
        raise BadToken("signature")
    now = now or dt.datetime.now(dt.UTC)
    if now.timestamp() >= expiry:
        raise ExpiredToken(payload)
    return payload
