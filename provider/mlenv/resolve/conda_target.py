"""The virtual packages of the image a conda environment is solved for: the target, never the host.

conda asks the running machine (`__glibc` from its libc, `__cuda` from its driver); we build for an
image, so `__glibc` comes from the base image, `__cuda` from the definition or `CONDA_OVERRIDE_CUDA`
(a GPU environment solved on a CPU-only host must still get its CUDA builds), and `__linux` from
`CONDA_OVERRIDE_LINUX` or a kernel every supported Linux has. They are recorded in the lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SUBDIR = "linux-64"
ARCHSPEC = "x86_64"
DEFAULT_LINUX = "5.10"  # conda-forge's packages need at most this; override with CONDA_OVERRIDE_LINUX


@dataclass(frozen=True)
class CondaTarget:
    glibc: str                   # of the base image, e.g. "2.36"
    cuda: str | None = None      # e.g. "12.4"; None: no GPU builds
    linux: str = DEFAULT_LINUX
    subdir: str = SUBDIR

    @classmethod
    def for_image(cls, glibc: str, cuda: str | None = None) -> "CondaTarget":
        """The target from the base image's glibc, the definition's CUDA, and conda's overrides."""
        cuda = cuda or os.environ.get("CONDA_OVERRIDE_CUDA") or None
        return cls(glibc=glibc or "2.17", cuda=cuda, linux=os.environ.get("CONDA_OVERRIDE_LINUX") or DEFAULT_LINUX)

    def virtual_packages(self) -> list[tuple[str, str, str]]:
        """(name, version, build) of each virtual package, as conda names them."""
        found = [("__unix", "0", "0"), ("__linux", self.linux, "0"), ("__glibc", self.glibc, "0"), ("__archspec", "1", ARCHSPEC)]
        if self.cuda:
            found.append(("__cuda", self.cuda, "0"))
        return found

    def rattler_virtual_packages(self) -> list:
        from rattler import BuildString, GenericVirtualPackage, PackageName, Version

        return [GenericVirtualPackage(PackageName(name), Version(version), BuildString(build)) for name, version, build in self.virtual_packages()]
