"""Profile settings and appointment types, including ownership checks."""

from __future__ import annotations

import pytest

from coach_app.db import session_scope
from coach_app.models import AppointmentType, Coach
from coach_app.services import appointment_types as types
from coach_app.services import auth
from coach_app.services.errors import Forbidden, UserError
from coach_app.services.profile import update_profile


@pytest.fixture
def two_coaches(sqlite_url) -> tuple[int, int]:
    with session_scope(sqlite_url) as s:
        a = auth.sign_up(s, "a@example.com", "password-a", "Coach A")
        b = auth.sign_up(s, "b@example.com", "password-b", "Coach B")
        return a.id, b.id  # type: ignore[return-value]


def test_profile_update_saves_name_zone_and_slug(sqlite_url, two_coaches):
    a, _ = two_coaches
    with session_scope(sqlite_url) as s:
        update_profile(s, a, "Ada Lovelace", "Asia/Kathmandu", "ada")
    with session_scope(sqlite_url) as s:
        coach = s.get(Coach, a)
        assert (coach.display_name, coach.timezone, coach.slug) == (
            "Ada Lovelace",
            "Asia/Kathmandu",
            "ada",
        )


@pytest.mark.parametrize(
    ("zone", "slug", "message"),
    [
        ("Mars/Olympus", "fine-slug", "not a time zone"),
        ("UTC", "Bad Slug!", "lower-case"),
        ("UTC", "login", "reserved"),
        ("UTC", "coach-b", "taken"),
    ],
)
def test_bad_profile_input_is_refused_and_nothing_changes(
    sqlite_url, two_coaches, zone, slug, message
):
    a, _ = two_coaches
    with pytest.raises(UserError, match=message), session_scope(sqlite_url) as s:
        update_profile(s, a, "New Name", zone, slug)
    with session_scope(sqlite_url) as s:
        coach = s.get(Coach, a)
        assert (coach.display_name, coach.slug) == ("Coach A", "coach-a")


def test_coach_cannot_change_another_coachs_type(sqlite_url, two_coaches):
    a, b = two_coaches
    with session_scope(sqlite_url) as s:
        type_id = types.create_type(s, b, types.TypeInput(name="B's session")).id
    with pytest.raises(Forbidden), session_scope(sqlite_url) as s:
        types.update_type(s, a, type_id, types.TypeInput(name="hijacked"))
    with pytest.raises(Forbidden), session_scope(sqlite_url) as s:
        types.set_type_active(s, a, type_id, False)
    with session_scope(sqlite_url) as s:
        row = s.get(AppointmentType, type_id)
        assert (row.name, row.active) == ("B's session", True)


def test_bad_type_input_is_refused(sqlite_url, two_coaches):
    a, _ = two_coaches
    with pytest.raises(UserError, match="Duration"), session_scope(sqlite_url) as s:
        types.create_type(s, a, types.TypeInput(name="x", duration_min=0))
    with session_scope(sqlite_url) as s:
        assert [t.name for t in types.list_types(s, a)] == ["Coaching session"]


def test_type_description_is_saved_trimmed_and_bounded(sqlite_url, two_coaches):
    a, _ = two_coaches
    with session_scope(sqlite_url) as s:
        type_id = types.create_type(
            s, a, types.TypeInput(name="Intro", description="  A first talk.  ")
        ).id
    with pytest.raises(UserError, match="1,000"), session_scope(sqlite_url) as s:
        types.update_type(
            s, a, type_id, types.TypeInput(name="Intro", description="x" * 1001)
        )
    with session_scope(sqlite_url) as s:
        assert s.get(AppointmentType, type_id).description == "A first talk."
