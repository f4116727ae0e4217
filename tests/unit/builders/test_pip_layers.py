"""The daemonless builder's pip layers: wheels installed like pip would, planned under a layer budget."""

import os

from mlenv.builders.pip_layers import _install_wheel, plan_layers
from mlenv.definition.model import ENV_PREFIX
from mlenv.resolve.pip_lock import LockedWheel
from testbed.wheelmaker import make_wheel


def test_wheel_installs_into_the_venv_with_scripts_pointing_at_it(tmp_path):
    wheel = make_wheel(tmp_path, "hello", "1.0", {"hello/__init__.py": "def main():\n    print('hi')\n"}, scripts={"hello": "hello:main"})
    root = tmp_path / "root"
    _install_wheel(wheel, root, "3.11")
    env = root / ENV_PREFIX.lstrip("/")
    assert (env / "lib/python3.11/site-packages/hello/__init__.py").exists()
    assert (env / "lib/python3.11/site-packages/hello-1.0.dist-info/INSTALLER").read_text() == "mlenv\n"
    script = (env / "bin" / "hello").read_text()
    assert script.startswith(f"#!{ENV_PREFIX}/bin/python\n")
    assert os.access(env / "bin" / "hello", os.X_OK)


def _wheel(name, size):
    return LockedWheel(name, "1", f"{name}-1-py3-none-any.whl", "u", name, size)


def test_each_package_has_its_own_layer_within_budget():
    wheels = [_wheel(n, s) for n, s in (("b", 5), ("a", 1), ("c", 9))]
    assert [[w.name for w in g] for g in plan_layers(wheels, budget=3)] == [["a"], ["b"], ["c"]]


def test_over_budget_the_small_tail_shares_one_layer():
    wheels = [_wheel(n, s) for n, s in (("big", 900), ("mid", 500), ("t1", 3), ("t2", 2), ("t3", 1))]
    groups = [[w.name for w in g] for g in plan_layers(wheels, budget=3)]
    assert groups == [["big"], ["mid"], ["t1", "t2", "t3"]]
