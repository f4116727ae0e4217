"""Damaged cache entries are checked when used, discarded and rebuilt, with a warning in the build
log: every build after a damage succeeds with the very digest an undamaged cache gives, so a cached
wheel swapped for another version's can never produce an image. A file hashed once is trusted by its
stamp (cache.py) while its size, mtime, ctime and inode stay; a damage in place after the stamp
changes one of them, and is caught the same way."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build

pytestmark = pytest.mark.integration


def _spec(base: str):
    return from_mapping({"image": base, "pip": ["six==1.16.0"]})


@pytest.fixture(scope="module")
def reference(tmp_path_factory, base_image, index_settings, registry, wheelhouse):
    """A cache filled by one clean build into a layout (so it holds the base's blobs too), and its digest."""
    folder = tmp_path_factory.mktemp("damage-reference")
    previous = os.environ["MLENV_CACHE_DIR"]
    os.environ["MLENV_CACHE_DIR"] = str(folder / "cache")
    try:
        result = build(_spec(base_image), f"oci:{folder / 'layout'}", index=index_settings)
    finally:
        os.environ["MLENV_CACHE_DIR"] = previous
    return folder / "cache", result.digest


def _own(path: Path) -> Path:
    """Break the hard link to the reference cache before damaging the file in place."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    return path


def _six_path(cache: Path) -> Path:
    return next(cache.glob("wheels/*/*/six-1.16.0-*.whl"))


def _six_wheel(cache: Path) -> Path:
    return _own(_six_path(cache))


def _layer(cache: Path, holding: str) -> Path:
    for folder in (cache / "layers").iterdir():
        with tarfile.open(folder / "layer.tar.gz") as tar:
            if any(holding in name for name in tar.getnames()):
                return folder
    raise AssertionError(f"no cached layer holds {holding}")


def _truncate(path: Path) -> None:
    _own(path).write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def _flip(path: Path) -> None:
    data = bytearray(_own(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _swap_wheel(cache: Path, wheelhouse: Path, drop_layers: bool) -> None:
    _six_wheel(cache).write_bytes(next(wheelhouse.glob("six-1.17.0-*.whl")).read_bytes())
    if drop_layers:
        shutil.rmtree(cache / "layers")


def _json(path: Path, text: str) -> None:
    _own(path).write_text(text)


def _facts(cache: Path) -> Path:
    return next((cache / "base").glob("*.json"))


def _base_blob(cache: Path) -> Path:
    return max((cache / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)


def _orphan(cache: Path) -> None:
    leftover = cache / "tmp" / ".part-999999-deadbeef0000"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"half a layer")
    os.utime(leftover, (time.time() - 3600,) * 2)


# name: (damage(cache, wheelhouse), what the warning names or None for an entry simply missing, to a layout?)
DAMAGES = {
    "wheel truncated": (lambda c, w: _truncate(_six_wheel(c)), "wheel", False),
    "wheel with a flipped byte": (lambda c, w: _flip(_six_wheel(c)), "wheel", False),
    "wheel emptied": (lambda c, w: _six_wheel(c).write_bytes(b""), "wheel", False),
    "wheel swapped for 1.17.0, layers gone": (lambda c, w: _swap_wheel(c, w, True), "wheel", False),
    "wheel swapped for 1.17.0": (lambda c, w: _swap_wheel(c, w, False), "wheel", False),
    "layer.json truncated": (lambda c, w: _truncate(_layer(c, "six.py") / "layer.json"), "layer", False),
    "layer.json a list": (lambda c, w: _json(_layer(c, "six.py") / "layer.json", "[]"), "layer", False),
    "layer.json with a wrong size": (lambda c, w: _json(_layer(c, "six.py") / "layer.json", json.dumps(
        {**json.loads((_layer(c, "six.py") / "layer.json").read_text()), "size": 1})), "layer", False),
    "layer.json gone": (lambda c, w: (_layer(c, "six.py") / "layer.json").unlink(), None, False),
    "layer tar truncated": (lambda c, w: _truncate(_layer(c, "six.py") / "layer.tar.gz"), "layer", False),
    "layer tar with a flipped byte": (lambda c, w: _flip(_layer(c, "six.py") / "layer.tar.gz"), "layer", False),
    "layer tar gone": (lambda c, w: (_layer(c, "six.py") / "layer.tar.gz").unlink(), "layer", False),
    "layer tar swapped for another layer's": (lambda c, w: _own(_layer(c, "six.py") / "layer.tar.gz").write_bytes(
        (_layer(c, "pyvenv.cfg") / "layer.tar.gz").read_bytes()), "layer", False),
    "base facts truncated": (lambda c, w: _truncate(_facts(c)), "base-image facts", False),
    "base facts of the wrong types": (lambda c, w: _json(_facts(c), '{"version": 3, "interpreter": null, "glibc": []}'), "base-image facts", False),
    "base facts binary": (lambda c, w: _own(_facts(c)).write_bytes(b"\x00\xff\xfe" * 10), "base-image facts", False),
    "base facts empty": (lambda c, w: _json(_facts(c), ""), "base-image facts", False),
    "base blob truncated": (lambda c, w: _truncate(_base_blob(c)), "base-image blob", True),
    "base blob with a flipped byte": (lambda c, w: _flip(_base_blob(c)), "base-image blob", True),
    "a killed build's temporary": (lambda c, w: _orphan(c), None, False),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(name, reference, wheelhouse, tmp_path, base_image, registry, index_settings, monkeypatch):
    damage, warned, to_layout = DAMAGES[name]
    cache = tmp_path / "cache"
    shutil.copytree(reference[0], cache, copy_function=os.link)
    damage(cache, wheelhouse)
    monkeypatch.setenv("MLENV_CACHE_DIR", str(cache))
    lines: list[str] = []
    target = f"oci:{tmp_path / 'layout'}" if to_layout else f"{registry.host}/damage/{tmp_path.name.lower()}"
    result = build(_spec(base_image), target, index=index_settings, log=lines.append)
    assert result.digest == reference[1], "the same image as from an undamaged cache"
    warnings = [line for line in lines if line.startswith("warning: ")]
    if warned:
        assert len(warnings) == 1 and f"the cached {warned} " in warnings[0], lines
    else:
        assert not warnings, lines
    assert not list((cache / "tmp").glob(".part-*")), "no temporary left, the orphan included"
    assert _whole(cache), "repaired: the checks a build makes find nothing wrong any more"


def _whole(cache: Path) -> bool:
    """Every entry passes the check made when it is used, and none of them warns."""
    from mlenv.cache import verified_file, warnings_to
    from mlenv.oci.base_image import _cached_facts
    from mlenv.oci.layers import _reuse

    said: list[str] = []
    with warnings_to(said.append):
        wheels = all(verified_file(path, path.parent.name, "wheel") for path in cache.glob("wheels/*/*/*.whl"))
        blobs = all(verified_file(path, path.name, "blob") for path in cache.glob("blobs/sha256/*"))
        layers = all(_reuse(folder, "") for folder in (cache / "layers").iterdir())
        facts = all(_cached_facts(path) for path in cache.glob("base/*.json"))
    return wheels and blobs and layers and facts and not said


def _flip_in_place(path: Path, *, keep_mtime: bool = False) -> None:
    """One byte changed through the same inode: the size stays, and with keep_mtime the mtime too."""
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(before.st_size // 2)
        byte = handle.read(1)[0]
        handle.seek(before.st_size // 2)
        handle.write(bytes([byte ^ 0xFF]))
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _six_layer_tar(cache: Path) -> Path:
    return _layer(cache, "six.py") / "layer.tar.gz"


# name: (the file, damaged in place after the whole cache is stamped; the damage; what the warning names; to a layout?)
IN_PLACE = {
    "wheel: a byte flipped": (_six_path, _flip_in_place, "wheel", False),
    "wheel: a byte flipped, its mtime put back": (_six_path, lambda p: _flip_in_place(p, keep_mtime=True), "wheel", False),
    "wheel: truncated": (_six_path, lambda p: os.truncate(p, p.stat().st_size // 2), "wheel", False),
    "layer tar: a byte flipped": (_six_layer_tar, _flip_in_place, "layer", False),
    "layer tar: a byte flipped, its mtime put back": (_six_layer_tar, lambda p: _flip_in_place(p, keep_mtime=True), "layer", False),
    "base blob: a byte flipped": (_base_blob, _flip_in_place, "base-image blob", True),
}


@pytest.mark.parametrize("name", list(IN_PLACE))
def test_a_stamped_entry_damaged_in_place_is_caught(name, reference, tmp_path, base_image, registry, index_settings, monkeypatch):
    locate, damage, warned, to_layout = IN_PLACE[name]
    cache = tmp_path / "cache"
    shutil.copytree(reference[0], cache, copy_function=os.link)
    monkeypatch.setenv("MLENV_CACHE_DIR", str(cache))
    entry = _own(locate(cache))
    assert _whole(cache), "every entry hashed, and stamped as it is now"
    time.sleep(0.05)  # past the kernel's coarse clock tick: the damage gets a time of its own
    damage(entry)
    lines: list[str] = []
    target = f"oci:{tmp_path / 'layout'}" if to_layout else f"{registry.host}/damage/{tmp_path.name.lower()}"
    result = build(_spec(base_image), target, index=index_settings, log=lines.append)
    assert result.digest == reference[1], "the same image as from an undamaged cache"
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 1 and f"the cached {warned} " in warnings[0], lines
    assert _whole(cache)


def test_a_stamped_cache_is_not_hashed_again(reference, tmp_path, base_image, registry, index_settings, monkeypatch):
    """What makes a warm build fast: with every entry stamped, a build into a new repository reads
    no cached wheel, layer or blob whole to check it."""
    from mlenv import cache as cache_module

    cache = tmp_path / "cache"
    shutil.copytree(reference[0], cache, copy_function=os.link)
    monkeypatch.setenv("MLENV_CACHE_DIR", str(cache))
    assert _whole(cache)
    hashed: list[str] = []
    monkeypatch.setattr(cache_module, "sha256_file", lambda path: hashed.append(str(path)) or "0" * 64)
    result = build(_spec(base_image), f"{registry.host}/damage/{tmp_path.name.lower()}", index=index_settings)
    assert result.digest == reference[1] and not result.cache_hit
    assert hashed == []
