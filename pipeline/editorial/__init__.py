"""What an editor writes into a mail: a run's own subject and intro, and one-off broadcasts.

Everything here is untrusted input as much as a post is: subjects go through the header
sanitiser, Markdown through nh3, and neither can form a `%%slot%%`.
"""

from pipeline.editorial.note import (
    MAX_INTRO,
    MAX_SUBJECT,
    Editorial,
    EditorialError,
    Intro,
    editorial,
    mail_parts,
    render_intro,
    subject_line,
)

__all__ = [
    "MAX_INTRO",
    "MAX_SUBJECT",
    "Editorial",
    "EditorialError",
    "Intro",
    "editorial",
    "mail_parts",
    "render_intro",
    "subject_line",
]
