"""Requirements as pip reads them, built for real (the pypiserver index over the wheelhouse, the
registry, and a Docker engine to run what was built, all on 127.0.0.1):

- direct references: a wheel URL and an sdist URL on the index (pypiserver serves its files at
  /packages/…), and a git reference to a local bare repository through git+file:// (no remote git
  is reachable from these machines), locked by URL + sha256 and by commit;
- sdist-only packages built into wheels on the host, reproducibly, and a C-extension sdist refused;
- a version whose wheels stop at CPython 3.10, and a resolver that would fall back to an older
  version or a pre-release (the made-up packages of testbed/services.py).
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from mlenv.definition.load import from_mapping
from mlenv.diagnostics.errors import BuildError
from mlenv.identity.hashing import definition_hash, tag_for
from mlenv.pipeline import build
from mlenv.resolve.pip_lock import resolve
from mlenv.resolve.target import PythonFacts

pytestmark = pytest.mark.integration
PYTHON = PythonFacts("3.11", "/usr/bin/python3.11", "2.36")


def spec(base, *pip):
    return from_mapping({"image": base, "pip": list(pip)})


def packages_url(index) -> str:
    return index.url.replace("/simple/", "/packages/")


def run(docker_engine, result, script: str) -> str:
    docker_engine.images.pull(result.image_ref)
    return docker_engine.containers.run(result.image_ref, ["python", "-c", script], remove=True).decode().strip()


def failure(registry, definition, repository, index_settings) -> BuildError:
    with pytest.raises(BuildError) as caught:
        build(definition, f"{registry.host}/{repository}", index=index_settings)
    assert tag_for(definition_hash(definition)) not in _tags(registry, repository)
    return caught.value


def _tags(registry, repository):
    import httpx

    response = httpx.get(f"{registry.url}/v2/{repository}/tags/list")
    return [] if response.status_code == 404 else (response.json().get("tags") or [])


@pytest.fixture(scope="module")
def git_repository(tmp_path_factory):
    """A bare git repository with a pure-Python package, tagged v0.3 (a local stand-in for GitHub)."""
    work = tmp_path_factory.mktemp("git")
    source, bare = work / "src", work / "gitpkg.git"
    (source / "gitpkg").mkdir(parents=True)
    (source / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                                           '[project]\nname = "gitpkg"\nversion = "0.3"\n')
    (source / "gitpkg" / "__init__.py").write_text("VALUE = 'from git'\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", str(source)], check=True)
    subprocess.run([*git, "-C", str(source), "add", "."], check=True)
    subprocess.run([*git, "-C", str(source), "commit", "-qm", "v0.3"], check=True)
    subprocess.run([*git, "-C", str(source), "tag", "v0.3"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    commit = subprocess.run(["git", "-C", str(bare), "rev-parse", "v0.3"], capture_output=True, text=True, check=True).stdout.strip()
    return bare, commit


# -- 5: direct references -----------------------------------------------------------------------

def test_direct_references_build_and_are_locked_by_url_sha256_and_commit(registry, base_image, index, index_settings, git_repository, docker_engine):
    bare, commit = git_repository
    files = packages_url(index)
    definition = spec(base_image, f"six @ {files}six-1.16.0-py2.py3-none-any.whl", f"onlysdist @ {files}onlysdist-0.1.tar.gz",
                      f"gitpkg @ git+{bare.as_uri()}@v0.3", f"six @ {files}six-1.16.0-py2.py3-none-any.whl")  # the same line twice: one requirement
    wheels = {w.name: w for w in resolve(definition.pip, PYTHON, index_settings)}
    assert wheels["six"].url == f"{files}six-1.16.0-py2.py3-none-any.whl" and wheels["six"].source == ""
    assert wheels["onlysdist"].source.startswith(f"{files}onlysdist-0.1.tar.gz#sha256=")
    assert wheels["gitpkg"].source == f"git+{bare.as_uri()}@{commit}"  # the tag, resolved to its commit
    result = build(definition, f"{registry.host}/envs/direct", index=index_settings)
    assert {"six==1.16.0", "onlysdist==0.1", "gitpkg==0.3"} <= set(result.packages)
    assert run(docker_engine, result, "import six, onlysdist, gitpkg; print(six.__version__, gitpkg.VALUE)") == "1.16.0 from git"


def test_a_git_reference_with_the_wrong_name_is_one_error(registry, base_image, index_settings, git_repository):
    err = failure(registry, spec(base_image, f"other @ git+{git_repository[0].as_uri()}@v0.3"), "envs/direct-wrong", index_settings)
    assert err.rule == "resolution.direct-reference-name"
    assert err.headline == ("pip: the requirement names other, but the archive or repository it points at is the package gitpkg. "
                            "Fix: write gitpkg @ URL: the name before @ must be the package's own name")


def test_a_git_tag_that_does_not_exist_is_one_error(registry, base_image, index_settings, git_repository):
    err = failure(registry, spec(base_image, f"gitpkg @ git+{git_repository[0].as_uri()}@v9"), "envs/direct-notag", index_settings)
    assert err.rule == "resolution.git-unreachable"
    assert err.problem == f"git could not fetch git+{git_repository[0].as_uri()}@v9 for gitpkg: couldn't find remote ref refs/tags/v9"


# -- 6: source distributions --------------------------------------------------------------------

def test_a_pure_python_sdist_is_built_into_a_wheel_and_installed(registry, base_image, index_settings, docker_engine):
    result = build(spec(base_image, "onlysdist==0.1", "six==1.16.0"), f"{registry.host}/envs/sdist", index=index_settings)
    assert "onlysdist==0.1" in result.packages
    assert run(docker_engine, result, "import onlysdist; print(onlysdist.__file__)") == "/opt/env/lib/python3.11/site-packages/onlysdist/__init__.py"


def test_building_an_sdist_twice_gives_the_same_wheel(index_settings, tmp_path, monkeypatch):
    built = []
    for attempt in ("a", "b"):  # two empty caches: nothing reused between the builds
        monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path / attempt))
        wheel = next(w for w in resolve(spec("127.0.0.1:1/x:1", "onlysdist==0.1").pip, PYTHON, index_settings) if w.name == "onlysdist")
        assert wheel.url.startswith((tmp_path / attempt).as_uri())
        built.append((wheel.sha256, hashlib.sha256((tmp_path / attempt / wheel.url.split(attempt + "/", 1)[1]).read_bytes()).hexdigest()))
    assert built[0] == built[1] and built[0][0] == built[0][1]


def test_an_sdist_with_a_c_extension_is_refused_by_name(registry, base_image, index_settings):
    err = failure(registry, spec(base_image, "cext==0.1"), "envs/cext", index_settings)
    assert err.rule == "resolution.sdist-needs-compiler"
    assert err.headline.startswith("pip: cext==0.1 has no wheel for the target, and its source distribution needs a compiler (it holds cext/_speed.c)")
    assert "docker builder (builder: docker)" in err.fix and "conda package" in err.fix


# -- 7: wheels that stop at an older Python ----------------------------------------------------

@pytest.mark.parametrize("requirement", ["oldpython==1.0", "oldpython"])
def test_wheels_for_older_pythons_only_get_their_own_diagnosis(registry, base_image, index_settings, requirement):
    err = failure(registry, spec(base_image, requirement), "envs/oldpython", index_settings)
    assert err.rule == "resolution.no-wheel-for-python"
    assert err.headline == ("pip: oldpython==1.0 has wheels for CPython 3.8–3.10, the base image has 3.11. Fix: pin a newer version of "
                            "oldpython that publishes wheels for CPython 3.11; or use Python 3.10: a base image with it, or python=3.10 from conda")


# -- 8: no silent downgrade --------------------------------------------------------------------

def test_falling_back_to_an_older_version_fails_with_the_version_pip_would_pick(registry, base_image, index_settings):
    err = failure(registry, spec(base_image, "fallback"), "envs/fallback", index_settings)
    assert err.rule == "resolution.silent-downgrade"
    assert err.problem == ("fallback would lock to 1.0, instead of fallback==2.0, the version pip picks for the requirement, because "
                           "fallback==2.0 cannot be installed here: fallback==2.0 has wheels for CPython 3.8–3.10, the base image has 3.11")
    assert err.fix.startswith("pin fallback==1.0 if that older version is really what you want")


def test_falling_back_to_a_pre_release_fails(registry, base_image, index_settings):
    err = failure(registry, spec(base_image, "prefall"), "envs/prefall", index_settings)
    assert err.rule == "resolution.silent-downgrade"
    assert err.problem.startswith("prefall would lock to 0.1.0b1, a pre-release, instead of prefall==1.6.1")


@pytest.mark.parametrize("requirement, locked", [("fallback<2", "fallback==1.0"), ("prefall==0.1.0b1", "prefall==0.1.0b1"),
                                                 ("purenew", "purenew==2.0")])
def test_what_pip_would_install_is_installed(index_settings, requirement, locked):
    """An older version the definition asks for, a pre-release it pins, and a newest version that is
    only a pure-Python sdist (built here rather than falling back to 1.0's wheel)."""
    assert [w.pin for w in resolve(spec("127.0.0.1:1/x:1", requirement).pip, PYTHON, index_settings)] == [locked]
