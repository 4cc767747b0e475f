"""The one error the subscriber domain raises for anything a person or a file got wrong."""


class SubscriberError(ValueError):
    """A one-line reason, safe to show: bad email, unknown frequency, bad time zone, suppressed…"""


def shown(value: str, limit: int = 60) -> str:
    """`value` quoted for an error message: escapes keep it one line, long values are cut."""
    return repr(value if len(value) <= limit else value[:limit] + "…")
