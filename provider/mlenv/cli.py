"""`mlenv`: the same pipeline as the provider, without Pulumi.

  mlenv build FILE [--image IMAGE] [--registry REPO] [--name NAME] [--index-url URL] [--json]
  mlenv lock FILE [--image IMAGE] [--format explicit|requirements|pixi] [-o OUT]
  mlenv hash FILE [--image IMAGE]
  mlenv validate FILE... [--image IMAGE] [--allow-path DIR]
  mlenv diff OLD NEW [--image IMAGE] [--format text|markdown|json]     (OLD/NEW: a file, or REV:PATH in git)
  mlenv import-rootfs ROOTFS.tar REF
  mlenv diagnose LOGFILE|- [--catalogue]
  mlenv list|history|show|label|unlabel|archive|restore REPO ...      (versions and labels: catalogue_cli.py)

FILE is any definition mlenv reads (sources.py): an environment YAML (ours, Azure ML v2), an Azure ML
v1 JSON file or saved folder, a bare conda file or requirements.txt, an MLflow model folder or
python_env.yaml, an Azure ML asset folder. --image (else $MLENV_BASE_IMAGE) is the base image of one
that names none.
"""

from __future__ import annotations

import sys

DEFINITION_HELP = ("definition: environment YAML (ours, Azure ML v2), Azure ML v1 JSON or saved folder, conda environment file, "
                   "requirements.txt, MLflow model folder or python_env.yaml, Azure ML asset folder, or a curated environment (mlenv:NAME@latest)")
IMAGE_HELP = "base image for a definition that names none (a conda file, a requirements.txt, an MLflow model); default: $MLENV_BASE_IMAGE"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["build"]:
            from mlenv.replay import replayed

            if replayed(argv):  # the same command's last cache hit, and nothing it read has changed
                return 0
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `mlenv diagnose LOG | head`
        sys.stderr.close()
        return 0


