"""The one copy of digests and canonical JSON (mlenv/digests.py) spells bytes as every caller did
before it: a new spelling would change definition hashes, lock hashes, image digests or cache keys."""

from __future__ import annotations

import hashlib

from mlenv.digests import cache_key, canonical_json, digest_of, file_digest, file_digests, sha256_file


def test_canonical_json_sorts_keys_drops_whitespace_and_escapes_only_when_asked():
    data = {"b": [1, 2], "a": "é"}
    assert canonical_json(data) == '{"a":"é","b":[1,2]}'.encode()
    assert canonical_json(data, ensure_ascii=True) == b'{"a":"\\u00e9","b":[1,2]}'


def test_cache_keys_keep_the_plain_json_spelling():
    assert cache_key(["mlenv-oci/1", "a b"]) == hashlib.sha256(b'["mlenv-oci/1", "a b"]').hexdigest()


def test_file_digests_read_once_for_every_algorithm(tmp_path):
    path = tmp_path / "w.whl"
    path.write_bytes(b"x" * (3 << 20))  # more than one chunk
    expected = {name: hashlib.new(name, path.read_bytes()).hexdigest() for name in ("sha256", "sha512")}
    assert file_digests(path, ("sha256", "sha512")) == expected
    assert sha256_file(path) == expected["sha256"]
    assert file_digest(path) == digest_of(path.read_bytes()) == "sha256:" + expected["sha256"]
