"""Small builders for Graph resources the tests write into the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def weekly_series(
    subject: str, start: datetime, count: int | None, *, hours: float = 1
) -> dict[str, Any]:
    """A weekly series on ``start``'s weekday (``count`` None: no end)."""
    range_: dict[str, Any] = {"type": "noEnd", "startDate": start.date().isoformat()}
    if count is not None:
        range_ = {**range_, "type": "numbered", "numberOfOccurrences": count}
    return {
        "subject": subject,
        "start": start,
        "end": start + timedelta(hours=hours),
        "recurrence": {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": [start.strftime("%A").lower()],
            },
            "range": range_,
        },
    }
