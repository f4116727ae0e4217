"""Remove secrets from any text before it is shown, logged or saved: credentials in URLs,
Authorization headers, bearer tokens, token/password fields, and any explicitly known secret value."""

from __future__ import annotations

import re
from typing import Iterable

_RULES = [
    (re.compile(r"(?<=://)[^/@\s]+@"), "***@"),                                    # scheme://user:pass@host
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
