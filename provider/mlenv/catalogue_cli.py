"""`mlenv list|history|show|label|unlabel|archive|restore`: the catalogue of a repository (docs/VERSIONS.md).

  mlenv list REPO                                   names, latest version, labels
  mlenv history REPO NAME                           versions: date, hashes, digest, labels, what changed
  mlenv show REPO NAME@LABEL | NAME:VERSION         the definition (buildable YAML), lock, image, labels
  mlenv show REPO@sha256:…                          the same, from the image alone
  mlenv label REPO NAME:VERSION LABEL               point a label at a version
  mlenv unlabel REPO NAME[:VERSION] LABEL           remove a label (from that version only, when given)
  mlenv archive|restore REPO NAME:VERSION           leave (or come back to) list and @latest

Imported by cli.py only to add these subcommands; every catalogue import happens when one runs.
"""

from __future__ import annotations

import json
import sys


def add_commands(commands) -> None:
    listing = commands.add_parser("list", help="the environments of a repository: latest version and labels")
    listing.add_argument("repository", help="host/repository or oci:PATH")
    listing.set_defaults(run=_list)

    history = commands.add_parser("history", help="the versions of an environment, with what changed between them")
    history.add_argument("repository")
    history.add_argument("name")
    history.set_defaults(run=_history)

    show = commands.add_parser("show", help="an environment version's definition, lock, image and labels")
    show.add_argument("repository", help="host/repository, or REPO@sha256:... for the environment of an image")
    show.add_argument("reference", nargs="?", help="NAME@LABEL (e.g. train@latest) or NAME:VERSION (e.g. train:2)")
    show.add_argument("--json", action="store_true", help="everything as one JSON document")
    show.add_argument("--lock", metavar="FILE", help="also write the lock (what the lock hash covers) to FILE")
    show.set_defaults(run=_show)

    label = commands.add_parser("label", help="point a label (prod, staging) at a version; it moves from where it was")
    label.add_argument("repository")
    label.add_argument("version", metavar="NAME:VERSION")
    label.add_argument("label")
    label.set_defaults(run=_label)

    unlabel = commands.add_parser("unlabel", help="remove a label (latest is mlenv's: archive a version to move it)")
    unlabel.add_argument("repository")
    unlabel.add_argument("version", metavar="NAME[:VERSION]", help="the environment; with :VERSION, only if the label is on that version")
    unlabel.add_argument("label")
    unlabel.set_defaults(run=_unlabel)

    for verb, archived in (("archive", True), ("restore", False)):
        command = commands.add_parser(verb, help=("hide a version from list and @latest (it stays pullable; nothing is deleted)"
                                                  if archived else "bring an archived version back"))
        command.add_argument("repository")
        command.add_argument("version", metavar="NAME:VERSION")
        command.set_defaults(run=_archive, archived=archived)


def _store(repository: str):
    from mlenv.definition.reference import parse_repository
    from mlenv.oci.store import open_store
    from mlenv.settings import registry_credentials

    return open_store(parse_repository(repository), registry_credentials())


def _split(text: str, separator: str, what: str) -> tuple[str, str]:
    from mlenv.diagnostics.errors import SpecError

    name, found, rest = text.partition(separator)
    if not (found and name and rest):
        raise SpecError(what, f"is not {'NAME:VERSION' if separator == ':' else 'NAME@LABEL'}", "write e.g. train:2 or train@prod", text)
    return name, rest


def _list(args) -> int:
    from mlenv.catalogue import reads

    store = _store(args.repository)
    try:
        for name in reads.names(store):
            shown = [v for v in reads.versions(store, name) if not v.archived]
            labels = sorted({label for v in shown for label in v.labels})
            print(f"{name}\tlatest {shown[-1].version}\t{len(shown)} version{'s' if len(shown) != 1 else ''}\tlabels {', '.join(labels)}")
    finally:
        store.close()
    return 0


def _history(args) -> int:
    from mlenv.catalogue import artifact, reads
    from mlenv.identity.changes import compare, render

    store = _store(args.repository)
    try:
        known = reads.versions(store, args.name)
        if not known:
            reads.resolve(store, args.name)  # the error saying there is no such name
        previous = None
        for version in known:
            state = " (archived)" if version.archived else ""
            print(f"{args.name}:{version.version}{state}\t{version.created or '-'}\tdefinition {version.definition_hash[:12]}"
                  f"\t{version.digest}\tlabels {', '.join(version.labels) or '-'}")
            spec = _stored_spec(artifact.carried(store, version.digest))
            if previous is not None and spec is not None:
                text = render(compare(previous, spec), "text", f"{args.name}:{version.version}")
                print("".join(f"    {line}\n" for line in text.splitlines()), end="")
            previous = spec or previous
    finally:
        store.close()
    return 0


