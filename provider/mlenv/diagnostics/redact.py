"""Remove secrets from any text before it is shown, logged or saved: credentials in URLs,
Authorization headers, bearer tokens, token/password fields, and any explicitly known secret value.
The one place that knows what a URL login and an anaconda.org token look like."""

from __future__ import annotations

import re
from collections.abc import Iterable

# scheme://user:password@host: the login runs to the last @ before the path (a password may hold an @).
USERINFO = re.compile(r"(?<=://)([^/?#\s]*)@")
TOKEN = re.compile(r"/t/[^/\s]+(?=/|$)")  # an anaconda.org token in a channel or package URL

_RULES = [
    (USERINFO, "***@"),
    (re.compile(r"(?i)(authorization:\s*)(basic|bearer)\s+\S+"), r"\1\2 ***"),      # headers
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),            # bare bearer tokens
    (re.compile(r'(?i)("?\b(?:access_token|token|password|passwd|secret)"?\s*[:=]\s*"?)[^"\s&,]+'), r"\1***"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def login_of(text: str) -> tuple[str, str | None] | None:
    """The user and password of the first URL login in text; None without a login, a password of
    None for a login with no colon (`https://token@host`)."""
    match = USERINFO.search(text)
    if not match:
        return None
    user, colon, password = match.group(1).partition(":")
    return user, password if colon else None


def public_url(text: str) -> str:
    """A URL (or a message holding URLs) without logins or tokens: what may be logged, locked, shown."""
    return USERINFO.sub("", TOKEN.sub("", text))


def masked(text: str) -> str:
    """A URL's password (or lone token) replaced by ***, the user name kept, so a message can say
    which login it means without showing it."""
    def hide(match: re.Match) -> str:
        user, colon, _ = match.group(1).partition(":")
        return f"{user}:***@" if colon else "***@"
    return USERINFO.sub(hide, text)
