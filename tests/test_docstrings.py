"""Every ``>>>`` example in the package's docstrings runs and shows what it prints.

One test per module that has an example (the ids are the module names), found by walking the
installed package's folders: ``symsim`` and its subpackages, including ``symsim.codegen`` and
``symsim.rewrite_rules`` (which live in the checkout's top-level ``codegen/`` and
``rewrite_rules/`` folders). ``symsim.examples`` holds models, not library code, and is skipped.
A failure shows the doctest report: the example, what it should print and what it printed.
"""

import doctest
import importlib
import importlib.util
import io
import pkgutil
from pathlib import Path

import pytest

#: the installed package's roots: symsim.codegen and symsim.rewrite_rules live in folders of their own
PACKAGES = ("symsim", "symsim.codegen", "symsim.rewrite_rules")
SKIPPED = {"symsim.examples"}
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _has_example(path: Path) -> bool:
    return path.is_file() and ">>>" in path.read_text(encoding="utf-8")


def _walk(package: str, folders) -> set:
    """The modules and subpackages under ``folders`` (those of ``package``) whose source has a ``>>>``."""
    names = set()
    for info in pkgutil.iter_modules(folders, prefix=package + "."):
        if info.name in SKIPPED:
            continue
        leaf = Path(info.module_finder.path) / info.name.rpartition(".")[2]
        if info.ispkg:
            if _has_example(leaf / "__init__.py"):
                names.add(info.name)
            names |= _walk(info.name, [str(leaf)])
        elif _has_example(leaf.with_suffix(".py")):
            names.add(info.name)
    return names


def _modules_with_examples():
    """The dotted names of the package's modules whose source has a ``>>>``, sorted."""
    names = set()
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.submodule_search_locations is None:
            continue
        if spec.origin and _has_example(Path(spec.origin)):
            names.add(package)
        names |= _walk(package, list(spec.submodule_search_locations))
    return sorted(names)


MODULES = _modules_with_examples()


def test_some_modules_have_examples():
    """The walk found the package (an empty list would pass every parametrized test vacuously)."""
    assert "symsim.grid" in MODULES


@pytest.fixture
def small_torch_threads(request):
    """The examples' tensors are tiny: one torch thread, as in the torch test modules (on 2 shared
    cores a second thread made a 0.5 s example take 6 s). Without torch there is nothing to set."""
    if importlib.util.find_spec("torch") is not None:
        request.getfixturevalue("one_torch_thread")


@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_docstring_examples(name, small_torch_threads):
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name)
    assert any(test.examples for test in tests), f"{name} has '>>>' in its source but no doctest"
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    for test in tests:
        runner.run(test, out=report.write)
    assert runner.failures == 0, f"{runner.failures} example(s) failed in {name}:\n{report.getvalue()}"