def _run(argv: list[str]) -> int:
    from mlenv.definition.confine import allowing  # imported only now: a replay needs none of these
    from mlenv.diagnostics.errors import InternalError, MlenvError
    from mlenv.diagnostics.last_resort import last_resort

    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        with last_resort(), allowing(getattr(args, "allow_path", None)):  # anything unexpected: one line and a saved traceback
            return args.run(args)
    except InternalError as error:
        print(error, file=sys.stderr)
        return 2
    except MlenvError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser():
    import argparse

    from mlenv.definition.confine import ALLOWED_ENV
    from mlenv.settings import DEFAULT_REGISTRY, default_registry

    allow_help = (f"a folder the definition may read files from besides its own (repeatable; also ${ALLOWED_ENV}, "
                  "separated by the path separator); nothing else outside the definition's folder is read")
    parser = argparse.ArgumentParser(prog="mlenv", description="ML environments as immutable, reproducible images.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build and push an environment unless its image already exists")
    build.add_argument("file", help=DEFINITION_HELP)
    build.add_argument("--image", help=IMAGE_HELP)
    build.add_argument("--allow-path", action="append", metavar="DIR", help=allow_help)
    build.add_argument("--registry", default=default_registry(), help=f"repository to push to (default: $MLENV_REGISTRY or {DEFAULT_REGISTRY})")
    build.add_argument("--name", help="the name to register the version under: gives the definition one, or replaces its own (metadata: the hash stays)")
    build.add_argument("--index-url", help="package index (default: $MLENV_INDEX_URL, $PIP_INDEX_URL, $UV_INDEX_URL, else PyPI)")
    build.add_argument("--json", action="store_true", help="print the outputs as JSON")
    build.set_defaults(run=_build)

    lock = commands.add_parser("lock", help="resolve an environment without building it, and write its lock for other tools")
    lock.add_argument("file", help=DEFINITION_HELP)
    lock.add_argument("--image", help=IMAGE_HELP)
    lock.add_argument("--allow-path", action="append", metavar="DIR", help=allow_help)
    lock.add_argument("--format", choices=("explicit", "requirements", "pixi"), default="explicit",
                      help="explicit: conda's @EXPLICIT list (wheels as comments); requirements: the wheels with hashes; pixi: a pixi.lock")
    lock.add_argument("-o", "--output", help="write to this file (default: standard output)")
    lock.add_argument("--registry", default=default_registry(), help="the repository builds go to (its login may serve the base image)")
    lock.add_argument("--index-url", help="package index (default: as for build)")
    lock.set_defaults(run=_lock)

    hash_ = commands.add_parser("hash", help="print the definition hash of a definition (exit 1, with the errors, when validate rejects it)")
    hash_.add_argument("file", help=DEFINITION_HELP)
    hash_.add_argument("--image", help=IMAGE_HELP)
    hash_.add_argument("--allow-path", action="append", metavar="DIR", help=allow_help)
    hash_.set_defaults(run=_hash)

    validate = commands.add_parser("validate", help="check definition files: errors (exit 1) and warnings, as in pulumi preview")
    validate.add_argument("files", nargs="+", metavar="FILE", help=DEFINITION_HELP)
    validate.add_argument("--image", help=IMAGE_HELP)
    validate.add_argument("--allow-path", action="append", metavar="DIR", help=allow_help)
    validate.add_argument("--offline", action="store_true", help="do not ask the index what unpinned packages would lock to")
    validate.add_argument("--index-url", help="package index for that question (default: as for build)")
    validate.set_defaults(run=_validate)

    diff = commands.add_parser("diff", help="what changed between two definitions, and whether it rebuilds")
    diff.add_argument("old", help="definition file, or REV:PATH for a file at a git revision (e.g. main:envs/train.yml)")
    diff.add_argument("new", help="definition file, or REV:PATH")
    diff.add_argument("--image", help=IMAGE_HELP)
    diff.add_argument("--allow-path", action="append", metavar="DIR", help=allow_help)
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when the change rebuilds the image")
    diff.set_defaults(run=_diff)

    rootfs = commands.add_parser("import-rootfs", help="push a root filesystem tarball as a one-layer base image")
    rootfs.add_argument("tarball")
    rootfs.add_argument("reference", help="host/repo:tag or oci:PATH:tag")
    rootfs.set_defaults(run=_import_rootfs)
    diagnose = commands.add_parser("diagnose", help="explain a build log (ours, pip, uv, conda, docker build): cause, fix, evidence")
    diagnose.add_argument("log", nargs="?", help="log file, or - for standard input")
    diagnose.add_argument("--catalogue", action="store_true", help="print the rule catalogue as Markdown (docs/DIAGNOSTICS.md)")
    diagnose.set_defaults(run=_diagnose)
    from mlenv.catalogue_cli import add_commands  # list, history, show, label, unlabel, archive, restore (their imports wait until one runs)

    add_commands(commands)
    from mlenv.curated_cli import add_commands as add_curated  # curated list, show

    add_curated(commands)
    return parser


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _warn(spec, warn=_to_stderr) -> None:
    from mlenv.definition.rules import findings

    for warning in findings(spec, building=True).warnings:  # what a build refuses comes as its error
        warn(f"warning: {warning.headline}")


def _load(args, path: str, warn=_to_stderr):
    """The definition at `path`, with --image (else $MLENV_BASE_IMAGE) as the base of one that names none."""
    from pathlib import Path

    from mlenv.definition.load import with_base_image
    from mlenv.definition.sources import load_source
    from mlenv.settings import base_image

    spec = load_source(Path(path))
    own = spec.image or ("a Dockerfile" if spec.dockerfile else "a build context" if spec.build else spec.curated)
    if args.image and own:
        warn(f"warning: --image is ignored for {path}: it names its own base ({own})")
    return with_base_image(spec, base_image(args.image))


def _build(args) -> int:
    from mlenv import replay
    from mlenv.build_report import Transcript, result_text
    from mlenv.pipeline import build
    from mlenv.settings import index_settings, registry_credentials

    said = Transcript()  # what this run prints, for the next run to replay
    with replay.watching_inputs() as read:
        spec = _named(_load(args, args.file, said.err), args.name)
        _warn(spec, said.err)
    log = said.err if args.json else said.out
    index = index_settings(args.index_url) if args.index_url else None  # None: read from the environment when a build needs it
    progress = None  # not a terminal: progress lines among the log lines, at each stage and every 5 s
    if sys.stderr.isatty():  # a terminal: one status line, redrawn, with the log written above it
        from mlenv.diagnostics.progress import Progress, StatusLine

        status = StatusLine(sys.stderr)
        log, progress = status.above(log), Progress(status.show, every=0.1, final=status.done)
    recorder = replay.Recorder()
    result = build(spec, args.registry, registry_credentials(), index, log=log, progress=progress, watch_target=recorder.wrap)
    outputs = result.outputs()
    print(result_text(outputs, result.seconds, args.json))
    replay.remember(args.argv, read, args.file, recorder, printed=said.lines, outputs=outputs, as_json=args.json)
    return 0


