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


# -- no staging tree: the tar is the one a staging tree gave ------------------------------------

# Taken from the code before layers were filled in memory (installer into a staging folder, then
# packed with gzip -6): the tar's digest (diff_id) and its gzip -6 digest, for the same wheels.
STAGED = {
    ("numpy",): ("sha256:47ad7c2930da915f8590ea04de38b3a50d8ba7fb04cc037f363a70a8d84fc482",
                 "sha256:e69c30a4ad5a8a26af73e04fd2f66574a1dc6d2d1203a5870563fccc0c1f2cee"),
    ("wheel", "tqdm", "tool"): ("sha256:511446a147dfa6db064030d433766f76b1bf27685ce53cafd42ebbe07e130ede",
                                "sha256:60c3fcbdf3befdb8c9220f39ea25be9bf477c43cf4ef62d283b822d916f4f443"),
}
STAGED_VENV = "sha256:969bf483d28fb24a830c530d5218d5c9a86da50998ecb3b9ae340b901f62200d"


def test_layers_are_byte_for_byte_the_tars_a_staging_tree_gave(wheelhouse, tmp_path):
    from mlenv.builders.pip_layers import venv_job
    from mlenv.oci.layers import gzip_to

    tool = make_wheel(tmp_path, "tool", "1.0", {"tool/__init__.py": "def main(): pass\n", "tool-1.0.data/scripts/tool-sh": "#!python\nprint('hi')\n",
                                               "tool-1.0.data/scripts/plain": "#!/bin/sh\necho\n"}, scripts={"tool": "tool:main"})
    paths = {"numpy": wheelhouse / "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
             "wheel": wheelhouse / "wheel-0.45.1-py3-none-any.whl", "tqdm": wheelhouse / "tqdm-4.66.5-py3-none-any.whl", "tool": tool}
    wheels = {n: LockedWheel(n, "1", p.name, p.as_uri(), hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size) for n, p in paths.items()}
    for names, (diff_id, gzip6) in STAGED.items():
        job = package_job([wheels[n] for n in names], paths, "3.11")
        layer, = pack_layers([job])
        tree = LayerTree()
        job.fill(tree)
        assert (layer.diff_id, gzip_to(tmp_path / "again.gz", tree.write_tar)[0]) == (diff_id, gzip6)
    venv = LayerTree()
    venv_job("3.11", "/usr/local/bin/python3.11").fill(venv)
    activate = {p for p in venv.entries if p.startswith("opt/env/bin/activate")}
    assert len(activate) == 3  # the venv of builder /2 adds bin/activate, .fish and .csh to the skeleton of /1
    for path in activate:
        del venv.entries[path]
    assert "sha256:" + hashlib.sha256(_tar_bytes(venv)).hexdigest() == STAGED_VENV


def _tar_bytes(tree: LayerTree) -> bytes:
    import io

    stream = io.BytesIO()
    tree.write_tar(stream)
    return stream.getvalue()


def test_a_wheels_files_are_read_again_from_the_wheel_not_kept(wheelhouse):
    """The tree holds no file of the wheel in memory (a torch layer's tree would hold 50 MB of them):
    only what installer made, RECORD, INSTALLER and the entry-point scripts."""
    from mlenv.oci.tree import ZipMember

    tree = LayerTree()
    _install_wheel(wheelhouse / "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", tree, "3.11")
    files = {path: e for path, e in tree.entries.items() if e.kind == "file"}
    held = {path for path, e in files.items() if isinstance(e.content, bytes)}
    assert any(path.endswith(".dist-info/RECORD") for path in held) and any("/bin/" in path for path in held)
    assert all(path.endswith((".dist-info/RECORD", ".dist-info/INSTALLER")) or "/bin/" in path for path in held)
    assert all(isinstance(files[path].content, ZipMember) for path in files.keys() - held) and len(files) > 900
    assert sum(len(files[path].content) for path in held) < 0.005 * sum(e.size for e in files.values())