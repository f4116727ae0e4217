#!/usr/bin/env bash
# System packages the project needs, installed only when missing (idempotent; run as root).
#   docker.io        the Docker engine, for run-verification tests and the docker-build baseline
#   docker-registry  the CNCF Distribution registry that tests and the demo run on 127.0.0.1
#   debootstrap      makes the Debian base image with Python (no Docker Hub here)
#   patchelf, gcc    build the test conda channel: patchelf makes its python relocatable (and
#                    py-rattler-build's relinker needs it), gcc compiles its prefix-probe program
#   libgomp1         the OpenMP runtime the curated environments' conda-forge stand-in ships (gcc brings it too)
#   python3-venv     `make` creates the project's virtualenv with it
#   git              checks out git direct references (`name @ git+https://…`) to build them
#   skopeo           the outside client that checks a layout we wrote is readable by another user
set -euo pipefail

packages=(docker.io docker-registry debootstrap patchelf gcc libgomp1 git skopeo)
python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done

if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "setup-system: installed ${missing[*]}"
fi
