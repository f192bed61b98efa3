"""Event handlers re-check the logged-in coach on every call.

Handlers are called the way Reflex calls them (`Handler.fn(state, *args)`), on
a state whose websocket connection carried a real session cookie, so a forged
event carrying another coach's ids goes through exactly the code a browser
would reach.
"""

from __future__ import annotations

import pytest
from reflex.state import State

from coach_app.db import session_scope
from coach_app.models import AppointmentType, Coach
from coach_app.pages.settings import SettingsState
from coach_app.pages.settings_types import TypesState
from coach_app.services import appointment_types as types
from coach_app.services import auth
from coach_app.session_http import SESSION_COOKIE


def _substate(cls, token: str):
    root = State(_reflex_internal_init=True)
    # What Reflex builds from the websocket's request headers.
    root._update_router_vars(
        {"headers": {"cookie": f"theme=dark; {SESSION_COOKIE}={token}"}}, {}
    )
    return root.get_substate(cls.get_full_name().split("."))


@pytest.fixture
def coaches(sqlite_url):
    with session_scope(sqlite_url) as s:
        a = auth.sign_up(s, "a@example.com", "password-a", "Coach A")
        b = auth.sign_up(s, "b@example.com", "password-b", "Coach B")
        b_type = types.create_type(s, b.id, types.TypeInput(name="B only"))
        token_a = auth.open_session(s, a.id)
        return {"token_a": token_a, "b_type": b_type.id, "a": a.id, "b": b.id}


def test_handler_with_another_coachs_type_id_is_refused(coaches):
    state = _substate(TypesState, coaches["token_a"])
    TypesState.set_active.fn(state, coaches["b_type"], False)
    assert state.error == "That item does not exist."
    state.editing_id = coaches["b_type"]
    TypesState.save.fn(
        state,
        {
            "name": "hijacked",
            "duration_min": "30",
            "slot_interval_min": "30",
            "buffer_before_min": "0",
            "buffer_after_min": "0",
            "min_notice_min": "0",
            "max_per_day": "",
            "horizon_days": "30",
        },
    )
    assert state.error == "That item does not exist."
    with session_scope() as s:
        row = s.get(AppointmentType, coaches["b_type"])
        assert (row.name, row.active) == ("B only", True)


def test_handler_lists_only_own_types(coaches):
    state = _substate(TypesState, coaches["token_a"])
    TypesState.load.fn(state)
    assert [(r.id, r.name) for r in state.rows] == [(1, "Coaching session")]


def test_handler_without_session_is_refused(coaches):
    state = _substate(SettingsState, "")
    SettingsState.save_profile.fn(
        state, {"display_name": "Evil", "timezone": "UTC", "slug": "evil"}
    )
    assert state.profile_error == "Please log in again."
    with session_scope() as s:
        assert {c.display_name for c in s.query(Coach).all()} == {"Coach A", "Coach B"}


def test_handler_with_forged_token_is_refused(coaches):
    state = _substate(TypesState, coaches["token_a"] + "forged")
    TypesState.set_active.fn(state, coaches["b_type"], False)
    assert state.error == "Please log in again."
