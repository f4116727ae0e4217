"""For `make demo`: a registry on HOST (left running, storage in ~/.cache/mlenv/demo-registry) that
holds the Debian base image with Python, made by debootstrap once and pushed with our own client.

    python -m testbed.demo_base 127.0.0.1:5000 base/python:3.11-bookworm
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from mlenv.oci.rootfs import import_rootfs
from testbed.services import CACHE, ensure_base_rootfs


def ensure_registry(host: str) -> None:
    if _answers(host):
        return
    folder = CACHE / "demo-registry"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\nhttp:\n  addr: {host}\n")
    with (folder / "registry.log").open("ab") as log:
        subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        if _answers(host):
            print(f"started a registry on {host} (storage {folder / 'data'})")
            return
        time.sleep(0.1)
    sys.exit(f"the registry on {host} did not start; see {folder / 'registry.log'}")


def _answers(host: str) -> bool:
    try:
        return httpx.get(f"http://{host}/v2/", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def main(host: str, name: str) -> None:
    ensure_registry(host)
    repository, tag = name.rsplit(":", 1)
    present = httpx.head(f"http://{host}/v2/{repository}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    if present.status_code != 200:
        digest = import_rootfs(ensure_base_rootfs(), f"{host}/{name}")
        print(f"pushed the base image {host}/{name}@{digest}")
    else:
        print(f"base image {host}/{name} is there")


if __name__ == "__main__":
    main(*sys.argv[1:3])
