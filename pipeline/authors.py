"""One person, one author: the name a post gives, without titles and letters.

Blogs credit the same person as "Dr Stephen Jeffares" on one post and "Stephen Jeffares"
on the next, or add a role ("Anthony Mason, Senior Associate INLOGOV") or honours
("Edwina Grant OBE"). Ingest stores the bare name, so each person has one author page
and one feed.
"""

from __future__ import annotations

import re

_HONORIFIC = re.compile(
    r"(?:(?:Dr|Prof|Professor|Assoc Prof|Associate Professor|Mr|Mrs|Ms|Miss|Mx|Cllr"
    r"|Councillor|Rev|Revd|Reverend)\.?\s+)+",
    re.IGNORECASE,
)
_POST_NOMINAL = re.compile(
    r"[A-Z]{2,6}|PhD|DPhil|MPhil|MSc|MBA|MPA|BSc|MA|BA|LLB|LLM|FRSA|FAcSS|FRHistS|FCIPD"
    r"|FCA|Hons|\(Hons\)"
)


# Words that make a comma-separated part of a credit someone's role, not another person.
_ROLE = re.compile(
    r"\b(?:Associate|Assistant|Director|Professor|Lecturer|Reader|Fellow|Officer|Manager"
    r"|Head|Chair|Researcher|Student|Editor|Lead|Leader|Adviser|Advisor|Consultant|Analyst"
    r"|Coordinator|Partner|Executive|Secretary|Dean|Principal|Candidate|Founder|CEO"
    r"|University|Institute|School|Council|Department|Centre|Center)\b",
    re.IGNORECASE,
)


def people(credit: str) -> list[str]:
    """The people a comma-separated credit names, each with any role that follows their
    name ("Ann Lee, Bo Chen" is two; "Ann Lee, Senior Associate INLOGOV" is one)."""
    found: list[str] = []
    for part in (part.strip() for part in credit.split(",")):
        if found and (_ROLE.search(part) or _POST_NOMINAL.fullmatch(part.strip("."))):
            found[-1] += f", {part}"
        elif part:
            found.append(part)
    return found


def person_name(name: str) -> str:
    """`name` without a role after a comma, leading honorifics or trailing post-nominals;
    never emptier than two words where the name had them, and never empty."""
    bare = name.split(",", 1)[0].strip() or name.strip()
    words = _HONORIFIC.sub("", bare, count=1).split() or bare.split()
    while len(words) > 2 and _POST_NOMINAL.fullmatch(words[-1].strip(".")):
        words.pop()
    return " ".join(words)
