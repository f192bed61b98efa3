"""The coach's own profile: name, time zone and booking link."""

from __future__ import annotations

from sqlmodel import Session, select

from coach_app import changes
from coach_app.models import Coach
from coach_app.services.errors import NotLoggedIn, UserError
from coach_app.services.validation import check_slug, check_timezone


def update_profile(
    session: Session, coach_id: int, display_name: str, timezone: str, slug: str
) -> Coach:
    coach = session.get(Coach, coach_id)
    if coach is None:
        raise NotLoggedIn()
    display_name = (display_name or "").strip()
    if not display_name:
        raise UserError("Please enter your name.")
    timezone = check_timezone(timezone)
    slug = check_slug(slug)
    clash = session.exec(
        select(Coach.id).where(Coach.slug == slug, Coach.id != coach_id)
    ).first()
    if clash is not None:
        raise UserError(f"The booking link “{slug}” is taken; please choose another.")
    coach.display_name = display_name[:120]
    coach.timezone = timezone
    coach.slug = slug
    session.add(coach)
    session.flush()
    changes.announce(session, coach_id)
    return coach
