"""Every validation rule: the exact message a user reads (field, value, fix), error or warning."""

from __future__ import annotations

import pytest

from mlenv.diagnostics.errors import SpecError
from mlenv.definition.load import from_mapping, load_file
from mlenv.definition.rules import findings

BASE = "registry.example/base/python:3.11-bookworm"
DOCKERFILE = "FROM registry.example/base/python:3.11\n"


def errors_of(data, **kwargs):
    return [e.headline for e in findings(from_mapping(data, **kwargs)).errors]


def warnings_of(data, **kwargs):
    return [w.headline for w in findings(from_mapping(data, **kwargs)).warnings]


@pytest.mark.parametrize("name, prefix, hint", [("AzureML-sklearn", "AzureML", "; its counterpart here is mlenv:sklearn-1.5@latest"),
                                                ("microsoft-base", "microsoft", "; mlenv curated list shows the curated environments here"),
                                                ("mlenv:mine", "mlenv:", "")])
def test_reserved_name_prefixes(name, prefix, hint):
    assert errors_of({"name": name, "image": BASE}) == [
        f"name: the prefix '{prefix}' is reserved (curated environments) (got '{name}'). Fix: choose a name that does not start with AzureML, Microsoft or mlenv:{hint}"]


def test_name_over_255_characters():
    assert errors_of({"name": "n" * 256, "image": BASE}) == ["name: is 256 characters long, over the limit of 255. Fix: shorten it to at most 255 characters"]
    assert errors_of({"name": "n" * 255, "image": BASE}) == []


def test_no_docker_definition():
    assert errors_of({"pip": ["six==1.16.0"]}) == [
        "image: no Docker definition: a base image, a Dockerfile or a build context is required. Fix: set image (e.g. registry.example/base/python:3.11-bookworm), dockerfile, or build: {path: ./context}"]


