"""Every calendar service Coach App can connect, in the order the wizard
offers them. Adding a provider is one package under ``calendars/`` and one
line here (see the README, "Adding a calendar provider").

Services on the way that have no spec yet are listed in ``MENU`` and shown
as "coming soon", like a spec whose OAuth client is not configured.
"""

from __future__ import annotations

from coach_app.calendars.caldav.spec import CALDAV_SPEC, ICLOUD_SPEC
from coach_app.calendars.errors import ProviderError
from coach_app.calendars.exchange.spec import EXCHANGE_SPEC
from coach_app.calendars.google.spec import GOOGLE_SPEC
from coach_app.calendars.microsoft.spec import OFFICE365_SPEC, OUTLOOK_SPEC
from coach_app.calendars.spec import ProviderSpec

_specs: dict[str, ProviderSpec] = {
    s.key: s
    for s in (
        ICLOUD_SPEC,
        GOOGLE_SPEC,
        OFFICE365_SPEC,
        EXCHANGE_SPEC,
        OUTLOOK_SPEC,
        CALDAV_SPEC,
    )
}

# The wizard's order, with the labels of services that have no spec yet.
MENU: tuple[tuple[str, str], ...] = (
    ("icloud", "iCloud"),
    ("google", "Google"),
    ("office365", "Office 365"),
    ("exchange", "Exchange"),
    ("outlook", "Outlook.com"),
    ("caldav", "Other CalDAV server"),
)


class UnknownProvider(ProviderError):
    default_user_message = (
        "This kind of calendar is not supported by this version of Coach App."
    )


def specs() -> list[ProviderSpec]:
    """The registered specs."""
    return list(_specs.values())


def menu() -> list[tuple[str, str, ProviderSpec | None]]:
    """``(key, label, spec or None)`` in the wizard's order; a spec registered
    beyond ``MENU`` comes last."""
    listed = [(key, label, _specs.get(key)) for key, label in MENU]
    known = {key for key, _ in MENU}
    extra = [(s.key, s.label, s) for s in _specs.values() if s.key not in known]
    return [
        (k, spec.label if spec else label, spec) for k, label, spec in listed
    ] + extra


def spec_for(key: str) -> ProviderSpec:
    spec = _specs.get(key)
    if spec is None:
        raise UnknownProvider(f"no calendar provider registered as {key!r}")
    return spec


def service_label(key: str) -> str:
    """The service's name for the coach ("iCloud" …); the key if unknown."""
    spec = _specs.get(key)
    return spec.service_name if spec else key


def register(spec: ProviderSpec) -> ProviderSpec | None:
    """Add (or replace) a spec; returns the one it replaced, to restore later."""
    previous = _specs.get(spec.key)
    _specs[spec.key] = spec
    return previous


def unregister(key: str) -> None:
    _specs.pop(key, None)
