"""A plain <button> that also reports key presses (the month grid's arrows)."""

from __future__ import annotations

import reflex as rx
from reflex.event import key_event
from reflex_components_core.el.elements.forms import Button


class KeyButton(Button):
    on_key_down: rx.EventHandler[key_event]


key_button = KeyButton.create