def test_more_than_one_docker_definition(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    found = errors_of({"image": BASE, "dockerfile": DOCKERFILE, "build": {"path": str(tmp_path)}})
    assert found[0] == "image and dockerfile and build: more than one Docker definition. Fix: keep exactly one of image, dockerfile and build (a Dockerfile's FROM line names its base image)"


def test_build_context_without_dockerfile_or_outside(tmp_path):
    (tmp_path / "ctx").mkdir()
    with pytest.raises(SpecError) as missing:
        from_mapping({"build": {"path": str(tmp_path / "ctx")}})
    assert missing.value.headline == (f"build.dockerfile_path: there is no Dockerfile at this path in the build context {tmp_path / 'ctx'}; the context is empty "
                                      "(got 'Dockerfile'). Fix: set build.dockerfile_path to the Dockerfile's path relative to build.path")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    with pytest.raises(SpecError) as outside:
        from_mapping({"build": {"path": str(tmp_path / "ctx"), "dockerfile_path": "../Dockerfile"}})
    assert outside.value.headline == ("build.dockerfile_path: the Dockerfile must be inside the build context (got '../Dockerfile'). "
                                      "Fix: move the Dockerfile into build.path and give its path relative to it, e.g. Dockerfile or docker/Dockerfile")


@pytest.mark.parametrize("key, value", [("pip", ["six==1.16.0"]), ("variables", {"A": "1"}), ("conda", {"channels": ["conda-forge"], "dependencies": ["numpy=1.26"]})])
def test_fields_that_cannot_apply_to_a_build_context(tmp_path, key, value):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    found = errors_of({"build": {"path": str(tmp_path)}, key: value})
    assert f"{key}: cannot apply to a Docker build context: the context's Dockerfile defines the whole image. Fix: move {key} into the Dockerfile (e.g. RUN pip install ... / ENV ...), or use image with {key} instead of build" in found


@pytest.mark.parametrize("repository, tag, implied", [
    ("registry.example/base/python", None, " (no tag or digest: latest is implied)"),
    ("registry.example/base/python", "latest", ""),
    ("registry.example/base/python", "3.11-bookworm", ""),  # a version-like tag moves too
    ("127.0.0.1:5000/base/python", "3.11-bookworm", ""),  # a port is not a tag
])
def test_every_tag_without_a_digest_is_a_mutable_base(repository, tag, implied):
    image = f"{repository}:{tag}" if tag else repository
    tag = tag or "latest"
    assert warnings_of({"image": image}) == [
        f"image: mutable tag '{tag}'{implied}: the base can change under the same definition (got '{image}'). Fix: pin the digest: {repository}@sha256:... (a tag names no fixed image)"]


@pytest.mark.parametrize("image", [f"registry.example/base/python@sha256:{'a' * 64}", f"127.0.0.1:5000/base/python:3.11@sha256:{'a' * 64}", "oci:/srv/layout:base"])
def test_a_digest_or_a_local_layout_is_not_warned_about(image):
    assert warnings_of({"image": image}) == []


def test_python_version_missing_ambiguous_and_conflicting():
    conda = lambda *deps: {"image": BASE + "@sha256:" + "a" * 64, "conda": {"channels": ["conda-forge"], "dependencies": list(deps)}}  # noqa: E731
    assert "conda.dependencies: missing Python version: the base image's Python is used, whatever it is. Fix: pin it, e.g. add python=3.11 to the dependencies" in warnings_of(conda({"pip": ["six==1.16.0"]}))
    assert "conda.dependencies: ambiguous Python version: python>=3.8 does not pick one minor version. Fix: pin it, e.g. python=3.11" in warnings_of(conda("python>=3.8", {"pip": ["six==1.16.0"]}))
    assert errors_of(conda("python=3.10", "python=3.11")) [0] == "conda.dependencies: ambiguous Python version: python is listed 2 times (python=3.10, python=3.11). Fix: keep one entry, e.g. python=3.11"
    data = {**conda("python=3.10", {"pip": ["six==1.16.0"]}), "python": {"version": "3.11"}}
    assert errors_of(data) == ["python.version: ambiguous Python version: 3.11 here, 3.10 in the conda file (got '3.11'). Fix: make them agree, or drop python.version"]


def test_python_version_as_a_yaml_number():
    with pytest.raises(SpecError) as caught:
        from_mapping({"image": BASE, "python": {"version": 3.1}})
    assert caught.value.headline == "python.version: must be a quoted string (YAML reads 3.10 as the number 3.1) (got 3.1). Fix: write version: \"3.11\""


def test_conda_without_channels_warns_and_without_dependencies_fails(tmp_path):
    only_pip = {"image": BASE + "@sha256:" + "a" * 64, "conda": {"dependencies": ["python=3.11", {"pip": ["six==1.16.0"]}]}}
    assert "conda.channels: no channels: conda falls back to the installer's default channels, which differ between machines. Fix: list the channels explicitly, e.g. channels: [conda-forge]" in warnings_of(only_pip)
    (tmp_path / "env.yml").write_text("channels: [conda-forge]\ndependencies: []\n")
    try:
        found = errors_of({"image": BASE, "conda_file": str(tmp_path / "env.yml")})
    except SpecError as error:  # the conda parser may refuse an empty list itself
        found = [error.headline]
    assert any("dependencies" in message and "Fix:" in message for message in found)


def test_unpinned_packages_warn_with_the_version_they_would_lock_to():
    spec = from_mapping({"image": BASE + "@sha256:" + "a" * 64, "pip": ["requests>=2", "six==1.16.0"], "conda": {"channels": ["conda-forge"], "dependencies": ["python=3.11", "libgomp"]}})
    warnings = [w.headline for w in findings(spec, locked_versions={"requests": "2.32.3"}).warnings]
    assert "pip.requests: unpinned (requests>=2): it would lock to requests==2.32.3 today. Fix: pin it (requests==2.32.3) so a rebuild elsewhere gets the same version" in warnings
    assert 'conda.libgomp: unpinned: conda picks the newest version at build time. Fix: pin it in conda syntax, e.g. libgomp=X.Y or "libgomp>=X.Y,<Z"' in warnings
    assert not any(w.startswith("pip.six") for w in warnings)


def test_a_constrained_conda_pin_is_not_unpinned_and_the_fix_is_conda_syntax():
    from rattler import MatchSpec

    pins = ["numpy=1.26", "scipy>=1.10", "pandas 2.1.*", "libgomp==14.1.0", "zlib=1.3=h4ab18f5_1"]
    bare = ["openblas", "conda-forge::mkl", "tbb *"]
    spec = from_mapping({"image": BASE, "conda": {"channels": ["conda-forge"], "dependencies": ["python=3.11", *pins, *bare]}})
    unpinned = [w for w in findings(spec).warnings if w.problem.startswith("unpinned")]
    assert [w.where for w in unpinned] == ["conda.openblas", "conda.mkl", "conda.tbb"]
    for warning in unpinned:
        suggested = warning.fix.split("e.g. ")[1].split(" or ")[0]
        assert MatchSpec(suggested).version not in (None, "*"), suggested  # a real conda pin, not `numpy 1.26.*=X.Y`
    assert "conda-forge::mkl=X.Y" in unpinned[1].fix


LOGIN_FIX = ("give the login where a secret can go: in Pulumi, docker=DockerSection(base_image_registry=RegistrySection(username=..., "
             "password=config.require_secret(...))); with the CLI, leave it out of the definition and set MLENV_BASE_REGISTRY_USERNAME / "
             "MLENV_BASE_REGISTRY_PASSWORD, or run `docker login HOST` (mlenv reads Docker's config and its credential helpers)")


def test_registry_login_needs_both_halves(tmp_path):
    with_user = {"image": BASE, "docker": {"base_image_registry": {"username": "u"}}}
    assert errors_of(with_user) == [f"docker.base_image_registry.password: registry credentials need both a username and a password, and the password is missing. Fix: {LOGIN_FIX}"]
    with_password = {"image": BASE, "docker": {"base_image_registry": {"password": "p"}}}
    assert errors_of(with_password) == [f"docker.base_image_registry.username: registry credentials need both a username and a password, and the username is missing. Fix: {LOGIN_FIX}"]
    (tmp_path / "env.yml").write_text(f"image: {BASE}\ndocker:\n  base_image_registry: {{username: u}}\n")
    assert [e.headline for e in findings(load_file(tmp_path / "env.yml")).errors] == errors_of(with_user)  # a file is no exception


def test_the_login_fix_names_arguments_the_sdk_has():
    from dataclasses import fields

    from pulumi_mlenv import DockerSection, RegistrySection

    assert "base_image_registry" in {f.name for f in fields(DockerSection)}
    assert {"username", "password"} <= {f.name for f in fields(RegistrySection)}
    assert "DockerSection(base_image_registry=RegistrySection(username=..., password=" in LOGIN_FIX


def test_credentials_in_plain_text_in_a_definition_file(tmp_path):
    (tmp_path / "env.yml").write_text(f"image: {BASE}\ndocker:\n  base_image_registry: {{address: registry.example, username: u, password: hunter2}}\n")
    with pytest.raises(SpecError) as caught:
        load_file(tmp_path / "env.yml")
    assert caught.value.headline == f"docker.base_image_registry.password: credentials written in plain text in a definition file. Fix: remove it from the file and {LOGIN_FIX}"
    assert "hunter2" not in str(caught.value)


def test_dockerfile_over_100_kb():
    text = DOCKERFILE + "RUN true\n" * 12000
    assert f"dockerfile: is {len(text)} bytes, over the limit of 102400. Fix: move large content into files of a build context and COPY them" in errors_of({"dockerfile": text})


@pytest.mark.parametrize("data, headline", [
    ({"image": BASE, "pips": ["six"]}, "pips: unknown field. Fix: did you mean 'pip'?"),
    ({"image": BASE, "docker": {"base_imag": "x"}}, "docker.base_imag: unknown field. Fix: did you mean 'base_image'?"),
    ({"image": BASE, "python": {"versoin": "3.11"}}, "python.versoin: unknown field. Fix: did you mean 'version'?"),
    ({"image": BASE, "spark": {"pakages": []}}, "spark.pakages: unknown field. Fix: did you mean 'packages'?"),
    ({"image": BASE, "build": {"paht": "."}}, "build.paht: unknown field. Fix: did you mean 'path'?"),
])
def test_unknown_fields_name_the_closest_known_field(data, headline):
    with pytest.raises(SpecError) as caught:
        from_mapping(data)
    assert caught.value.headline == headline


def test_user_managed_dependencies_with_packages():
    assert errors_of({"image": BASE, "python": {"user_managed_dependencies": True}, "pip": ["six==1.16.0"]}) == [
        "pip: is given with python.user_managed_dependencies: true, which installs nothing. Fix: remove pip (the image already holds your packages) or set user_managed_dependencies: false"]


def test_windows_and_other_platforms():
    assert errors_of({"image": BASE, "os_type": "windows"}) == ["os_type: only Linux images are built (got 'windows'). Fix: set os_type: linux"]
    with pytest.raises(SpecError) as caught:
        from_mapping({"image": BASE, "docker": {"platform": {"os": "Linux", "architecture": "arm64"}}})
    assert caught.value.headline == "platform: only linux/amd64 images are built (got {'os': 'Linux', 'architecture': 'arm64'}). Fix: build on linux/amd64 (os: Linux, architecture: amd64)"


def test_what_this_release_cannot_build_fails_in_preview():
    conda = {"image": BASE, "conda": {"channels": ["conda-forge"], "dependencies": ["python=3.11", "numpy=1.26"]}}
    assert findings(from_mapping(conda), building=True).errors == [] and errors_of(conda) == []  # the daemonless builder builds it
    with_steps = {**conda, "docker": {"steps": ["RUN true"]}}
    assert findings(from_mapping(with_steps), building=True).errors == []  # the environment goes on top of the steps
    with_dockerfile = {"dockerfile": DOCKERFILE, "conda": conda["conda"]}
    assert errors_of(with_dockerfile) == [  # an error in validate too: the Dockerfile's base is unknown
        "conda: cannot apply to Dockerfile text: the Dockerfile's base is not known before it is built. Fix: install conda packages in the Dockerfile, "
        "or use image with conda and docker.steps instead of dockerfile"]
    spark = {"image": BASE, "spark": {"packages": ["com.example:lib_2.12:1.0"]}}
    assert [e.where for e in findings(from_mapping(spark), building=True).errors] == ["spark.packages"] and errors_of(spark) == []
    assert errors_of({"dockerfile": DOCKERFILE}) == []
    assert errors_of({"dockerfile": DOCKERFILE, "builder": "oci"}) == [
        "builder: the daemonless builder cannot run dockerfile (got 'oci'). Fix: set builder: docker (or leave builder unset), or remove the Docker instructions"]
    assert errors_of({"dockerfile": DOCKERFILE, "pip": ["six==1.16.0"]}) == [
        "pip: cannot apply to Dockerfile text: the Dockerfile's base is not known before it is built. Fix: install pip packages in the Dockerfile, or use image with pip and docker.steps instead of dockerfile"]


def test_a_clean_definition_has_no_findings():
    found = findings(from_mapping({"name": "train", "image": BASE + "@sha256:" + "b" * 64, "pip": ["six==1.16.0"], "variables": {"A": "1"}}))
    assert (found.errors, found.warnings) == ([], [])
