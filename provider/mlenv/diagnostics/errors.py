"""One error tree for everything a user can get wrong or a build can hit.

    MlenvError
    ├── SpecError (= DefinitionError)   the definition is invalid, found before anything runs
    ├── SpecWarning                     never raised: shown as a warning
    ├── BuildError                      a build stage failed; nothing was tagged
    │   ├── ResolveError                locking or downloading packages
    │   ├── StoreError                  reading or writing an image store (OCI layout)
    │   │   └── RegistryError           a remote registry refused, failed or did not answer
    │   ├── EngineError                 the Docker engine: unreachable, or its build failed
    │   └── CacheError                  the local cache holds something wrong
    └── InternalError                   anything else (a bug): one line, the traceback in a saved log

Every message names what failed (the field or stage), the cause, and the fix; a build failure also
carries its diagnosis (rule id), the log lines that prove it, and the path of the full saved log.
So `pulumi preview`, `pulumi up` and the CLI all print one readable paragraph, never a traceback.
"""

from __future__ import annotations


class MlenvError(Exception):
    """A failure explained: where (field or stage), what, the fix, and optionally the evidence."""

    def __init__(self, where: str, problem: str, fix: str, value: object = None, *, rule: str | None = None,
                 evidence: list[tuple[int, str]] | None = None, output: str = "", log_path: str | None = None):
        self.where, self.problem, self.fix, self.value = where, problem, fix, value
        self.rule, self.evidence, self.output, self.log_path = rule, evidence or [], output, log_path
        super().__init__(self.render())

    @property
    def headline(self) -> str:
        shown = f" (got {shown_value(self.value)})" if self.value is not None else ""
        return f"{clip(self.where)}: {clip(self.problem, 2000)}{shown}. Fix: {self.fix}"

    def render(self) -> str:
        lines = [self.headline]
        if self.rule:
            lines.append(f"  diagnosis: {self.rule} (docs/DIAGNOSTICS.md#{self.rule.replace('.', '-')})")
        if self.evidence:
            lines.append("  evidence:")
            lines += [f"    {number:>4} | {text}" for number, text in self.evidence]
        if self.log_path:
            lines.append(f"  full log: {self.log_path}")
        return "\n".join(lines)

    def __reduce__(self):
        """Picklable with every detail (a process pool or a saved state carries the whole error;
        Exception's own pickling would call __init__ with the message alone)."""
        details = dict(value=self.value, rule=self.rule, evidence=self.evidence, output=self.output, log_path=self.log_path)
        return _rebuild, (type(self), self.where, self.problem, self.fix, details)

    def with_details(self, **details) -> "MlenvError":
        """The same error with diagnosis details added (rule, evidence, log_path)."""
        fields = dict(value=self.value, rule=self.rule, evidence=self.evidence, output=self.output, log_path=self.log_path)
        fields.update(details)
        return type(self)(self.where, self.problem, self.fix, **fields)


def _rebuild(kind: type, where: str, problem: str, fix: str, details: dict) -> MlenvError:
    return kind(where, problem, fix, **details)


SHOWN_CHARS = 200


def clip(text: object, limit: int = SHOWN_CHARS) -> str:
    """Text as shown in a message: at most `limit` characters, lone surrogates escaped."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shown_value(value: object) -> str:
    """A value as a message quotes it: its repr, at most SHOWN_CHARS characters (an alias bomb or a
    huge file must not become a huge message; an int too long for str() is described)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # int over Python's digit limit, a self-containing list
        text = f"<{type(value).__name__} too large to show>"
    return clip(text)


class SpecError(MlenvError):
    """The definition is invalid; raised before anything is resolved or built."""


DefinitionError = SpecError  # the stage's name; SpecError stays for the many call sites


class BuildError(MlenvError):
    """Resolving, building or publishing failed; nothing was tagged."""


class ResolveError(BuildError):
    """The packages could not be locked or downloaded (index, pins, wheels)."""


class StoreError(BuildError):
    """An image store (an OCI layout directory, a registry) could not be read or written."""


class RegistryError(StoreError):
    """A remote registry refused the request, failed, or did not answer."""


class EngineError(BuildError):
    """The Docker engine could not be reached, or a build it ran failed."""


class CacheError(BuildError):
    """The local cache (~/.cache/mlenv) holds something that does not match what it should."""


class InternalError(MlenvError):
    """Not a failure we explain: a bug, or a library error no stage turned into one of the above.
    Shown as one line naming the exception and the saved log with its traceback (see last_resort)."""

    @property
    def headline(self) -> str:
        saved = f"full log at {self.log_path}" if self.log_path else "no log could be saved"
        return f"internal error: {self.problem}; {saved}, please report"

    def render(self) -> str:
        return self.headline


def unknown_field(where: str, key: object, known: tuple[str, ...]) -> SpecError:
    """The one message for a field we do not know: the closest known one, else the list of them."""
    import difflib

    close = difflib.get_close_matches(str(key), known, n=1)
    fix = f"did you mean '{close[0]}'?" if close else f"known fields are {', '.join(k for k in known if k != '$schema')}"
    return SpecError(where, "unknown field", fix)


class SpecWarning(MlenvError):
    """A definition that builds but probably not as meant (a mutable tag, an unpinned package).
    Never raised: collected and shown as a Pulumi warning in preview and as a CLI warning."""
