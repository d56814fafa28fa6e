"""The lowered (semi-discrete) IR that every backend consumes.

After lowering, a model is a :class:`LoweredModel`: per state field, one SymPy
expression for d(field)/dt at a grid point, written in

* :class:`StencilAccess` atoms -- the value of a field at the current point
  shifted by integer offsets, e.g. ``u[x+1, y]``;
* parameter symbols, coordinate symbols (the point's coordinates), the time
  symbol ``t`` and grid-spacing symbols ``h_x`` (all loop invariants but the
  coordinates);

plus plain-data boundary information (:class:`WallCondition`). Backends render
this; none of them discretizes anything.

    >>> from symsim import load_model, lower_to_stencils
    >>> lowered = lower_to_stencils(load_model("heat_1d"), space_order=2)
    >>> lowered.rhs["u"]
    D*(u[x+1] + u[x-1] - 2*u[x])/h_x**2
    >>> sorted(stencil_accesses(lowered.rhs["u"]), key=str)
    [u[x+1], u[x-1], u[x]]
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .grid import Axis


class StencilAccess(sympy.Symbol):
    """``field`` at the current grid point shifted by ``offsets`` (one integer per axis).

    A Symbol subclass so that SymPy's cse, subs and printers treat an access as
    an atom; ``field`` and ``offsets`` ride along for the backends.
    """

    def __new__(cls, field: str, offsets: tuple[int, ...] = (), axis_names: tuple[str, ...] = ()):
        offsets = tuple(int(o) for o in offsets)
        # real: fields hold real numbers, so d|u|/du is sign(u), not a derivative of re(u)
        obj = sympy.Symbol.__xnew__(cls, _access_name(field, offsets, axis_names), real=True)
        obj.field = field
        obj.offsets = offsets
        obj.axis_names = tuple(axis_names)
        return obj

    @classmethod
    def here(cls, field: str, axis_names: tuple[str, ...]) -> "StencilAccess":
        """``field`` at the current grid point itself (offset 0 along every axis)."""
        return cls(field, (0,) * len(axis_names), axis_names)

    def __getnewargs_ex__(self):
        # pickling (the kernel sent to the ranks of a decomposed run): Symbol's own passes its assumptions
        return (self.field, self.offsets, self.axis_names), {}

    def __getnewargs__(self):
        return (self.field, self.offsets, self.axis_names)

    def _hashable_content(self):
        return (self.name, self.field, self.offsets)


def _access_name(field: str, offsets: tuple[int, ...], axis_names: tuple[str, ...]) -> str:
    if not offsets:
        return field
    names = axis_names or tuple(f"i{k}" for k in range(len(offsets)))
    parts = [n if o == 0 else f"{n}{o:+d}" for n, o in zip(names, offsets)]
    return f"{field}[{', '.join(parts)}]"


def stencil_accesses(expr) -> set[StencilAccess]:
    return {a for a in expr.atoms(sympy.Symbol) if isinstance(a, StencilAccess)}


@dataclass(frozen=True)
class WallCondition:
    """Boundary condition of one field on one wall, ready to render.

    The boundary node is set algebraically each stage, then ``halo`` ghost layers
    beyond it are filled by polynomial extrapolation so that the interior stencil
    applies unchanged next to the wall (equivalent to one-sided stencils).

    * ``kind == "dirichlet"``: boundary value = ``value``.
    * ``kind == "neumann"``: sum_k neumann_weights[k] * u[boundary + k*inward] = value * h,
      solved for the boundary value; weights are for d/d(axis) with unit spacing.
    * ``ghost_weights[k-1]``: ghost layer k outside the wall = sum_j w_j * u[boundary + j*inward].
    """

    field: str
    axis: int
    side: str                      # "low" (start of the axis) or "high" (its stop)
    kind: str                      # "dirichlet" or "neumann"
    value: sympy.Expr              # in t, parameters and the other axes' coordinates
    neumann_weights: tuple
    ghost_weights: tuple
    origin: str

    @property
    def inward(self) -> int:
        return 1 if self.side == "low" else -1


@dataclass(frozen=True)
class LoweredModel:
    """A model after method-of-lines lowering (see the module docstring)."""

    name: str
    axes: tuple[Axis, ...]
    halo: tuple[int, ...]          # ghost/halo layers per axis
    space_order: int
    parameters: dict               # name -> default value
    fields: tuple[str, ...]        # state fields, in state order (second-order fields add "<u>_t")
    rhs: dict                      # field -> SymPy expression of d(field)/dt at a point
    walls: tuple[WallCondition, ...]
    initial: dict                  # field -> SymPy expression (in coordinates, parameters) or ndarray
    equations: dict                # field -> the user's equation as text (for reports)
    user_fields: tuple[str, ...]   # the fields the user declared
    #: field -> the lowered implicit side of its right-hand side for imex-ark (model.imex_split), or None:
    #: the whole linear, time-independent part
    imex: dict | None = None
    #: axes whose halo layers come from neighbouring blocks of a decomposed grid (symsim.decomposition)
    exchanged: tuple[int, ...] = ()
    #: a block whose stage passes compute their deep points while the halo exchange is under way
    #: (symsim.codegen.loops.exchange_overlap), where that changes no value
    overlap: bool = False

    time = sympy.Symbol("t")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.points for a in self.axes)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def padded_shape(self) -> tuple[int, ...]:
        return tuple(a.points + 2 * h for a, h in zip(self.axes, self.halo))

    @property
    def coordinate_symbols(self) -> tuple[sympy.Symbol, ...]:
        return tuple(a.symbol for a in self.axes)

    @property
    def spacing(self) -> dict:
        """Spacing symbol -> value, e.g. {h_x: 0.01}."""
        return {a.spacing_symbol: a.spacing for a in self.axes}

    def wall(self, field: str, axis: int, side: str) -> WallCondition | None:
        for w in self.walls:
            if (w.field, w.axis, w.side) == (field, axis, side):
                return w
        return None


@dataclass(frozen=True)
class Kernel:
    """The per-point computation a backend renders, after optimization passes.

    ``invariants`` are evaluated once per kernel call (they depend only on
    parameters, spacings and ``t``); ``temporaries`` once per grid point, in
    order; ``outputs`` give d(field)/dt in terms of both.
    """

    invariants: tuple        # ((symbol, expression), ...)
    temporaries: tuple       # ((symbol, expression), ...)
    outputs: dict            # field -> expression
