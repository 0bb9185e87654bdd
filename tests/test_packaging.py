"""The packaging list in pyproject.toml must name every source package."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = {"app", "codec", "eval", "lm", "recipes", "text"}


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


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
