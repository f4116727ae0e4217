"""The cache's record of where each blob was pushed: per host, the most recent first, bounded,
forgotten on request, and a damaged record is a warning and an empty answer, never an error."""

from __future__ import annotations

import pytest

from mlenv.cache import warnings_to
from mlenv.oci import blob_sources

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))


def test_repositories_are_kept_per_host_most_recent_first():
    blob_sources.remember(DIGEST, "reg.example", "team/a")
    blob_sources.remember(DIGEST, "other.example:5000", "team/a")
    blob_sources.remember(DIGEST, "reg.example", "team/b")
    blob_sources.remember(DIGEST, "reg.example", "team/a")
    assert blob_sources.repositories_on("reg.example", DIGEST) == ["team/a", "team/b"]
    assert blob_sources.repositories_on("other.example:5000", DIGEST) == ["team/a"]
    blob_sources.forget(DIGEST, "reg.example", "team/a")
    assert blob_sources.repositories_on("reg.example", DIGEST) == ["team/b"]


def test_the_record_is_bounded():
    for number in range(blob_sources.KEEP + 5):
        blob_sources.remember(DIGEST, "reg.example", f"team/{number}")
    kept = blob_sources.repositories_on("reg.example", DIGEST)
    assert len(kept) == blob_sources.KEEP and kept[0] == f"team/{blob_sources.KEEP + 4}"


def test_a_damaged_record_is_a_warning_and_is_written_again(tmp_path):
    blob_sources.remember(DIGEST, "reg.example", "team/a")
    record = tmp_path / "blob-sources" / "sha256" / f"{DIGEST[7:]}.json"
    record.write_text('{"not": "a list"')
    said: list[str] = []
    with warnings_to(said.append):
        assert blob_sources.repositories_on("reg.example", DIGEST) == []
        blob_sources.remember(DIGEST, "reg.example", "team/b")
    assert said and "damaged" in said[0] and "team/a" not in said[0]
    assert blob_sources.repositories_on("reg.example", DIGEST) == ["team/b"]


def test_a_name_that_is_no_digest_is_never_a_path(tmp_path):
    blob_sources.remember("sha256:../../escape", "reg.example", "team/a")
    assert blob_sources.repositories_on("reg.example", "sha256:../../escape") == []
    assert not (tmp_path / "blob-sources").exists()
