"""PyTorch physics loss for neural operators: the loop IR printed as tensor slicing over a batch of states.

    >>> from symsim import load_model
    >>> from symsim.codegen import function_text
    >>> from symsim.codegen.kernel_plan import plan_kernel
    >>> from symsim.lowering import lower_to_stencils
    >>> source = render_torch_operator_module(plan_kernel(lower_to_stencils(load_model("heat_1d"))))
    >>> print(function_text(source, "rhs"))    # then PhysicsLoss (templates/physics_loss.py)
    def rhs(t, state, p):
        ...
        D = p['D']
        out = torch.zeros_like(state)
        # interior points
        rate_u = D*(state[:, 0, 2:103] + state[:, 0, 0:101] - 2*state[:, 0, 1:102])/0.0001
        out[:, 0, 1:102] = rate_u
        # wall node of u at x=0.0: set by its condition, not evolved
        out[:, 0, 1:2] = 0.0
        # wall node of u at x=1.0: set by its condition, not evolved
        out[:, 0, 101:102] = 0.0
        return out[:, :, 1:102]

Predictions ``pred[b, n, f, *grid]`` (the layout of symsim's Result) are padded state
by state with the simulator's own boundary steps (:func:`symsim.codegen.loops.boundary_pass`),
the right-hand side is evaluated on all of them at once, and the loss is the residual
of a time difference (forward Euler or the trapezoidal rule): the model-independent
part is :mod:`symsim.codegen.templates.physics_loss`, inlined. The generated module
imports only ``math`` and ``torch``; every operation is differentiable, so gradients
reach ``pred`` (and tensor-valued parameters).

Derivatives are the model's finite-difference stencils on every axis, periodic ones
included, so a trajectory of symsim's forward-Euler simulator has a zero Euler residual
to round-off.
"""

from __future__ import annotations

import numpy as np
import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pytorch import TorchPrinter

from symsim.printing import KernelPrinting

from .kernel_plan import KernelPlan
from .loops import boundary_index, boundary_pass, check_names, interior, interior_pass, module_head, pass_symbols
from .numpy_backend import Slices, sliced_function
from .templates import inlined_text

SCHEMES = ("euler", "trapezoid")


class TensorPrinter(Slices, KernelPrinting, TorchPrinter):
    """SymPy's PyTorch printer over the slices of a region of a batch of states.

    Per-point values are tensors (state, *region) or broadcast to it; spacings are Python
    floats, so a function of spacings alone is evaluated here, once.
    """

    def _print(self, expr, **kwargs):
        spacing = self.lowered.spacing
        if isinstance(expr, sympy.Expr) and not expr.is_Atom and expr.free_symbols \
                and expr.free_symbols <= set(spacing):
            return repr(float(expr.subs(spacing)))
        return super()._print(expr, **kwargs)

    def _print_Pow(self, power, rational=False):
        base, exponent = power.args
        if exponent.is_Integer and 1 <= abs(exponent) <= 4:
            return super()._print_Pow(power)
        # an operator, not torch.pow: a base may be a Python float (a parameter)
        return f"{self.parenthesize(base, PRECEDENCE['Pow'])}**{self.parenthesize(exponent, PRECEDENCE['Pow'])}"

    def _print_Max(self, expr):
        return self._extremum(expr, "torch.maximum", "min", max)

    def _print_Min(self, expr):
        return self._extremum(expr, "torch.minimum", "max", min)

    def _extremum(self, expr, function: str, bound: str, reduce) -> str:
        # torch.maximum takes two tensors; numbers among the arguments become a clamp bound
        numbers = [a for a in expr.args if a.is_number]
        text = self._chain(function, [a for a in expr.args if not a.is_number])
        if numbers:
            text = f"torch.clamp({text}, {bound}={float(reduce(numbers))!r})"
        return text


