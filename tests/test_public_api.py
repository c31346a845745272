"""dcmmm.__all__ is the public API: every name resolves, and every name that
scripts, tests and the README take from the package top level is in it."""

import importlib.util
import re

import dcmmm
from tests.test_run import ROOT

TOP_LEVEL = re.compile(r"(?<![\w.])dcmmm\.([A-Za-z_]\w*)")
FROM_IMPORT = re.compile(r"from dcmmm import \(?([\w, \n]+)\)?")


def test_every_public_name_resolves():
    for name in dcmmm.__all__:
        assert getattr(dcmmm, name) is not None, name
    assert set(dcmmm.__all__) <= set(dir(dcmmm))


def test_scripts_tests_and_readme_take_only_public_names_from_the_top_level():
    files = [*ROOT.glob("scripts/*.py"), *ROOT.glob("tests/**/*.py"), ROOT / "README.md",
             ROOT / "train.py"]
    used = set()
    for path in files:
        text = path.read_text()
        used |= set(TOP_LEVEL.findall(text))
        for names in FROM_IMPORT.findall(text):
            used |= {n.strip() for n in names.split(",") if n.strip()}
    submodules = {n for n in used if importlib.util.find_spec(f"dcmmm.{n}") is not None}
    attributes = used - submodules - {"__all__", "__version__"}
    assert "load_run" in attributes and "what_if" in attributes
    assert attributes <= set(dcmmm.__all__), attributes - set(dcmmm.__all__)
