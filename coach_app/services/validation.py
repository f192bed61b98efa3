"""Checks shared by the services."""

from __future__ import annotations

import re
import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from coach_app.services.errors import UserError

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"admin", "api", "book", "login", "signup", "settings"})


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 320:
        raise UserError("Please enter a valid email address, like name@example.com.")
    return email


# Browsers (ICU) still report some zones by their pre-2000s names.
_LEGACY_ZONES = {
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Rangoon": "Asia/Yangon",
    "Europe/Kiev": "Europe/Kyiv",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "America/Godthab": "America/Nuuk",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
    "Pacific/Enderbury": "Pacific/Kanton",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Indianapolis": "America/Indiana/Indianapolis",
}


def check_timezone(name: str) -> str:
    name = (name or "").strip()
    name = _LEGACY_ZONES.get(name, name)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"“{name}” is not a time zone we know.") from None
    return name


def timezone_names() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or "coach"


def check_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not _SLUG_RE.match(slug):
        raise UserError(
            "A booking link may use lower-case letters, digits and dashes "
            "(3 to 64 characters, not starting or ending with a dash)."
        )
    if slug in RESERVED_SLUGS:
        raise UserError(f"“{slug}” is reserved; please choose another booking link.")
    return slug
