"""symsim: write a PDE or ODE model once in SymPy; get fast, verified simulators.

    >>> import symsim
    >>> result = symsim.simulate(symsim.load_model("heat_1d"), t_end=0.01, saves=2)
    >>> result["u"].shape
    (3, 101)

The pipeline, one module or package per stage, imports running one way::

    model -> lowering -> ir -> rewrite_rules -> simplify -> codegen -> compiler -> solve -> cli

``import symsim`` is light: the names below are loaded on first use, so the
command line's ``--help`` and ``import symsim.ir`` import neither egglog, Numba
nor PyTorch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Model": "model", "Dt": "model", "laplace": "model", "grad": "model", "div": "model", "t": "model",
    "Grid": "grid", "Rectangle": "geometry", "Disc": "geometry", "load_model": "loader", "simulate": "solve", "lower_to_stencils": "lowering",
    "compile_model": "compiler", "CompiledModel": "compiler", "Result": "result",
    "solve_ensemble": "ensemble", "EnsembleResult": "ensemble", "discover": "discovery", "sweep": "sweeps",
    **{name: "errors" for name in (
        "SymsimError", "ModelScriptError", "ModelDefinitionError", "UnknownSymbolError", "MissingEquationError",
        "BoundaryConditionError", "UnsupportedOperatorError", "ParameterError", "SolverError", "BackendError",
        "OptionError", "SymsimWarning")},
}

__all__ = [*_EXPORTS, "compile"]


def __getattr__(name: str):
    if name == "compile":      # ``symsim.compile(model, target="numpy")``, named after the CLI command
        name = "compile_model"
    if name not in _EXPORTS:
        raise AttributeError(f"module 'symsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _CheckoutStages(importlib.abc.MetaPathFinder):
    """In a source checkout, ``codegen/`` and ``rewrite_rules/`` sit beside this package; an
    install puts them inside it (pyproject's package-dir). This finder gives the checkout the
    installed names, ``symsim.codegen`` and ``symsim.rewrite_rules``, and nothing else."""

    def __init__(self, root: Path):
        self.folders = {f"{__name__}.{name}": root / name for name in ("codegen", "rewrite_rules")}

    def find_spec(self, fullname, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def _install_checkout_finder() -> None:
    package = Path(__file__).resolve().parent
    if (package / "codegen").is_dir() or not (package.parent / "codegen" / "__init__.py").is_file():
        return      # installed: the stages are inside the package
    if not any(isinstance(finder, _CheckoutStages) for finder in sys.meta_path):
        sys.meta_path.insert(0, _CheckoutStages(package.parent))


_install_checkout_finder()
