"""`mlenv curated list|show`: the curated environments shipped with this release (definition/curated.py).

  mlenv curated list                                  names, latest version, what each is
  mlenv curated show mlenv:NAME@latest | NAME:VERSION the version's definition (buildable YAML), imports,
                                                      the Azure ML curated environments it stands in for

Imported by cli.py only to add the subcommand; the catalogue is read when one runs.
"""

from __future__ import annotations

import json


def add_commands(commands) -> None:
    curated = commands.add_parser("curated", help="the curated environments of this release: list, show")
    verbs = curated.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="names, latest version and what each is")
    listing.add_argument("--json", action="store_true", help="as one JSON document")
    listing.set_defaults(run=_list)
    show = verbs.add_parser("show", help="a curated version's definition, as YAML that mlenv build accepts")
    show.add_argument("reference", help="mlenv:NAME@latest or mlenv:NAME:VERSION (the mlenv: may be left out)")
    show.add_argument("--json", action="store_true", help="as one JSON document")
    show.set_defaults(run=_show)


def _list(args) -> int:
    from mlenv.definition.curated import catalogue

    entries = catalogue().values()
    if args.json:
        print(json.dumps([_about(e) for e in entries], indent=2))
        return 0
    for entry in entries:
        print(f"mlenv:{entry.name}\tlatest {entry.latest}\t{entry.summary}")
    return 0


def _show(args) -> int:
    from mlenv.definition.curated import NAMESPACE, resolve

    reference = args.reference if args.reference.startswith(NAMESPACE) else NAMESPACE + args.reference
    if "@" not in reference and reference.count(":") < 2:
        reference += "@latest"
    entry, version = resolve(reference)
    definition = entry.path(version).read_text(encoding="utf-8")
    if args.json:
        print(json.dumps({**_about(entry), "version": version, "definition": definition}, indent=2))
        return 0
    print(f"# mlenv:{entry.name}:{version}{' (latest)' if version == entry.latest else ''}: {entry.summary}")
    print(f"# imports: {', '.join(entry.imports) or '-'}; stands in for Azure ML's {', '.join(entry.azureml) or '-'}")
    print(f"# versions: {', '.join(entry.versions)}")
    print(definition, end="" if definition.endswith("\n") else "\n")
    return 0


def _about(entry) -> dict:
    return {"name": entry.name, "reference": f"mlenv:{entry.name}@latest", "latest": entry.latest, "versions": list(entry.versions),
            "summary": entry.summary, "imports": list(entry.imports), "azureml": list(entry.azureml)}
