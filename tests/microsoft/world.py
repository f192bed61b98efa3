"""The sync tests' world on Microsoft Graph: a fresh sandbox account with a
"Work" calendar (pulled) and a "Coach App" calendar (pushed to), and a
connection row exactly as the Connect wizard stores it (the preset's key,
the account's email as user name and label, the OAuth tokens encrypted)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from sync.conftest import AppWorld

from coach_app.calendars.microsoft import OFFICE365, Preset
from coach_app.calendars.oauth import OAuthTokens
from coach_app.db import session_scope
from coach_app.models import AppointmentType, CalendarConnection, SubCalendar
from coach_app.security import secrets
from coach_app.services import auth
from sandbox.microsoft import MicrosoftSandbox


@dataclass
class GraphWorld(AppWorld):
    graph: MicrosoftSandbox = field(kw_only=True)
    email: str = field(kw_only=True)

    def add(
        self, subject: str, start: dt.datetime, minutes: int = 60, **extra: Any
    ) -> str:
        event = self.graph.state.add_event(
            self.pull_cal,
            {
                "subject": subject,
                "start": start,
                "end": start + dt.timedelta(minutes=minutes),
                **extra,
            },
        )
        return str(event["id"])


def new_world(url: str, graph: MicrosoftSandbox, preset: Preset) -> GraphWorld:
    kind = "work" if preset is OFFICE365 else "personal"
    email = graph.state.add_account(
        f"kim-{uuid.uuid4().hex[:8]}@{preset.key}.example", "Kim Coach", kind=kind
    )
    pull_cal = graph.state.add_calendar(email, "Work")
    push_cal = graph.state.add_calendar(email, "Coach App")
    issued = graph.state.issue_tokens(email, tenant=preset.tenant)
    tokens = OAuthTokens.from_response(
        {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
        }
    )
    with session_scope(url) as s:
        coach = auth.sign_up(
            s, f"kim-{uuid.uuid4().hex[:8]}@example.com", "password-1", "Kim Coach"
        )
        assert coach.id is not None
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
        ).one()
        connection = CalendarConnection(
            coach_id=coach.id,
            provider=preset.key,
            account_label=email,
            server_url="",
            username=email,
            secret_encrypted=secrets.encrypt(tokens.to_json()),
        )
        s.add(connection)
        s.flush()
        pull = SubCalendar(
            connection_id=connection.id, remote_id=pull_cal, name="Work", pull=True
        )
        push = SubCalendar(
            connection_id=connection.id, remote_id=push_cal, name="Coach App", push=True
        )
        s.add_all([pull, push])
        s.flush()
        assert type_id is not None and connection.id is not None
        assert pull.id is not None and push.id is not None
        return GraphWorld(
            url=url,
            coach_id=coach.id,
            coach_email=coach.email,
            type_id=type_id,
            slug=coach.slug,
            connection_id=connection.id,
            pull_sub_id=pull.id,
            push_sub_id=push.id,
            pull_cal=pull_cal,
            push_cal=push_cal,
            graph=graph,
            email=email,
        )