def _stored_spec(carried):
    """The model of a carried definition; None when there is none, or it no longer loads here (a
    local file it names is gone): that version's changelog is then left out, not the history."""
    from mlenv.definition.load import from_mapping
    from mlenv.diagnostics.errors import MlenvError

    try:
        return from_mapping(carried.definition) if carried else None
    except MlenvError:
        return None


def _show(args) -> int:
    from mlenv.catalogue import artifact, reads
    from mlenv.diagnostics.errors import SpecError

    repository, _, digest = args.repository.rpartition("@") if "@sha256:" in args.repository else (args.repository, "", "")
    store = _store(repository)
    try:
        if digest:
            carried = artifact.carried(store, digest)
            if carried is None:
                raise SpecError("image", f"{repository}@{digest} carries no definition", "build its definition with this mlenv: the build attaches it", digest)
            named = carried.definition.get("name") or _anonymous_name(store, digest)
            version = next((v for v in reversed(reads.versions(store, named)) if v.digest == digest), None) if named else None
        elif args.reference:
            version = _resolve(store, args.reference)
            digest = version.digest
            carried = artifact.carried(store, digest)
        else:
            raise SpecError("show", "needs NAME@LABEL, NAME:VERSION, or REPO@sha256:...", "e.g. mlenv show REPO train@latest")
    finally:
        store.close()
    _print_shown(args, f"{repository}@{digest}", version, carried)
    return 0


def _anonymous_name(store, digest: str) -> str | None:
    """Where an image built from a definition without a name is registered: anon-<hash>."""
    from mlenv.catalogue.tags import anonymous_name
    from mlenv.catalogue.versions import definition_hash_at

    definition_hash = definition_hash_at(store, digest)
    return anonymous_name(definition_hash) if isinstance(definition_hash, str) and definition_hash else None


def _resolve(store, reference: str):
    from mlenv.catalogue import reads

    if "@" in reference:
        name, label = _split(reference, "@", "reference")
        return reads.resolve(store, name, label=label)
    name, version = _split(reference, ":", "reference")
    return reads.resolve(store, name, version=version)


def _print_shown(args, image_ref: str, version, carried) -> None:
    import yaml

    if carried is None:
        print(f"warning: {image_ref} carries no definition (built before mlenv attached them)", file=sys.stderr)
    facts = {"image_ref": image_ref, "name": version.name if version else None, "version": version.version if version else None,
             "labels": list(version.labels) if version else [], "archived": version.archived if version else False,
             "created": version.created if version else None, "lock_hash": carried.lock_hash if carried else None}
    if args.lock and carried:
        with open(args.lock, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(carried.lock, indent=2, sort_keys=True) + "\n")
    if args.json:
        print(json.dumps({**facts, "definition": carried.definition if carried else None, "lock": carried.lock if carried else None}, indent=2))
        return
    print("".join(f"# {key}: {', '.join(value) if isinstance(value, list) else value}\n" for key, value in facts.items() if value not in (None, [], False)), end="")
    if carried:
        print(yaml.safe_dump(carried.definition, sort_keys=False), end="")


def _label(args) -> int:
    from mlenv.catalogue import reads

    done = _change(args, lambda store, name, version: reads.set_label(store, name, version, args.label))
    print(f"{done.name}:{done.version}\tlabels {', '.join(done.labels)}")
    return 0


def _unlabel(args) -> int:
    from mlenv.catalogue import reads

    name, _, version = args.version.partition(":")
    store = _store(args.repository)
    try:
        done = reads.remove_label(store, name, args.label, version=version or None)
    finally:
        store.close()
    print(f"{done.name}:{done.version}\tlabels {', '.join(done.labels) or '-'}")
    return 0


def _archive(args) -> int:
    from mlenv.catalogue import reads

    done = _change(args, lambda store, name, version: reads.set_archived(store, name, version, args.archived))
    print(f"{done.name}:{done.version}\t{'archived' if done.archived else 'restored'}")
    return 0


def _change(args, change):
    """One change to the catalogue of args.repository, at args.version (NAME:VERSION)."""
    name, version = _split(args.version, ":", "version")
    store = _store(args.repository)
    try:
        return change(store, name, version)
    finally:
        store.close()
