"""The email outbox: rows written in the caller's own transaction.

`enqueue` adds a row to the session it is given and never commits: the email
exists exactly when the booking (or cancellation...) that caused it commits.
It is idempotent by `dedupe_key`: a key already present (sent or not, in this
transaction or an earlier one) adds nothing and returns None. The SELECT
answers the common case; the unique constraint on `dedupe_key` settles a race
with a concurrent transaction, and the insert runs inside a SAVEPOINT so that
losing the race rolls back only this row, not the caller's transaction.

Once the caller's transaction commits, the delivery loops are woken (an
after-commit hook calls `wake_delivery()`), so mail leaves at once rather than
at the next poll.

Keys: use `appointment_key(kind, appointment_id, version)`, e.g.
`appointment-12:v3:rescheduled-client`, so a retried request cannot send the
same email twice, while a later change (new version) sends its own.
"""

from __future__ import annotations

from email.utils import parseaddr

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.db import after_commit
from coach_app.models import EmailOutbox
from coach_app.notify.messages import Message
from coach_app.notify.wakeup import wake_delivery

MAX_KEY = 200
MAX_TO = 320
MAX_SUBJECT = 300
_WAKE_FLAG = "coach_app.notify.wake_after_commit"


def appointment_key(kind: str, appointment_id: int, version: int) -> str:
    """A dedupe key for an email about one version of an appointment."""
    return f"appointment-{appointment_id}:v{version}:{kind}"


def _exists(session: Session, dedupe_key: str) -> bool:
    found = session.exec(
        select(EmailOutbox.id).where(EmailOutbox.dedupe_key == dedupe_key)
    ).first()
    return found is not None


def _wake_after_commit(session: Session) -> None:
    after_commit(session, _WAKE_FLAG, lambda: wake_delivery())


def _check_address(to: str) -> str:
    to = to.strip()
    if (
        not to
        or len(to) > MAX_TO
        or any(c in to for c in "\r\n")
        or "@" not in parseaddr(to)[1]
    ):
        raise ValueError(f"not an email address: {to!r}")
    return to


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    to: str,
    subject: str,
    body: str,
    ics: str | None = None,
) -> EmailOutbox | None:
    """Add an email to the outbox in the caller's transaction (no commit).

    Returns the new (flushed) row, or None when `dedupe_key` is already there.
    """
    if not dedupe_key or len(dedupe_key) > MAX_KEY:
        raise ValueError(f"dedupe_key must be 1 to {MAX_KEY} characters")
    to = _check_address(to)
    subject = " ".join(subject.split())[:MAX_SUBJECT]
    if _exists(session, dedupe_key):
        return None
    row = EmailOutbox(
        dedupe_key=dedupe_key, to_addr=to, subject=subject, body=body, ics=ics
    )
    try:
        with session.begin_nested():
            session.add(row)
    except sa.exc.IntegrityError:
        # A concurrent transaction committed the same key between our SELECT
        # and INSERT; only the savepoint is rolled back.
        return None
    _wake_after_commit(session)
    return row


def enqueue_message(
    session: Session, *, dedupe_key: str, to: str, message: Message
) -> EmailOutbox | None:
    """`enqueue` for a built `Message`."""
    return enqueue(
        session,
        dedupe_key=dedupe_key,
        to=to,
        subject=message.subject,
        body=message.body,
        ics=message.ics,
    )
