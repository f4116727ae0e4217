"""The one rule for URL logins and anaconda.org tokens (diagnostics/redact.py), as every stage uses it."""

from __future__ import annotations

import pytest

from mlenv.diagnostics.redact import login_of, masked, public_url, redact


@pytest.mark.parametrize(("text", "login"), [
    ("https://host/simple/", None),
    ("https://token@host/simple/", ("token", None)),
    ("https://user:${PW}@host/channel", ("user", "${PW}")),
    ("see https://user:p@ss@host/x for it", ("user", "p@ss")),  # the login runs to the last @ before the path
    ("file:///data/a@b/wheels", None),
    ("https://host/path?mail=a@b", None),
])
def test_login_of_finds_the_user_and_password(text, login):
    assert login_of(text) == login


def test_masked_keeps_the_user_and_hides_the_password():
    assert masked("https://user:p@ss@host/simple/") == "https://user:***@host/simple/"
    assert masked("git+https://token@host/repo.git") == "git+https://***@host/repo.git"


def test_public_url_drops_logins_and_tokens():
    assert public_url("https://u:s3cret@host/t/tk-123/private/linux-64/a-1-0.conda") == "https://host/private/linux-64/a-1-0.conda"
    assert public_url("cannot fetch https://u:p@ss@host/x: 401") == "cannot fetch https://host/x: 401"


def test_redact_leaves_no_part_of_a_password_holding_an_at():
    shown = redact("GET https://user:p@ss@host/simple/ failed")
    assert "p@ss" not in shown and "ss@host" not in shown and shown == "GET https://***@host/simple/ failed"
