"""Azure ML curated environment asset folders, as the azureml-assets repository keeps them:

    asset.yaml        name, version (`auto`), type: environment, spec: spec.yaml, extra_config: environment.yaml
    spec.yaml         an Azure ML v2 environment whose fields are templates: name "{{asset.name}}",
                      build: {path: "{{image.context.path}}", dockerfile_path: "{{image.dockerfile.path}}"}
    environment.yaml  image: {context: {dir: context, dockerfile: Dockerfile, template_files: [...]}}
    context/          the Dockerfile (FROM …:{{latest-image-tag}}) and the conda_dependencies.yaml or
                      requirements.txt it installs (`pkg=={{latest-pypi-version}}`)

The release pipeline fills `{{latest-…}}` with the newest version at release time. Here a template means
the same as an unpinned package or a tag: the newest at the first build, then kept by the image built
for the definition hash. So `pkg=={{latest-pypi-version}}` becomes the unpinned requirement `pkg`
(validate names the version it would lock to, as for any unpinned pip package), and
`image:{{latest-image-tag}}` (or `{{latest-image-tag:REGEX}}`) becomes `image:latest`, with the
mutable-tag warning. The template files are filled in for the build; the context digest (the hash)
covers them as written.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import Requirement

from mlenv.definition import confine
from mlenv.definition.bounds import safe_load
from mlenv.definition.build_context import BuildContext
from mlenv.definition.model import EnvironmentSpec
from mlenv.diagnostics.errors import SpecError, SpecWarning

ASSET_FILE, SPEC_FILE, IMAGE_FILE = "asset.yaml", "spec.yaml", "environment.yaml"
ASSET_SOURCE = "an Azure ML asset"
LATEST_PYPI = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*(?:==|~=)\s*\{\{latest-pypi-version(?::(?P<flags>[^}]*))?\}\}")
LATEST_TAG = re.compile(r"(?P<image>[^\s\"'=]+?):\{\{latest-image-tag(?::(?P<pattern>.*?))?\}\}")
_FIELD = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
_ASSET_TEMPLATE = re.compile(r"\{\{\s*(?:asset\.name|asset\.version|image\.context\.path|image\.dockerfile\.path|latest-image-tag|latest-pypi-version)")
_TEXT_FILES = (".txt", ".yaml", ".yml", ".in")


@dataclass(frozen=True)
class Templates:
    """What filling in a build context's templates gave: the files as the build sees them, the
    requirements the templates leave open, and what the user should know (tags, pre-releases)."""

    names: tuple[str, ...]                       # the template files, relative to the context
    files: tuple[tuple[str, str], ...] = ()      # (path, filled-in text) of those that changed
    requirements: tuple[Requirement, ...] = ()   # `pkg=={{latest-pypi-version}}`, as the unpinned `pkg`
    notes: tuple[SpecWarning, ...] = ()


# --- telling an asset apart -------------------------------------------------------------------------

def is_asset_folder(folder: Path) -> bool:
    return (folder / ASSET_FILE).is_file() or (folder / SPEC_FILE).is_file()


def is_asset_spec(path: Path, data: dict) -> bool:
    """A spec.yaml with the asset templates in it, or the one its asset.yaml names."""
    return _ASSET_TEMPLATE.search(repr(data)) is not None or (path.name == SPEC_FILE and (path.parent / ASSET_FILE).is_file())


# --- the asset ---------------------------------------------------------------------------------------

def load_asset(folder: Path, spec_file: Path | None = None) -> EnvironmentSpec:
    from mlenv.definition.load import from_mapping

    asset = _yaml_mapping(folder / ASSET_FILE, ASSET_FILE, missing_ok=True)
    if asset.get("type", "environment") != "environment":
        raise SpecError(f"{ASSET_FILE}.type", "this asset is not an environment", "pass an environment asset's folder", asset.get("type"))
    spec_file = spec_file or folder / str(asset.get("spec") or SPEC_FILE)
    image = _yaml_mapping(folder / str(asset.get("extra_config") or IMAGE_FILE), IMAGE_FILE, missing_ok=True).get("image") or {}
    context = (image.get("context") or {}) if isinstance(image, dict) else {}
    values = {"asset.name": asset.get("name"), "asset.version": None if asset.get("version") == "auto" else asset.get("version"),
              "image.context.path": context.get("dir") or "context", "image.dockerfile.path": context.get("dockerfile") or "Dockerfile"}
    data, notes = _filled(_yaml_mapping(spec_file, spec_file.name), values, spec_file.name)
    build = data.get("build")
    if isinstance(build, dict) and isinstance(build.get("path"), str) and "template_files" not in build:
        declared = context.get("template_files")
        data["build"] = {**build, "template_files": list(declared) if isinstance(declared, list) else _found_templates(folder / build["path"], build.get("dockerfile_path"))}
    if isinstance(data.get("conda_file"), str):
        data["conda_file"], more = _filled_conda_file(folder / data["conda_file"])
        notes += more
    spec = from_mapping(data, base_dir=folder, from_file=True)
    return replace(spec, source=ASSET_SOURCE, notes=(*spec.notes, *notes))


def _filled(data: dict, values: dict, file: str) -> tuple[dict, tuple[SpecWarning, ...]]:
    """spec.yaml with its field templates filled from asset.yaml and environment.yaml (a version of
    `auto` is left empty), and an image's tag template as `latest` (warned about as any mutable tag)."""
    notes: list[SpecWarning] = []

    def fill(value, where):
        if isinstance(value, dict):
            return {k: fill(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        text, found = render_text(value, f"{file} {where}", where=where)
        notes.extend(note for note in found.notes if not note.problem.startswith("mutable tag"))  # the image's own warning says it

        def one(match: re.Match) -> str:
            if match[1] not in values:
                raise SpecError(where, f"the asset template {{{{{match[1]}}}}} has no value here", "replace it with its value", value)
            return "" if values[match[1]] is None else str(values[match[1]])

        return _FIELD.sub(one, text)

    return fill(data, ""), tuple(notes)


def _filled_conda_file(path: Path):
    """A conda file the spec names, its templates filled (its pip lines then read as unpinned)."""
    import yaml

    from mlenv.definition.conda_file import parse_conda_mapping
    from mlenv.definition.sources import read_text

    text, found = render_text(read_text(path, "conda_file"), path.name)
    try:
        data = safe_load(text)
    except yaml.YAMLError:
        raise SpecError(f"conda_file ({path.name})", "is not valid YAML", "fix the YAML syntax") from None
    return parse_conda_mapping(data, where=f"conda_file ({path.name})"), found.notes


def _found_templates(context: Path, dockerfile: object) -> list[str]:
    """Without environment.yaml's template_files: the Dockerfile and the context's top-level text files holding a template."""
    names = [dockerfile if isinstance(dockerfile, str) else "Dockerfile"]
    if context.is_dir():
        names += sorted(p.name for p in context.iterdir() if p.is_file() and p.suffix in _TEXT_FILES and "{{latest-" in _text_or_empty(p))
    return names


def _text_or_empty(path: Path) -> str:
    try:
        return confine.read_text(path, "build.path", path.name)
    except (OSError, UnicodeDecodeError, SpecError):
        return ""


def _yaml_mapping(path: Path, where: str, missing_ok: bool = False) -> dict:
    import yaml

    from mlenv.definition.sources import read_text

    if missing_ok and not path.is_file():
        return {}
    try:
        data = safe_load(read_text(path, where))
    except yaml.YAMLError:
        raise SpecError(where, f"{path} is not valid YAML", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise SpecError(where, f"{path} must hold a mapping", "write the asset's fields (name, version, ...)")
    return data


# --- templates in text --------------------------------------------------------------------------------

def render_text(text: str, shown: str, where: str = "build.dockerfile_path") -> tuple[str, Templates]:
    """`text` with its `{{latest-…}}` templates filled in, and what they mean (`shown` names the file,
    `where` the field an image tag warning is about)."""
    requirements, notes = [], []

    def package(match: re.Match) -> str:
        requirement = Requirement(match["name"] + (match["extras"] or ""))
        requirements.append(requirement)
        if match["flags"] and "pre" in match["flags"]:
            notes.append(SpecWarning(f"pip.{requirement.name}", f"{{{{latest-pypi-version:{match['flags']}}}}} in {shown} asks for pre-releases; "
                                     "the unpinned requirement takes the newest final release", f"pin the pre-release you want ({requirement.name}==X.YbZ)"))
        return str(requirement)

    def tag(match: re.Match) -> str:
        image, pattern = match["image"], match["pattern"]
        written = match[0][len(image) + 1:]
        looked = ", whose newest matching tag is not looked up" if pattern else ""
        notes.append(SpecWarning(where, f"mutable tag 'latest' (from {written} in {shown}{looked}): the base can change under the same definition",
                                 f"pin the digest: {image}@sha256:... (a tag names no fixed image)", f"{image}:latest"))
        return f"{image}:latest"

    filled = LATEST_TAG.sub(tag, LATEST_PYPI.sub(package, text))
    return filled, Templates((), requirements=tuple(requirements), notes=tuple(notes))


def render_templates(context: BuildContext, names: tuple[str, ...]) -> BuildContext:
    """The build context with its template files filled in (what the build sends), as loaded."""
    files, requirements, notes = [], [], []
    root = Path(context.path)
    for index, name in enumerate(names):
        normal = posixpath.normpath(name)
        if posixpath.isabs(normal) or normal.startswith("..") or not (root / normal).is_file():
            raise SpecError(f"build.template_files[{index}]", "is not a file of the build context", "name files relative to build.path, e.g. Dockerfile", name)
        try:
            text = confine.read_text(root / normal, f"build.template_files[{index}]", name)
        except (OSError, UnicodeDecodeError):
            raise SpecError(f"build.template_files[{index}]", "cannot be read as UTF-8 text", "name only text files (the Dockerfile, a conda or requirements file)", name) from None
        filled, found = render_text(text, f"{root.name}/{normal}")
        if filled != text:
            files.append((normal, filled))
        requirements += found.requirements
        notes += found.notes
    dockerfile = dict(files).get(context.dockerfile_path, context.dockerfile_text)
    unique = tuple({str(r): r for r in requirements}.values())  # a package listed twice is one requirement
    templates = Templates(tuple(posixpath.normpath(n) for n in names), tuple(files), unique, tuple(notes))
    return replace(context, dockerfile_text=dockerfile, templates=templates)


def write_rendered(context: BuildContext, target: Path) -> Path:
    """A copy of the context with its template files filled in, for the engine to build."""
    shutil.copytree(context.path, target, symlinks=True)
    for name, text in context.templates.files:
        (target / name).write_text(text, encoding="utf-8")
    return target
