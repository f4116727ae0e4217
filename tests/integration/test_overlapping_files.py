"""Two wheels that ship the same file (a namespace package's `backports/__init__.py`), built for real
and run in a real Docker engine: identical content is one file and no warning; different content
is the later package's file (each package in its own layer: the upper layer wins, as pip's later
install would), with a warning naming both."""

from __future__ import annotations

import pytest

from mlenv.definition.load import from_mapping
from mlenv.pipeline import build
from testbed.wheelmaker import make_wheel

pytestmark = pytest.mark.integration
READ = "import backports, backports.alpha, backports.beta; print(open(backports.__file__).read().strip())"


def namespace_definition(base_image, folder, beta_init: str):
    folder.mkdir()
    make_wheel(folder, "backports.alpha", "1.0", {"backports/__init__.py": "# shared\n", "backports/alpha.py": "A = 1\n"})
    make_wheel(folder, "backports.beta", "1.0", {"backports/__init__.py": beta_init, "backports/beta.py": "B = 1\n"})
    return from_mapping({"image": base_image, "pip": [f"./{folder.name}/backports.alpha-1.0-py3-none-any.whl",
                                                     f"./{folder.name}/backports.beta-1.0-py3-none-any.whl"]}, base_dir=folder.parent)


@pytest.mark.parametrize("beta_init, shown, warned", [
    ("# shared\n", "# shared", False),
    ("# beta's own\n", "# beta's own", True),
])
def test_a_file_two_wheels_ship(registry, base_image, index_settings, docker_engine, tmp_path, beta_init, shown, warned):
    lines = []
    result = build(namespace_definition(base_image, tmp_path / "wheels", beta_init), f"{registry.host}/envs/overlap", index=index_settings, log=lines.append)
    docker_engine.images.pull(result.image_ref)
    assert docker_engine.containers.run(result.image_ref, ["python", "-c", READ], remove=True).decode().strip() == shown
    warning = ("warning: backports-alpha==1.0 and backports-beta==1.0 both install backports/__init__.py with different content: "
               "backports-beta==1.0's is kept (the later package wins, as in pip)")
    assert (warning in lines) is warned
    assert not any("both install" in line for line in lines if line != warning)
