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

__all__ = ["numpy_function", "grid_axes_coordinates", "evaluate_on_grid"]


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
    printer = _printer_class()({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})
    expression = list(expression) if isinstance(expression, tuple) else expression
    return sympy.lambdify(list(arguments), expression, modules=[{}], printer=printer)


@functools.lru_cache(maxsize=1)
def _printer_class():
    """SciPy's printer where SciPy is installed (erf, gamma, Bessel functions vectorized), else NumPy's."""
    return SciPyPrinter if importlib.util.find_spec("scipy") is not None else NumPyPrinter


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
    shape = tuple(max(c.shape[k] for c in coordinates) for k in range(len(coordinates)))
    extra = list(extra)
    function = numpy_function([*symbols, *(s for s, _ in extra)], expression)
    arrays = [a for _, a in extra]
    with np.errstate(all="ignore"):
        try:
            values = np.asarray(function(*coordinates, *arrays), dtype=float)
            return np.broadcast_to(values, np.broadcast_shapes(values.shape, shape))
        except ValueError:
            dense = np.meshgrid(*[c.ravel() for c in coordinates], indexing="ij")
            return np.broadcast_to(np.asarray(function(*dense, *arrays), dtype=float), shape)
