"""The one error the subscriber domain raises for anything a person or a file got wrong."""


class SubscriberError(ValueError):
    """A one-line reason, safe to show: bad email, unknown frequency, bad time zone, suppressed…"""


class KeptOut(SubscriberError):
    """The person left the list (unsubscribed, complained, bounced or was erased). That
    choice is theirs: no admin, API call or import brings them back, only their own
    confirmed sign-up."""

    def __init__(self, why: str) -> None:
        super().__init__(f"kept out ({why}): only their own sign-up brings them back")
        self.why = why


def shown(value: str, limit: int = 60) -> str:
    """`value` quoted for an error message: escapes keep it one line, long values are cut."""
    return repr(value if len(value) <= limit else value[:limit] + "…")
