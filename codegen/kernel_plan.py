"""What every backend renders: kernel statements and boundary steps, as plain data.

    >>> plan = plan_kernel(lowered)
    >>> plan.temporaries      # [(x0, u[x, y]*v[x, y]**2)]  shared by both equations
    >>> plan.outputs["u"]     # -x0 + Du*(...) + F*(1 - u[x, y])
    >>> plan.boundary_steps   # (PeriodicWrap(axis=0), PeriodicWrap(axis=1))

``plan_kernel`` applies SymPy's common-subexpression elimination across all
fields of the kernel; boundary steps are ordered axis by axis, each covering the
full (padded) extent of the other axes so that corners come out right.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symsim.ir import LoweredModel, WallCondition


@dataclass(frozen=True)
class PeriodicWrap:
    """Copy the halo layers of ``axis`` from the opposite end of the interior."""

    axis: int


@dataclass(frozen=True)
class WallValue:
    """Set the boundary node of a wall from its Dirichlet or Neumann condition."""

    wall: WallCondition


@dataclass(frozen=True)
class GhostExtrapolation:
    """Fill ghost layer ``layer`` (1 = next to the wall) by extrapolation from inside."""

    wall: WallCondition
    layer: int


@dataclass(frozen=True)
class KernelPlan:
    lowered: LoweredModel
    temporaries: tuple        # ((symbol, expression), ...) in evaluation order
    outputs: dict             # field -> expression in accesses and temporaries
    boundary_steps: tuple     # PeriodicWrap | WallValue | GhostExtrapolation, in order
    frozen_nodes: tuple       # ((field, axis, side), ...): boundary nodes whose d/dt is zero


def plan_kernel(lowered: LoweredModel, common_subexpressions: bool = True) -> KernelPlan:
    fields = list(lowered.fields)
    expressions = [lowered.rhs[f] for f in fields]
    temporaries = ()
    if common_subexpressions:
        symbols = sympy.numbered_symbols("tmp")
        # canonical (re-evaluated) forms first: SymPy's cse mis-handles an unevaluated
        # Rational*Add (which diff() itself produces, e.g. cos((5*t - 12*y + 2)/10))
        # when the distributed form also occurs, and rewrites that Add as a Mul
        expressions = [_evaluated(e, {}) for e in expressions]
        replacements, reduced = sympy.cse(expressions, symbols=symbols, order="none")
        temporaries = tuple(replacements)
        expressions = reduced
    return KernelPlan(
        lowered=lowered,
        temporaries=temporaries,
        outputs=dict(zip(fields, expressions)),
        boundary_steps=boundary_steps(lowered),
        frozen_nodes=tuple((w.field, w.axis, w.side) for w in lowered.walls),
    )


def _evaluated(expr, cache: dict):
    """``expr`` rebuilt bottom-up with SymPy's automatic evaluation (same value, canonical form)."""
    if expr.is_Atom or not expr.args:
        return expr
    if expr not in cache:
        cache[expr] = expr.func(*[_evaluated(a, cache) for a in expr.args])
    return cache[expr]


def boundary_steps(lowered: LoweredModel) -> tuple:
    steps = []
    for k, axis in enumerate(lowered.axes):
        if axis.periodic:
            if lowered.halo[k]:
                steps.append(PeriodicWrap(k))
            continue
        walls = [w for w in lowered.walls if w.axis == k]
        steps.extend(WallValue(w) for w in walls)
        steps.extend(GhostExtrapolation(w, layer) for w in walls for layer in range(1, len(w.ghost_weights) + 1))
    return tuple(steps)
