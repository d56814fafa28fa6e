"""SymPy expressions evaluated as vectorized NumPy on a grid: initial values, Jacobian coefficients.

    >>> import sympy
    >>> from symsim import Grid
    >>> grid = Grid(x=(0.0, 1.0, 5), y=(0.0, 1.0, 3))
    >>> x, y = grid.coords
    >>> values = evaluate_on_grid(1 + x * sympy.cos(sympy.pi * y), grid.coords, grid_axes_coordinates(grid.axes))
    >>> values.shape, values[-1].round(3).tolist()
    ((5, 3), [2.0, 1.0, 0.0])

Coordinates are open (sparse) arrays, one axis each, so NumPy's broadcasting evaluates
every factor that depends on one axis on that axis's points only: ``cos(2*pi*x)*cos(4*pi*y)``
on 1024^2 points costs two cosines of 1024 values and one product of 1M. The printed
function binds only the names it uses (``from numpy import cos``): ``lambdify(modules="numpy")``
runs ``from numpy import *``, which imports NumPy's lazily loaded submodules (~0.1-0.2 s per process).
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter, SciPyPrinter

__all__ = ["numpy_function", "numpy_module_source", "grid_axes_coordinates", "evaluate_on_grid"]


def numpy_function(arguments, expression):
    """``expression`` as a Python function of ``arguments`` that evaluates with NumPy (broadcasting).

    Made once per (arguments, expression): lambdify prints and compiles source, milliseconds
    that add up where one model is evaluated many times (stability estimates of repeated runs).
    """
    expression = tuple(expression) if isinstance(expression, list) else expression
    return _cached_numpy_function(tuple(arguments), expression)


@functools.lru_cache(maxsize=1024)
def _cached_numpy_function(arguments: tuple, expression):
    # the names it prints (cos, pi, functools' reduce, ...) are imported one by one by lambdify
    expression = list(expression) if isinstance(expression, tuple) else expression
    return sympy.lambdify(list(arguments), expression, modules=[{}], printer=_printer())


def _printer():
    return _printer_class()({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})


def numpy_module_source(functions: dict, docstring: str) -> str:
    """Source of a Python module defining ``name(arguments...) -> expression`` for each entry of ``functions``
    (``{name: (argument symbols, expression, what it computes)}``), printed as :func:`numpy_function` prints them.

    For results worth keeping between processes (the kernel cache): importing the module costs a file
    read, where differentiating and lambdifying again costs tens of milliseconds per model.
    Arguments are renamed ``a0, a1, ...``, so any symbol name (a stencil access ``u[i+1]``) is allowed.
    """
    printer = _printer()
    bodies = []
    for name, (arguments, expression, meaning) in functions.items():
        renamed = {symbol: sympy.Symbol(f"a{k}") for k, symbol in enumerate(arguments)}
        body = printer.doprint(sympy.sympify(expression).xreplace(renamed))
        legend = ", ".join(f"{new}={old}" for old, new in renamed.items())
        bodies.append(f"def {name}({', '.join(str(s) for s in renamed.values())}):\n"
                      f'    """{meaning} ({legend})"""\n    return {body}\n')
    imports = [f"from {module} import {', '.join(sorted(names))}"
               for module, names in sorted(printer.module_imports.items())]
    return "\n".join([f'"""{docstring}"""', "", *imports, "", "", *bodies])


class _SciPyFunctionsPrinter(SciPyPrinter):
    """SciPy's special functions, NumPy's ``pi``: SciPy's printer takes ``pi`` from ``scipy.constants``, whose
    import (~0.06-0.1 s) would be paid by every run whose initial value mentions pi."""

    _kc = {**SciPyPrinter._kc, "Pi": "numpy.pi"}


@functools.lru_cache(maxsize=1)
def _printer_class():
    """SciPy's printer where SciPy is installed (erf, gamma, Bessel functions vectorized), else NumPy's."""
    return _SciPyFunctionsPrinter if importlib.util.find_spec("scipy") is not None else NumPyPrinter


def grid_axes_coordinates(axes) -> list[np.ndarray]:
    """Each axis's coordinates as an open array: axis k has length ``points`` along dimension k, 1 elsewhere."""
    count = len(axes)
    return [np.asarray(axis.coordinates, dtype=float).reshape([-1 if k == j else 1 for j in range(count)])
            for k, axis in enumerate(axes)]


def evaluate_on_grid(expression, symbols, coordinates: list[np.ndarray], extra=()) -> np.ndarray:
    """``expression`` of the coordinate ``symbols`` (then ``extra`` (symbol, array) pairs) on the whole grid.

    Evaluated on the open coordinates and broadcast to the grid's shape; functions that do not
    broadcast open arrays (a ``Max`` of two axes prints as ``amax`` of a stacked tuple) fall back to
    the dense grid.
    """
    extra = list(extra)
    function = numpy_function([*symbols, *(s for s, _ in extra)], expression)
    return evaluate_function_on_grid(function, coordinates, [a for _, a in extra])


def evaluate_function_on_grid(function, coordinates: list[np.ndarray], arrays=()) -> np.ndarray:
    """:func:`evaluate_on_grid` of a function already made: ``function(*coordinates, *arrays)``."""
    shape = tuple(max(c.shape[k] for c in coordinates) for k in range(len(coordinates)))
    with np.errstate(all="ignore"):
        try:
            values = np.asarray(function(*coordinates, *arrays), dtype=float)
            return np.broadcast_to(values, np.broadcast_shapes(values.shape, shape))
        except ValueError:
            dense = np.meshgrid(*[c.ravel() for c in coordinates], indexing="ij")
            return np.broadcast_to(np.asarray(function(*dense, *arrays), dtype=float), shape)
