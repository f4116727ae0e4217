"""The engine's built image back into our parts: `docker save` streamed (the base's layers hashed
and dropped, they are in the registry already), the rest gzipped deterministically as our layers,
the engine's config as it is; and the reverse, files on disk loaded into the engine to run verify."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SavedLayer:
    diff_id: str
    tar: Path  # the uncompressed layer tar, extracted from `docker save`
    created_by: str


@dataclass(frozen=True)
class SavedImage:
    config: dict
    layers: tuple[SavedLayer, ...]


def save(client, image: str, work: Path, skip: frozenset[str] = frozenset()) -> SavedImage:
    """The image as `docker save` streams it: config and uncompressed layer tars, in order. Layers
    whose diff_id is in `skip` (the base's, already in the registry) are hashed and dropped, not kept."""
    import hashlib

    out = Path(tempfile.mkdtemp(prefix="saved-", dir=work))
    documents: dict[str, bytes] = {}
    kept: dict[str, Path] = {}
    with tarfile.open(fileobj=_Stream(client.images.get(image).save(named=False)), mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            source = tar.extractfile(member)
            if member.size < 1 << 20 and not member.name.endswith("layer.tar"):
                documents[member.name] = source.read()  # manifest, config, small layers: kept in memory
                continue
            target, digest = out / f"{len(kept)}.tar", hashlib.sha256()
            with target.open("wb") as handle:
                for chunk in iter(lambda: source.read(1024 * 1024), b""):
                    digest.update(chunk)
                    handle.write(chunk)
            kept[member.name] = target
            if f"sha256:{digest.hexdigest()}" in skip:
                target.unlink()
    for name, data in documents.items():  # a small layer (docker 25+ saves an OCI layout of blobs/)
        if name not in ("manifest.json", "index.json", "oci-layout", "repositories"):
            kept.setdefault(name, out / f"small-{len(kept)}.tar").write_bytes(data)
    (entry,) = json.loads(documents["manifest.json"])
    config = json.loads(documents[entry["Config"]])
    diff_ids = config["rootfs"]["diff_ids"]
    history = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    history = history[-len(diff_ids):] if len(history) >= len(diff_ids) else [""] * len(diff_ids)
    layers = tuple(SavedLayer(d, kept[path], created) for d, path, created in zip(diff_ids, entry["Layers"], history))
    return SavedImage(config, layers)


class _Stream(io.RawIOBase):
    """A file over the chunks the engine streams, so tarfile reads the archive without a copy on disk."""

    def __init__(self, chunks):
        self.chunks, self.pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            self.pending = next(self.chunks, None)
            if self.pending is None:
                self.pending = b""
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def save_over_base(client, image: str, work: Path, base) -> SavedImage:
    """`save` dropping the base's layers; saved again whole in the rare case the image turns out not
    to start with them (then every layer is ours)."""
    saved = save(client, image, work, frozenset(base_diff_ids(base)))
    if starts_with_base(saved, base) or all(layer.tar.exists() for layer in saved.layers):
        return saved
    return save(client, image, work)


def base_diff_ids(base) -> list[str]:
    return (base.config.get("rootfs") or {}).get("diff_ids") or [] if base else []


def starts_with_base(saved: SavedImage, base) -> bool:
    base_ids = base_diff_ids(base)
    return bool(base_ids) and [layer.diff_id for layer in saved.layers[:len(base_ids)]] == base_ids


def image_parts(saved: SavedImage, base, work: Path):
    """Our layers (gzip, deterministic) for what the build added on top of the base, and the engine's
    config as it is. Returns the base too, or None when the image does not start with the base's
    layers (then every layer is ours)."""
    reused = starts_with_base(saved, base)
    ours = saved.layers[len(base_diff_ids(base)):] if reused else saved.layers
    layers = [_compressed(layer, work / f"layer-{index}.tar.gz") for index, layer in enumerate(ours)]
    return layers, saved.config, base if reused else None


def _compressed(layer: SavedLayer, target: Path):
    """A saved layer as our gzip layer, compressed the same deterministic way as the daemonless builder's."""
    from mlenv.oci.layers import Layer, gzip_to

    with layer.tar.open("rb") as source:
        digest, size = gzip_to(target, lambda gz: shutil.copyfileobj(source, gz, 1024 * 1024))
    return Layer(target, digest, layer.diff_id, size, layer.created_by)


def load_image(client, config: bytes, layer_paths: list[Path], tag: str) -> str:
    """Load an image made of files on disk into the engine (a docker-archive), to run verify."""
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            names = []
            for index, path in enumerate(layer_paths):
                names.append(f"{index}/layer.tar")
                tar.add(path, arcname=names[-1])
            for name, data in (("config.json", config), ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": names}]).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        archive.seek(0)
        _loaded(client.api.load_image(archive), tag)
    return tag


def _loaded(progress, tag: str) -> None:
    """Read the engine's answer to the end: the load is done only when its stream ends (returning
    earlier raced the engine, whose `run` then looked for the tag on Docker Hub), and an error in it
    is the load's failure."""
    from mlenv.diagnostics.errors import EngineError

    for message in progress or ():
        if isinstance(message, dict) and message.get("error"):
            raise EngineError("verify", f"the Docker engine could not load the built image {tag}: {message['error']}",
                              "check the engine's disk space and log; nothing was tagged")
