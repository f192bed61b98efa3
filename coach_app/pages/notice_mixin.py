"""Notices on a page: loaded with the page, dismissed one by one or all."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import reflex as rx
from sqlmodel import Session

from coach_app.components.notices import NoticeView
from coach_app.db import session_scope
from coach_app.services import notices


class NoticesMixin(rx.State, mixin=True):
    """Mixed into a page state deriving from `AuthState`."""

    notices: list[NoticeView] = []

    def _load_notices(self, session: Session, coach_id: int, zone: str) -> None:
        tz = ZoneInfo(zone)
        self.notices = [
            NoticeView(
                id=n.id,
                message=n.message,
                when=f"{n.created_at.astimezone(tz):%d %b %H:%M}",
            )
            for n in notices.unread(session, coach_id)
        ]

    def _dismiss(self, notice_id: int | None):
        coach_id = self._coach_id()  # type: ignore[attr-defined]
        if coach_id is None:
            return rx.redirect("/login")
        with session_scope() as s:
            notices.dismiss(s, coach_id, notice_id)
        self.notices = (
            [n for n in self.notices if n.id != notice_id] if notice_id else []
        )

    @rx.event
    def dismiss_notice(self, notice_id: int):
        return self._dismiss(int(notice_id))

    @rx.event
    def dismiss_all_notices(self):
        return self._dismiss(None)
