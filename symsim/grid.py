"""Structured grids: 1 to 3 named axes, each periodic or bounded by walls.

    >>> grid = Grid(x=(0.0, 1.0, 64), y=(0.0, 2.0, 33), periodic=("x",))
    >>> grid.shape, grid.axes[0].spacing, grid.axes[1].spacing
    ((64, 33), 0.015625, 0.0625)

A periodic axis of ``points`` points has spacing (stop-start)/points and excludes
``stop``; a wall axis has spacing (stop-start)/(points-1) and both ends are grid points.
"""

from __future__ import annotations

import keyword
import math
import numbers
from dataclasses import dataclass

import sympy

from .errors import ModelDefinitionError

#: names symsim itself uses in lowered expressions and result files
RESERVED_NAMES = frozenset({"t", "Dt", "laplace", "grad", "div", "state", "out", "params", "np"})


def check_identifier(name: str, what: str) -> None:
    """Reject names that cannot be a Python identifier in generated code or an npz key."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ModelDefinitionError(f"{what} name {name!r} is not a valid identifier")
    if name.startswith("_") or name.startswith("h_"):
        raise ModelDefinitionError(f"{what} name {name!r} may not start with '_' or 'h_' (reserved by symsim)")
    if name in RESERVED_NAMES:
        raise ModelDefinitionError(f"{what} name {name!r} is reserved by symsim")


@dataclass(frozen=True)
class Axis:
    """One grid axis; ``symbol`` is the SymPy coordinate used in model expressions."""

    name: str
    start: float
    stop: float
    points: int
    periodic: bool

    @property
    def symbol(self) -> sympy.Symbol:
        return sympy.Symbol(self.name)

    @property
    def spacing_symbol(self) -> sympy.Symbol:
        """Grid spacing as it appears in lowered expressions (a loop invariant)."""
        return sympy.Symbol(f"h_{self.name}", positive=True)

    @property
    def spacing(self) -> float:
        intervals = self.points if self.periodic else self.points - 1
        return (self.stop - self.start) / intervals

    @property
    def grid_origin(self) -> float:
        """The coordinate of point 0 of the whole grid (the axis of one block of a decomposed grid,
        :class:`symsim.decomposition.BlockAxis`, starts elsewhere)."""
        return self.start

    @property
    def index_shift(self) -> int:
        """The whole grid's index of this axis's first point (0 but for a block's axis)."""
        return 0

    @property
    def coordinates(self):
        """The grid points along the axis (a NumPy array)."""
        import numpy as np     # here, not at import: the IR (symsim.ir) loads without NumPy
        return self.grid_origin + self.spacing * np.arange(self.index_shift, self.index_shift + self.points)

    def side_at(self, position: float) -> str | None:
        """'low' or 'high' when ``position`` is this axis's start or stop wall, else None."""
        tolerance = 1e-9 * max(abs(self.stop - self.start), 1.0)
        if abs(position - self.start) <= tolerance:
            return "low"
        if abs(position - self.stop) <= tolerance:
            return "high"
        return None


class Grid:
    """A structured grid of 1 to 3 axes: ``Grid(x=(start, stop, points), ..., periodic=...)``."""

    def __init__(self, periodic: bool | tuple[str, ...] | list[str] = False, **axes):
        if not 1 <= len(axes) <= 3:
            raise ModelDefinitionError(f"a Grid needs 1 to 3 axes, got {len(axes)}")
        if periodic is True:
            periodic_names = set(axes)
        elif periodic is False or periodic is None:
            periodic_names = set()
        else:
            periodic_names = {periodic} if isinstance(periodic, str) else set(periodic)
            unknown = periodic_names - set(axes)
            if unknown:
                raise ModelDefinitionError(
                    f"periodic names axes {sorted(unknown)} that the grid does not have (axes: {list(axes)})")
        built = []
        for name, spec in axes.items():
            check_identifier(name, "axis")
            try:
                start, stop, points = spec
                start, stop = float(start), float(stop)
            except (TypeError, ValueError):
                raise ModelDefinitionError(
                    f"axis {name!r} must be given as (start, stop, points), got {spec!r}") from None
            if isinstance(points, bool) or not isinstance(points, numbers.Integral) or points < 2:
                raise ModelDefinitionError(f"axis {name!r} needs an integer number of points >= 2, got {points!r}")
            if not (math.isfinite(start) and math.isfinite(stop)) or stop <= start:
                raise ModelDefinitionError(f"axis {name!r} needs finite start < stop, got ({start}, {stop})")
            built.append(Axis(name, start, stop, int(points), name in periodic_names))
        self.axes: tuple[Axis, ...] = tuple(built)

    @property
    def coords(self) -> tuple[sympy.Symbol, ...]:
        """The coordinate symbols, in axis order (always a tuple, even for one axis)."""
        return tuple(axis.symbol for axis in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(axis.points for axis in self.axes)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    def axis(self, name: str) -> Axis:
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise ModelDefinitionError(f"the grid has no axis {name!r} (axes: {[a.name for a in self.axes]})")

    def __repr__(self) -> str:
        parts = [f"{a.name}=({a.start}, {a.stop}, {a.points})" for a in self.axes]
        periodic = [a.name for a in self.axes if a.periodic]
        return f"Grid({', '.join(parts)}, periodic={tuple(periodic)})"
