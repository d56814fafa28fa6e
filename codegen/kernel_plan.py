"""What every backend renders: kernel statements and boundary steps, as plain data.

    >>> plan = plan_kernel(lowered, egraph_kernel(lowered)[0])
    >>> plan.invariants       # ((c0, Du/h_x**2), ...)  once per call
    >>> plan.temporaries      # ((tmp0, u[x, y]*v[x, y]**2),)  shared by both equations
    >>> plan.outputs["u"]     # c2*(u[x+1, y] + u[x-1, y] + u[x, y+1] + u[x, y-1]) + u[x, y]*(c3 - ...) + F
    >>> plan.boundary_steps   # (PeriodicWrap(axis=0), PeriodicWrap(axis=1))

The per-point computation comes from an optimization pass (:mod:`symsim.simplify`:
SymPy's cse alone, or the e-graph pass); boundary steps are ordered axis by axis,
each covering the full (padded) extent of the other axes so that corners come out right.
"""

from __future__ import annotations

from dataclasses import dataclass

from symsim.ir import Kernel, LoweredModel, WallCondition
from symsim.simplify import cse_kernel


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
    invariants: tuple         # ((symbol, expression), ...) evaluated once per call
    temporaries: tuple        # ((symbol, expression), ...) per point, in evaluation order
    outputs: dict             # field -> expression in accesses, invariants and temporaries
    boundary_steps: tuple     # PeriodicWrap | WallValue | GhostExtrapolation, in order
    frozen_nodes: tuple       # ((field, axis, side), ...): boundary nodes whose d/dt is zero


def plan_kernel(lowered: LoweredModel, kernel: Kernel | None = None) -> KernelPlan:
    """Combine an optimized kernel (default: SymPy cse of the lowered IR) with the boundary steps."""
    kernel = kernel if kernel is not None else cse_kernel(lowered)
    return KernelPlan(
        lowered=lowered,
        invariants=kernel.invariants,
        temporaries=kernel.temporaries,
        outputs={f: kernel.outputs[f] for f in lowered.fields},
        boundary_steps=boundary_steps(lowered),
        frozen_nodes=tuple((w.field, w.axis, w.side) for w in lowered.walls),
    )


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
