"""The daemonless builder's pip layers: wheels installed like pip would, planned under a layer budget."""

import hashlib
import tarfile

from mlenv.builders.pip_layers import _install_wheel, overlap_warnings, package_job, plan_layers
from mlenv.definition.model import ENV_PREFIX
from mlenv.oci.layers import pack_layers
from mlenv.oci.tree import LayerTree
from mlenv.resolve.pip_lock import LockedWheel
from testbed.wheelmaker import make_wheel


def test_wheel_installs_into_the_venv_with_scripts_pointing_at_it(tmp_path):
    wheel = make_wheel(tmp_path, "hello", "1.0", {"hello/__init__.py": "def main():\n    print('hi')\n"}, scripts={"hello": "hello:main"})
    tree = LayerTree()
    _install_wheel(wheel, tree, "3.11")
    env = ENV_PREFIX.lstrip("/")
    assert tree.entries[f"{env}/lib/python3.11/site-packages/hello/__init__.py"].kind == "file"
    assert tree.entries[f"{env}/lib/python3.11/site-packages/hello-1.0.dist-info/INSTALLER"].content == b"mlenv\n"
    script = tree.entries[f"{env}/bin/hello"]
    assert script.content.decode().startswith(f"#!{ENV_PREFIX}/bin/python\n")
    assert script.executable


def _wheel(name, size):
    return LockedWheel(name, "1", f"{name}-1-py3-none-any.whl", "u", name, size)


def test_each_package_has_its_own_layer_within_budget():
    wheels = [_wheel(n, s) for n, s in (("b", 5), ("a", 1), ("c", 9))]
    assert [[w.name for w in g] for g in plan_layers(wheels, budget=3)] == [["a"], ["b"], ["c"]]


def test_over_budget_the_small_tail_shares_one_layer():
    wheels = [_wheel(n, s) for n, s in (("big", 900), ("mid", 500), ("t1", 3), ("t2", 2), ("t3", 1))]
    groups = [[w.name for w in g] for g in plan_layers(wheels, budget=3)]
    assert groups == [["big"], ["mid"], ["t1", "t2", "t3"]]


# -- files two wheels both ship ----------------------------------------------------------------

def _namespace_wheels(tmp_path, second_content):
    first = make_wheel(tmp_path, "backports.alpha", "1.0", {"backports/__init__.py": "# namespace\n", "backports/alpha.py": "A = 1\n"})
    second = make_wheel(tmp_path, "backports.beta", "1.0", {"backports/__init__.py": second_content, "backports/beta.py": "B = 1\n"})
    wheels = [LockedWheel(n, "1.0", p.name, p.as_uri(), hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size)
              for n, p in (("backports-alpha", first), ("backports-beta", second))]
    return wheels, {"backports-alpha": first, "backports-beta": second}


def _layer_file(layer, path):
    with tarfile.open(layer.path) as tar:
        return tar.extractfile(f"{ENV_PREFIX.lstrip('/')}/lib/python3.11/site-packages/{path}").read().decode()


def test_identical_files_in_one_layer_are_one_file_and_no_warning(tmp_path):
    wheels, files = _namespace_wheels(tmp_path, "# namespace\n")
    layer, = pack_layers([package_job(wheels, files, "3.11")])  # both in one layer: installed into one tree
    assert _layer_file(layer, "backports/__init__.py") == "# namespace\n"
    assert _layer_file(layer, "backports/beta.py") == "B = 1\n" and _layer_file(layer, "backports/alpha.py") == "A = 1\n"
    assert overlap_warnings([wheels], files) == []


def test_different_files_the_later_package_wins_with_a_warning_naming_both(tmp_path):
    wheels, files = _namespace_wheels(tmp_path, "# beta's own\n")
    layer, = pack_layers([package_job(wheels, files, "3.11")])
    assert _layer_file(layer, "backports/__init__.py") == "# beta's own\n"
    assert overlap_warnings([[wheels[0]], [wheels[1]]], files) == [
        "backports-alpha==1.0 and backports-beta==1.0 both install backports/__init__.py with different content: "
        "backports-beta==1.0's is kept (the later package wins, as in pip)"]


def test_two_packages_with_one_console_script_name_are_an_overlap(tmp_path):
    one = make_wheel(tmp_path, "one", "1.0", {"one.py": "def main(): pass\n"}, scripts={"tool": "one:main"})
    two = make_wheel(tmp_path, "two", "1.0", {"two.py": "def main(): pass\n"}, scripts={"tool": "two:main"})
    wheels = [_wheel("one", 1), _wheel("two", 1)]
    assert overlap_warnings([wheels], {"one": one, "two": two}) == [
        "one==1 and two==1 both install bin/tool with different content: two==1's is kept (the later package wins, as in pip)"]
