"""pyproject.toml: the packaging list names every source package, and the dependencies are
the ones the sources import."""

import ast
import re
import sys
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = {"app", "codec", "eval", "lm", "recipes", "text"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _config():
    return _pyproject()["tool"]["setuptools"]


def _source_packages() -> set[str]:
    found = {"echovox"}
    for top in TOP_LEVEL:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            found.add(".".join(("echovox", *rel.parts)))
    return found


def test_every_package_folder_is_listed():
    listed = set(_config()["packages"])
    missing = _source_packages() - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_listed_packages_exist_and_map_to_folders():
    cfg = _config()
    dirs = cfg["package-dir"]
    for pkg in cfg["packages"]:
        top = ".".join(pkg.split(".")[:2])
        base = ROOT / dirs[top] if top in dirs else None
        assert base is not None, f"{pkg}: no package-dir entry for {top}"
        folder = base.joinpath(*pkg.split(".")[2:])
        assert (folder / "__init__.py").is_file(), f"{pkg}: {folder}/__init__.py is missing"


def test_no_echovox_folder_at_repo_root():
    # an echovox/ folder at the root would shadow the package-dir mapping when Python runs here
    assert not (ROOT / "echovox").exists()


def test_installed_namespace_imports():
    import echovox
    import echovox.app.cli
    import echovox.text

    assert echovox.__version__
    assert "echovox" in echovox.text.__name__


# distribution name -> the module it is imported as, where the two differ
IMPORT_NAMES = {"pyyaml": "yaml", "silero-vad": "silero_vad", "pillow": "PIL"}
# dependencies no echovox module imports by name, and why they are declared all the same
INDIRECT = {
    # resemblyzer imports webrtcvad, whose 2017 module needs pkg_resources; this wheel provides
    # the same module without it
    "webrtcvad-wheels",
    # Lightning's TensorBoardLogger, which the LM configs name, imports it
    "tensorboard",
}


def _declared() -> dict[str, str]:
    """The runtime dependencies and the eval extra, as {import name: distribution name}."""
    project = _pyproject()["project"]
    out = {}
    for req in [*project["dependencies"], *project["optional-dependencies"]["eval"]]:
        dist = re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower()
        out[IMPORT_NAMES.get(dist, dist.replace("-", "_"))] = dist
    return out


@cache
def _imported() -> frozenset[str]:
    """Top-level third-party modules the package sources import, at any depth."""
    found = set()
    for folder in ("src/echovox", *TOP_LEVEL):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return frozenset(m for m in found if m != "echovox" and m not in sys.stdlib_module_names)


def test_every_dependency_is_imported():
    unused = {
        dist
        for name, dist in _declared().items()
        if dist not in INDIRECT and name not in _imported()
    }
    assert not unused, f"declared in pyproject.toml but imported nowhere: {sorted(unused)}"


def test_every_import_is_declared():
    undeclared = _imported() - set(_declared())
    assert not undeclared, f"imported but not declared in pyproject.toml: {sorted(undeclared)}"
