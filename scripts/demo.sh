#!/usr/bin/env bash
# The quickstart on the embedded default (an OCI layout in .mlenv/images), built twice:
# the first run resolves, builds and writes the image; the second finds it by its hash and does nothing.
# The base image lives in a local registry on 127.0.0.1:5000 (no Docker Hub here), made once from debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m testbed.demo_base 127.0.0.1:5000 base/python:3.11-bookworm
echo
echo "== first run: resolve, build, write"
mlenv build examples/quickstart/environment.yml
echo
echo "== second run: same definition hash, nothing to do"
mlenv build examples/quickstart/environment.yml
