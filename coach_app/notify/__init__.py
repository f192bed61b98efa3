"""Transactional email: outbox rows written in the caller's transaction, and
their delivery (SMTP, or `.eml` files when no mail server is configured).

No Reflex here. See `outbox` (enqueue), `messages` (wording), `ics`
(invitations) and `delivery` (transports, `deliver_due`, `delivery_loop`).
"""

from coach_app.notify.outbox import appointment_key, enqueue, enqueue_message
from coach_app.notify.wakeup import wake_delivery

__all__ = ["appointment_key", "enqueue", "enqueue_message", "wake_delivery"]
