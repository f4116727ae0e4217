"""A real Docker credential helper for tests: an executable `docker-credential-NAME` in a folder of
its own, answering `get` (host on stdin) from a table, as docker-credential-pass or -ecr-login do."""

from __future__ import annotations

import json
import sys
from pathlib import Path

_SCRIPT = """#!{python}
import json, sys
if sys.argv[1:] != ["get"]:
    sys.exit("unsupported: " + " ".join(sys.argv[1:]))
host = sys.stdin.read().strip()
with open({calls!r}, "a") as calls:
    calls.write("get " + host + "\\n")
logins = json.loads({logins!r})
if host not in logins:
    print("credentials not found in native keychain")
    sys.exit(1)
username, secret = logins[host]
print(json.dumps({{"ServerURL": host, "Username": username, "Secret": secret}}))
"""


def install_helper(folder: Path, name: str, logins: dict[str, tuple[str, str]]) -> Path:
    """Write `docker-credential-NAME` into FOLDER (put it on PATH); its calls go to FOLDER/calls.log."""
    folder.mkdir(parents=True, exist_ok=True)
    calls = folder / "calls.log"
    calls.touch()
    helper = folder / f"docker-credential-{name}"
    helper.write_text(_SCRIPT.format(python=sys.executable, logins=json.dumps(logins), calls=str(calls)))
    helper.chmod(0o755)
    return calls


def write_docker_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder
