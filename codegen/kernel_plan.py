"""The per-point computation every backend renders, after an optimization pass.

    >>> from symsim import load_model
    >>> from symsim.lowering import lower_to_stencils
    >>> from symsim.simplify import egraph_kernel
    >>> lowered = lower_to_stencils(load_model("heat_1d"))
    >>> plan_kernel(lowered).outputs["u"]                        # SymPy's cse alone
    D*(u[x+1] + u[x-1] - 2*u[x])/h_x**2
    >>> gray_scott = lower_to_stencils(load_model("gray_scott"))
    >>> plan = plan_kernel(gray_scott, egraph_kernel(gray_scott)[0])    # the e-graph pass
    >>> plan.outputs["v"]                                               # c3, c4: once per call
    v[x, y]*(u[x, y]*v[x, y] + c3) + c4*(v[x+1, y] + v[x, y+1] + v[x, y-1] + v[x-1, y])

The computation comes from :mod:`symsim.simplify` (SymPy's cse alone, or the e-graph
pass); :mod:`symsim.codegen.loops` places it, and the boundary steps, in loops.
"""

from __future__ import annotations

from dataclasses import dataclass

from symsim.ir import Kernel, LoweredModel
from symsim.simplify import cse_kernel


@dataclass(frozen=True)
class KernelPlan:
    lowered: LoweredModel
    invariants: tuple         # ((symbol, expression), ...) evaluated once per call
    temporaries: tuple        # ((symbol, expression), ...) per point, in evaluation order
    outputs: dict             # field -> expression in accesses, invariants and temporaries
    #: the Jacobian's stencil coefficients (:mod:`symsim.jacobian`), when asked for: the entries and
    #: their optimized kernel, whose outputs are named after the entries
    jacobian: tuple = ()
    jacobian_kernel: Kernel | None = None

    @property
    def kernel(self) -> Kernel:
        return Kernel(self.invariants, self.temporaries, self.outputs)


def plan_kernel(lowered: LoweredModel, kernel: Kernel | None = None, jacobian: tuple = (),
                jacobian_kernel: Kernel | None = None) -> KernelPlan:
    """An optimized kernel (default: SymPy cse of the lowered IR) for the model's fields, and the
    Jacobian's (``jacobian``: :class:`~symsim.jacobian.JacobianEntry` s, their kernel) when given."""
    kernel = kernel if kernel is not None else cse_kernel(lowered)
    return KernelPlan(lowered, kernel.invariants, kernel.temporaries, {f: kernel.outputs[f] for f in lowered.fields},
                      tuple(jacobian), jacobian_kernel)