def _named(spec, name: str | None):
    """The definition under `--name`, when given: a name the catalogue can hold, or one error."""
    if name is None:
        return spec
    from dataclasses import replace

    from mlenv.catalogue.tags import check_given_name
    from mlenv.diagnostics.errors import SpecError

    try:
        return replace(spec, name=check_given_name(name))
    except SpecError as error:
        raise SpecError("--name", error.problem, "give a name such as train-gpu, or leave --name out to use the definition's own", name) from None


def _lock(args) -> int:
    from mlenv.pipeline import resolve_lock
    from mlenv.resolve import lock_files
    from mlenv.settings import index_settings, registry_credentials

    lock, conda_records = resolve_lock(_load(args, args.file), args.registry, registry_credentials(), index_settings(args.index_url),
                                       log=lambda line: print(line, file=sys.stderr))
    text = lock_files.requirements(lock) if args.format == "requirements" else getattr(lock_files, args.format)(lock, conda_records)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _hash(args) -> int:
    """The hash of a definition `validate` accepts; what it rejects is refused the same way (exit 1)."""
    from mlenv.definition.rules import findings
    from mlenv.diagnostics.errors import SpecError
    from mlenv.identity.hashing import definition_hash

    try:
        spec = _load(args, args.file)
        errors = findings(spec).errors
    except SpecError as error:
        errors = [error]
    for error in errors:
        print(f"error: {error.headline}", file=sys.stderr)
    if errors:
        return 1
    print(definition_hash(spec))
    return 0


def _validate(args) -> int:
    from mlenv.definition.rules import findings
    from mlenv.diagnostics.errors import MlenvError
    from mlenv.resolve.preview import locked_versions
    from mlenv.settings import index_settings

    failed = False
    index = index_settings(args.index_url)
    for path in args.files:
        try:
            spec = _load(args, path)
            found = findings(spec, None if args.offline else locked_versions(spec, index))
        except MlenvError as error:
            print(f"{path}: error: {error}")
            failed = True
            continue
        for error in found.errors:
            print(f"{path}: error: {error.headline}")
        for warning in found.warnings:
            print(f"{path}: warning: {warning.headline}")
        failed |= bool(found.errors)
        if not found.errors:
            print(f"{path}: ok ({len(found.warnings)} warning{'s' if len(found.warnings) != 1 else ''})")
    return 1 if failed else 0


def _diff(args) -> int:
    from mlenv.definition.revisions import load_definition
    from mlenv.identity.changes import compare, render
    from mlenv.settings import base_image

    image = base_image(args.image)
    with load_definition(args.old, image) as old, load_definition(args.new, image) as new:
        report = compare(old, new)
    same_file = args.old.split(":")[-1] == args.new.split(":")[-1]  # e.g. main:envs/train.yml and envs/train.yml
    title = args.new.split(":")[-1] if same_file else f"{args.old} → {args.new}"
    sys.stdout.write(render(report, args.format, title))
    return 1 if args.exit_code and report.rebuilds else 0


def _import_rootfs(args) -> int:
    from mlenv.oci.rootfs import import_rootfs
    from mlenv.settings import registry_credentials

    print(import_rootfs(args.tarball, args.reference, registry_credentials()))
    return 0


def _diagnose(args) -> int:
    from mlenv.diagnostics.diagnose import catalogue_markdown, diagnose

    if args.catalogue:
        print(catalogue_markdown(), end="")
        return 0
    if not args.log:
        print("error: diagnose needs a LOGFILE (or - for standard input)", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if args.log == "-" else open(args.log, encoding="utf-8", errors="replace").read()
    except OSError as error:
        print(f"error: cannot read {args.log}: {error.strerror}", file=sys.stderr)
        return 2
    for rank, found in enumerate(diagnose(text), start=1):
        print(f"{rank}. {found.rule.id}: {found.rule.title}")
        print(f"   cause: {found.cause}\n   fix: {found.fix}\n   evidence:")
        print("\n".join(f"   {number:>5} | {line}" for number, line in found.evidence))
    return 0


if __name__ == "__main__":
    sys.exit(main())
