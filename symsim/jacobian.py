"""The semi-discrete Jacobian of a lowered model, symbolically: one coefficient per stencil access.

    >>> from symsim import load_model
    >>> from symsim.lowering import lower_to_stencils
    >>> lowered = lower_to_stencils(load_model("gray_scott"))
    >>> entries = jacobian_entries(lowered)
    >>> [(e.row, str(e.access), e.derivative) for e in entries if e.row == "v" and e.access.field == "u"]
    [('v', 'u[x, y]', v[x, y]**2)]

d(rhs of field f at a point)/d(access a) is one SymPy expression per (f, a) pair, valid at
every grid point: the model's Jacobian with respect to its padded state is, row by row, these
coefficients at the accesses' points. Boundary rows (wall nodes, ghosts, periodic halos) are
linear in the state and come from the boundary pass, see :mod:`symsim.system`. Backends render
the coefficients as one more pass over the grid (:func:`symsim.codegen.loops.jacobian_pass`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sympy

from .ir import LoweredModel, StencilAccess, stencil_accesses


@dataclass(frozen=True)
class JacobianEntry:
    """d(rhs of ``row``)/d(``access``) = ``derivative``; ``name`` labels it in generated code."""

    name: str
    row: str
    access: StencilAccess
    derivative: sympy.Expr


def jacobian_entries(lowered: LoweredModel) -> tuple[JacobianEntry, ...]:
    """Every nonzero coefficient of the Jacobian stencil, in field order then access order.

    Derivatives of step functions (``DiracDelta``) are dropped: they vanish almost everywhere,
    and a Newton or Rosenbrock matrix needs the derivative where the state is, not a spike.
    """
    entries = []
    for row in lowered.fields:
        expression = lowered.rhs[row]
        for access in sorted(stencil_accesses(expression),
                             key=lambda a: (lowered.fields.index(a.field), a.offsets)):
            derivative = sympy.diff(expression, access).replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
            if derivative != 0:
                entries.append(JacobianEntry(f"d{len(entries)}", row, access, derivative))
    return tuple(entries)


def coefficient_model(lowered: LoweredModel, entries) -> LoweredModel:
    """The coefficients as the outputs of a model (one per entry), for the optimization passes that
    take a model's right-hand sides (SymPy's cse, the e-graph pass)."""
    return dataclasses.replace(lowered, fields=tuple(e.name for e in entries),
                               rhs={e.name: e.derivative for e in entries})


def depends_on_time(lowered: LoweredModel) -> bool:
    """Whether the right-hand side changes with t at a fixed state (explicitly, or through wall values)."""
    return any(lowered.time in e.free_symbols for e in lowered.rhs.values()) or any(
        lowered.time in sympy.sympify(w.value).free_symbols for w in lowered.walls)
