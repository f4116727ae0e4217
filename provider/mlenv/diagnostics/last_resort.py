"""The last resort of both shells: an exception that is not an `MlenvError` (a bug, a library error no
stage explained, a corrupt cache file) becomes one `InternalError` line naming the exception, and its
traceback, redacted, is saved to a log file that the line names, so it can be reported.

The CLI's `main()` and the provider's calls run inside `last_resort()`; nothing else should need it.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mlenv.cache import cache_root
from mlenv.diagnostics.errors import InternalError, MlenvError
from mlenv.diagnostics.redact import redact

# Explained already, or not a failure: a reader that went away (`mlenv diagnose LOG | head`).
PASSED_THROUGH = (MlenvError, BrokenPipeError)
SHORT_MESSAGE = 200
ALL_FRAMES = 10_000  # explicit: the provider sets sys.tracebacklimit = 0 for what the engine shows
_SECRET_NAME = re.compile(r"(?i)password|passwd|token|secret|credential|_key$")


@contextmanager
def last_resort() -> Iterator[None]:
    """Run the body; anything unexpected leaves it as an InternalError (raised `from None`, so a
    caller printing the traceback shows nothing but the one line)."""
    try:
        yield
    except PASSED_THROUGH:
        raise
    except Exception as error:  # noqa: BLE001 - this is the one place that catches everything
        raise internal_error(error) from None


def internal_error(error: BaseException) -> InternalError:
    """The one-line explanation of an unexpected exception, with its traceback saved."""
    secrets = _environment_secrets()
    path = save_traceback(error, secrets)
    return InternalError("internal error", f"{_type_name(error)}: {_short(str(error), secrets)}", "please report", log_path=str(path) if path else None)


def save_traceback(error: BaseException, secrets: list[str]) -> Path | None:
    """The redacted traceback in the cache's logs folder, or in the temporary folder if the cache
    itself is what is broken; None if neither can be written."""
    text = "\n".join([
        f"mlenv internal error, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        f"command: {' '.join(sys.argv)}",
        f"python: {sys.version.split()[0]} ({sys.executable})",
        "",
        "".join(traceback.format_exception(error, limit=ALL_FRAMES)),
    ])
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for folder in _log_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=folder, prefix=f"{stamp}-internal-", suffix=".log")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(redact(text, secrets))
            return Path(name)
        except OSError:
            continue
    return None


def _log_folders() -> list[Path]:
    folders = [Path(tempfile.gettempdir()) / "mlenv-logs"]
    try:
        folders.insert(0, cache_root() / "logs")
    except OSError:  # the cache folder cannot be created (e.g. MLENV_CACHE_DIR names a file)
        pass
    return folders


def _environment_secrets() -> list[str]:
    """Values of environment variables named like secrets (MLENV_REGISTRY_PASSWORD, *_TOKEN…): an
    exception's message may quote one; URL credentials and auth headers are redacted by pattern."""
    return [value for name, value in os.environ.items() if _SECRET_NAME.search(name) and value]


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _short(message: str, secrets: list[str]) -> str:
    line = next((part.strip() for part in message.splitlines() if part.strip()), "(no message)")
    line = redact(line, secrets)
    return line if len(line) <= SHORT_MESSAGE else line[: SHORT_MESSAGE - 1] + "…"
