"""A ``Remote`` whose server stores iCalendar text (CalDAV, the in-memory
service): every change from outside is the same edit of that text, so it is
written once here; a subclass says how to name, store and read an entry."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable

from remotes import Added, Remote
from remotes import ical_text as ics


class ICalendarRemote(Remote):
    @abc.abstractmethod
    def _uid(self, prefix: str) -> str:
        """A fresh UID (and entry name) starting with ``prefix``."""

    @abc.abstractmethod
    def _put(self, cal: str, uid: str, text: str) -> Added:
        """Store a new entry named after ``uid``."""

    @abc.abstractmethod
    def _text(self, cal: str, id: str) -> str:
        """The stored text of entry ``id``."""

    @abc.abstractmethod
    def _write(self, cal: str, id: str, text: str) -> str | None:
        """Replace entry ``id``'s text; its new etag."""

    def _rewrite(self, cal: str, id: str, change: Callable[[str], str]) -> str | None:
        return self._write(cal, id, change(self._text(cal, id)))

    def add(
        self,
        cal: str,
        summary: str,
        start: dt.datetime,
        minutes: int = 60,
        *,
        transparent: bool = False,
        declined_by: str | None = None,
    ) -> Added:
        uid = self._uid("ev")
        text = ics.event(
            uid,
            summary,
            start,
            minutes,
            transparent=transparent,
            declined_by=declined_by,
        )
        return self._put(cal, uid, text)

    def add_text(self, cal: str, uid: str, text: str) -> Added:
        return self._put(cal, uid, text)

    def add_all_day(self, cal: str, summary: str, first: dt.date, days: int) -> Added:
        uid = self._uid("day")
        return self._put(cal, uid, ics.all_day(uid, summary, first, days))

    def add_series(
        self, cal: str, summary: str, start: dt.datetime, minutes: int, rules: list[str]
    ) -> Added:
        uid = self._uid("series")
        return self._put(cal, uid, ics.series(uid, summary, start, minutes, rules))

    def move_instance(
        self,
        cal: str,
        series_id: str,
        original: dt.datetime,
        start: dt.datetime,
        end: dt.datetime,
        summary: str | None = None,
    ) -> None:
        self._rewrite(
            cal,
            series_id,
            lambda text: ics.with_moved_instance(text, original, start, end, summary),
        )

    def cancel_instance(self, cal: str, series_id: str, original: dt.datetime) -> None:
        self._rewrite(
            cal, series_id, lambda t: ics.with_cancelled_instance(t, original)
        )

    def edit(self, cal: str, id: str, summary: str) -> str | None:
        return self._rewrite(cal, id, lambda text: ics.renamed(text, summary))

    def move(self, cal: str, id: str, start: dt.datetime, end: dt.datetime) -> None:
        self._rewrite(cal, id, lambda text: ics.moved(text, start, end))

    def touch(self, cal: str, id: str) -> str | None:
        return self._rewrite(cal, id, ics.categorised)

    def touched(self, cal: str, id: str) -> bool:
        return ics.is_categorised(self._text(cal, id))
