"""A no-op `mlenv build` in milliseconds: the same command, run again when nothing it depended on
has changed, prints what its last cache hit printed, without loading, validating and hashing the
definition or importing the build stack (issue 13: a no-op no slower than a cached `docker build`).

A run that ends in a cache hit, registered in the catalogue, leaves a memo in
$MLENV_CACHE_DIR/replay/, named by a key of the command's arguments, its working folder, the MLENV_
variables (passwords left out, URL logins removed) and mlenv's own files. The memo holds what the
run printed and what that depended on:
- every file and folder the definition's loading opened for reading or listed (seen through an
  audit hook, so no loader has to report them), the definition itself, and the folder of each file
  read (a file added beside one changes its folder), each by size, times, inode and device;
- every tag or digest the run read or wrote in the target repository, with the manifest digest it
  named (or none), and the repository's tags of the catalogue name it registered under.

A replay stats those files and asks the registry for those manifests and that listing again: with
plain GETs over a socket for a loopback registry (oci/tag_reader.py), through RegistryStore for any
other or for an answer that is not that simple (TLS, a login), or from the layout's index.json.
When every answer is the same, a full run would print the same, so the memo is printed. Anything else (a changed file, a moved tag, any error at all) falls
through to the full run, which writes a new memo. Only that falling through is the replay's
answer: it never fails a command itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mlenv.build_report import print_line, result_text
from mlenv.cache import cache_dir, file_identity
from mlenv.diagnostics.redact import redact
from mlenv.digests import digest_of, sha256_hex

FOLDER = "replay"
MEMOS = 200  # memos kept (one per command, folder and settings): the oldest go first
_watched: set[str] | None = None  # the paths opened or listed while `watching_inputs` is entered
_hooked = False


def replayed(argv: list[str]) -> bool:
    """Print the output of this command's last cache hit and return True, when it still holds."""
    started = time.monotonic()
    try:
        with open(_memo_path(argv), "rb") as handle:
            memo = json.load(handle)
        if not (_inputs_unchanged(memo["inputs"]) and _repository_unchanged(memo)):
            return False
    except Exception:  # noqa: BLE001 - whatever went wrong, the full path decides, and explains
        return False
    for stream, line in memo["printed"]:
        print_line(stream, line)
    print(result_text(memo["outputs"], time.monotonic() - started, memo["json"]))
    return True


def remember(argv: list[str], watched: set[str], definition: str, recorder: Recorder, *, printed: list[tuple[str, str]],
             outputs: dict, as_json: bool) -> None:
    """Leave the memo of a run that ended in a registered cache hit whose every registry call was
    a manifest read or write or the tag listing; best effort (without a memo the next run is full)."""
    from mlenv.cache import write_atomically

    if not (outputs["cache_hit"] and outputs["version"] and recorder.only_tags) or any(redact(line) != line for _, line in printed):
        return  # a secret in what was printed is never written to the cache
    listing = None if recorder.listing is None else _of_name(recorder.listing, outputs["name"])
    memo = {**_where(recorder.store), "inputs": _identities(watched, os.path.abspath(definition)), "manifests": recorder.manifests,
            "listing": listing, "printed": printed, "outputs": outputs, "json": as_json}
    try:
        write_atomically(_memo_path(argv), json.dumps(memo).encode())
        _keep_newest(cache_dir() / FOLDER, MEMOS)
    except OSError:
        pass


def _where(store) -> dict:
    """The repository the memo's tags are read from again: a RegistryStore's, or a LayoutStore's."""
    if hasattr(store, "base"):
        return {"registry": {"base": store.base, "host": store.host, "repository": store.repository}}
    return {"layout": str(store.root)}


# -- what the definition's loading read --------------------------------------------------------------
@contextmanager
def watching_inputs() -> Iterator[set[str]]:
    """The set of paths opened for reading or listed by the code run inside (module files are
    taken out when the memo is written: they are mlenv's own files, in the key)."""
    global _watched, _hooked
    if not _hooked:  # an audit hook cannot be removed: one per process, idle outside this block
        sys.addaudithook(_audit)
        _hooked = True
    _watched = watched = set()
    try:
        yield watched
    finally:
        _watched = None


def _audit(event: str, args: tuple) -> None:
    watched = _watched
    if watched is None:
        return
    if event == "open" and isinstance(args[0], (str, bytes)) and _reads(args[1], args[2]):
        watched.add(os.path.abspath(os.fsdecode(args[0])))
    elif event in ("os.listdir", "os.scandir") and isinstance(args[0], (str, bytes, type(None))):
        watched.add(os.path.abspath(os.fsdecode(args[0] or ".")))


def _reads(mode: str | None, flags: int) -> bool:
    return not flags & (os.O_WRONLY | os.O_RDWR) and not (mode and any(c in mode for c in "wax+"))


