"""Encryption at rest for provider secrets (app passwords, refresh tokens).

Keys come from `COACH_APP_SECRET_KEYS` (comma-separated Fernet keys, newest
first, so old keys keep decrypting during a rotation). Without it, the
embedded default creates a key file (mode 0600) on first use, at
`COACH_APP_KEY_FILE` or `.coach_app_secret.key` in the working directory.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["InvalidToken", "decrypt", "encrypt", "key_material", "reset_keys"]


def _key_file() -> Path:
    return Path(os.environ.get("COACH_APP_KEY_FILE", ".coach_app_secret.key"))


def _load_or_create_key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


@lru_cache(maxsize=1)
def key_material() -> tuple[bytes, ...]:
    """The server's keys, newest first; other secrets (link signatures) are
    derived from them, so one rotation covers everything."""
    env = os.environ.get("COACH_APP_SECRET_KEYS", "").strip()
    keys = [k.strip().encode() for k in env.split(",") if k.strip()]
    if not keys:
        keys = [_load_or_create_key_file(_key_file())]
    return tuple(keys)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in key_material()])


def reset_keys() -> None:
    """Forget cached keys (tests and key rotation)."""
    key_material.cache_clear()
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
