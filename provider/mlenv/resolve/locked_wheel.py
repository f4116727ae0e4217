"""One locked wheel (what the lock records and the builders install), and pip's hash-checking
mode over the files a lock entry offers."""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.diagnostics.errors import ResolveError


@dataclass(frozen=True)
class LockedWheel:
    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int
    source: str = ""  # built here: the sdist's URL#sha256, or git+URL@commit; "" for a published wheel

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def hash_checked(name: str, files: list[dict], hashes: tuple[str, ...] | None) -> list[dict]:
    """Only the files a `--hash=` pin allows, as pip's hash-checking mode does."""
    if not hashes:
        return files
    sha256 = {h.split(":", 1)[1] for h in hashes if h.startswith("sha256:")}
    if not sha256:
        raise ResolveError(f"pip.{name}", "only sha384/sha512 hashes are given, and the lock records sha256", "add the sha256 hashes (pip-compile --generate-hashes writes them)", sorted(hashes))
    matching = [f for f in files if f.get("hashes", {}).get("sha256") in sha256]
    if not matching:
        found = ", ".join(f.get("hashes", {}).get("sha256", "?")[:16] + "…" for f in files)
        raise ResolveError(f"pip.{name}", f"no file of {name} on the index matches its --hash values (the index offers {found})",
                           "regenerate the hashes from the index you build against, or check that the index serves the files you reviewed", rule="resolution.hash-mismatch")
    return matching
