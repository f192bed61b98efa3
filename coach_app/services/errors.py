"""Errors a service raises with a message fit to show the person as is."""


class UserError(Exception):
    """Bad input or a refused action; `str(error)` is the message to show."""


class AsksFor(UserError):
    """Refused until the person fills in more of the form: ``fields`` names
    the inputs to show them."""

    def __init__(self, message: str, fields: tuple[str, ...]) -> None:
        super().__init__(message)
        self.fields = fields


class Forbidden(UserError):
    """The logged-in coach may not touch this record."""

    def __init__(self, message: str = "That item does not exist.") -> None:
        # Same words as for a missing record: never confirm another coach's ids.
        super().__init__(message)


class NotLoggedIn(UserError):
    def __init__(self) -> None:
        super().__init__("Please log in again.")