def render_torch_operator_module(plan: KernelPlan) -> str:
    """Python source of a module with ``apply_boundaries``, ``pad``, ``rhs`` and ``PhysicsLoss``."""
    lowered = plan.lowered
    check_names(plan, "torch-operator")
    boundaries = boundary_pass(lowered)
    rhs = interior_pass(plan, "rhs", "d(state)/dt at the grid points of padded states: (state, field, *SHAPE); "
                        "wall nodes 0.", [("out", (), 1)], freeze=True)
    lines = _header(lowered)
    lines += sliced_function(lowered, boundaries, "apply_boundaries(t, state, p)", lead=":, ", printer=TensorPrinter,
                             prologue=_coordinate_lines(lowered, pass_symbols(boundaries)), epilogue=["return state"])
    lines += _pad_function(lowered)
    region = ", ".join(["state[:, :", *("{}:{}".format(*r) for r in interior(lowered))]) + "]"
    lines += sliced_function(lowered, rhs, "rhs(t, state, p)", {"src": "state"}, ":, ", TensorPrinter,
                             _coordinate_lines(lowered, pass_symbols(rhs)) + ["out = torch.zeros_like(state)"],
                             [f"return out{region[len('state'):]}"])
    lines += inlined_text("physics_loss").splitlines()
    source = "\n".join(lines).rstrip() + "\n"
    if "math." not in source:
        source = source.replace("\nimport math\n\n", "\n", 1)   # SymPy's printer may use math.inf, math.pi
    return source


def _header(lowered) -> list[str]:
    grid_index = "".join(f", i_{a.name}" for a in lowered.axes)
    text = ["(second order in time: the state holds such a field u and its velocity u_t)", ""] \
        if len(lowered.fields) > len(lowered.user_fields) else []
    text += [f"Tensor layout: pred[b, n, f{grid_index}] is field FIELDS[f] of trajectory b at time t_n = t0 + n*dt"
             + (" on the SHAPE grid points (no halo)" if lowered.axes else "") + ", the layout of",
             "numpy.stack([result[f] for f in FIELDS], axis=1) for a symsim Result. PhysicsLoss gives the residual",
             f"of a time difference of f, symsim's semi-discrete right-hand side (stencils of space order "
             f"{lowered.space_order}), on each state padded as the simulator pads it (apply_boundaries).", "",
             "    loss_fn = PhysicsLoss()              # the model's parameters, or PhysicsLoss({'name': value})",
             "    loss = loss_fn(pred, dt=0.01)        # mean square residual; loss.backward() reaches pred",
             "    r = loss_fn.residual(pred, dt=0.01, scheme='trapezoid')", ""]
    return module_head(lowered, "Physics loss for neural operators", text, ["import math", "", "import torch"],
                       {"PADDED_SHAPE": lowered.padded_shape, "SCHEMES": SCHEMES,
                        "WALL_NODES": tuple((w.field, w.axis, w.side) for w in lowered.walls),
                        "EVOLVED_POINTS": _evolved_points(lowered)})


def _evolved_points(lowered) -> int:
    evolved = np.ones((len(lowered.fields),) + lowered.padded_shape, dtype=bool)
    for w in lowered.walls:
        node = [slice(None)] * lowered.ndim
        node[w.axis] = boundary_index(lowered, w.axis, w.side)
        evolved[(lowered.fields.index(w.field), *node)] = False
    return int(evolved[(slice(None), *(slice(*r) for r in interior(lowered)))].sum())


def _coordinate_lines(lowered, used: set) -> list[str]:
    """Padded coordinates of the axes in ``used``, shaped to broadcast over the trailing grid axes."""
    lines = []
    for k, axis in enumerate(lowered.axes):
        if axis.symbol in used:
            shape = ", ".join("-1" if j == k else "1" for j in range(lowered.ndim))
            halo = lowered.halo[k]
            lines.append(f"{axis.name} = ({axis.name}_start + h_{axis.name}*torch.arange({-halo}, {axis.points + halo}, "
                         f"dtype=state.dtype, device=state.device)).reshape({shape})")
    return lines


def _pad_function(lowered) -> list[str]:
    lines = ["def pad(states, t, p):",
             '    """States on the grid (state, field, *SHAPE) -> padded states, boundaries applied at times t."""']
    if not lowered.axes:
        return lines + ["    return states", "", ""]
    region = ", ".join("{}:{}".format(*r) for r in interior(lowered))
    return lines + ["    # halo cells that no boundary step fills stay zero, as in the simulator",
                    "    state = states.new_zeros(states.shape[:2] + PADDED_SHAPE)",
                    f"    state[:, :, {region}] = states",
                    "    return apply_boundaries(t, state, p)", "", ""]