def _identities(watched: set[str], definition: str) -> dict[str, dict | None]:
    """The identity (None when missing) of the definition and of each path watched but the
    interpreter's module files and import folders, and of the folder of every file among them."""
    modules = {os.path.abspath(p) for m in list(sys.modules.values()) for p in (getattr(m, "__file__", None), getattr(m, "__cached__", None))
               if isinstance(p, str)}
    import_folders = {os.path.abspath(p or ".") for p in sys.path} | {os.path.dirname(p) for p in modules}
    paths = {p for p in watched if p not in modules and p not in import_folders} | {definition}
    paths |= {os.path.dirname(p) for p in paths if not os.path.isdir(p)}
    return {p: _identity(p) for p in sorted(paths)}


def _identity(path: str) -> dict | None:
    try:
        return file_identity(path)
    except OSError:
        return None


def _inputs_unchanged(inputs: dict[str, dict | None]) -> bool:
    return all(_identity(path) == known for path, known in inputs.items())


# -- what the registry said ----------------------------------------------------------------------------
class Recorder:
    """Wraps the target store (`wrap`, given to `pipeline.build`) and notes the manifest digest of
    each tag or digest read or written, and the tag listing; `only_tags` turns False when anything
    else is asked of the store (a replay could not ask it again)."""

    def __init__(self) -> None:
        self.store = None
        self.manifests: dict[str, str | None] = {}
        self.listing: list[str] | None = None
        self.only_tags = True

    def wrap(self, store):
        self.store = store
        return self

    def __getattr__(self, attribute: str):  # only for what this class does not define
        if attribute not in ("name", "close"):
            self.only_tags = False
        return getattr(self.store, attribute)

    def get_manifest(self, reference: str):
        found = self.store.get_manifest(reference)
        self.manifests[reference] = _digest(found)
        return found

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        self.store.put_manifest(reference, data, media_type)
        self.manifests[reference] = _digest((data, media_type))

    def list_tags(self) -> list[str]:
        self.listing = self.store.list_tags()
        return self.listing


def _repository_unchanged(memo: dict) -> bool:
    """Whether the manifests and the listing the memo noted are as they were: read over a socket
    from a loopback registry, else (TLS, a login, any answer not simple) through RegistryStore."""
    if "layout" in memo:
        from mlenv.oci.layout import LayoutStore

        return _same_answers(LayoutStore(memo["layout"]), memo)
    from mlenv.oci.tag_reader import TagReader, Unanswered

    try:
        return _same_answers(TagReader(memo["registry"]["base"]), memo)
    except Unanswered:
        from mlenv.oci.registry import RegistryStore
        from mlenv.settings import registry_credentials

        return _same_answers(RegistryStore(memo["registry"]["host"], memo["registry"]["repository"], registry_credentials()), memo)


def _same_answers(store, memo: dict) -> bool:
    try:
        if any(_digest(store.get_manifest(reference)) != digest for reference, digest in memo["manifests"].items()):
            return False
        return memo["listing"] is None or _of_name(store.list_tags(), memo["outputs"]["name"]) == memo["listing"]
    finally:
        store.close()


def _digest(found: tuple[bytes, str] | None) -> str | None:
    return None if found is None else digest_of(found[0])


def _of_name(tags: list[str], name: str) -> list[str]:
    """The tags of the catalogue name (NAME.…, catalogue/tags.py): what its registration read from
    the listing, and maybe a few it ignored, which only makes a replay more careful."""
    return sorted(t for t in tags if t.startswith(f"{name}."))


# -- the memo's key ------------------------------------------------------------------------------------
def _memo_path(argv: list[str]):
    return cache_dir() / FOLDER / f"{_key(argv)}.json"


def _key(argv: list[str]) -> str:
    """The command, its folder, the settings that can change what it prints, and mlenv's own files."""
    settings = sorted((k, redact(v)) for k, v in os.environ.items() if k.startswith("MLENV_") and not k.endswith("PASSWORD"))
    return sha256_hex(json.dumps([[redact(a) for a in argv], os.getcwd(), settings, _code_stamp()]).encode())


def _code_stamp() -> list:
    """Every file of the installed mlenv package, by path, size and mtime: an upgrade or an edit
    starts the memos afresh."""
    package = os.path.dirname(os.path.abspath(__file__))
    found = []
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = sorted(s for s in subfolders if s != "__pycache__")
        for name in sorted(files):
            stat = os.stat(os.path.join(folder, name))
            found.append([os.path.relpath(os.path.join(folder, name), package), stat.st_size, stat.st_mtime_ns])
    return found


def _keep_newest(folder, count: int) -> None:
    memos = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in memos[count:]:
        old.unlink(missing_ok=True)
