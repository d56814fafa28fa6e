"""PyTorch physics loss for neural operators: a :class:`KernelPlan` rendered as tensor slicing.

    >>> print(render_torch_operator_module(plan))      # a module a person can read:
    def rhs(t, state, p):
        nu = p['nu']
        c0 = nu/h_x**2
        u = state[:, 0]
        out = state.new_zeros(state.shape[:2] + SHAPE)
        out[:, 0] = u[..., 1:10]*(c1*(u[..., 0:9] - u[..., 2:11]) - c2) + c0*(u[..., 0:9] + u[..., 2:11])
        out[:, 0, 0] = 0.0
    ...
    class PhysicsLoss(torch.nn.Module):
        def residual(self, pred, dt, params=None, scheme="euler", t0=0.0): ...

Predictions ``pred[b, n, f, *grid]`` (the layout of symsim's Result) are padded
state by state with the simulator's own boundary steps, the plan's right-hand
side is evaluated on all of them at once, and the loss is the residual of a time
difference (forward Euler or the trapezoidal rule). The generated module imports
only ``math`` and ``torch``; every operation is differentiable, so gradients
reach ``pred`` (and tensor-valued parameters).

Derivatives are the model's finite-difference stencils on every axis, periodic
ones included, so a trajectory of symsim's forward-Euler simulator has a zero
Euler residual to round-off. (Spectral derivatives on periodic axes would need
the derivative operators, which the lowered IR no longer has: they are summed
into stencil expressions.)
"""

from __future__ import annotations

import numpy as np
import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pytorch import TorchPrinter

import symsim
from symsim.errors import BackendError
from symsim.ir import LoweredModel, StencilAccess

from .kernel_plan import GhostExtrapolation, KernelPlan, PeriodicWrap, WallValue
from .numba_backend import boundary_index, free_symbols, spacing_lines, stencil_fields
from .printing import DoubleLiterals

SCHEMES = ("euler", "trapezoid")


class TensorPrinter(DoubleLiterals, TorchPrinter):
    """SymPy's PyTorch printer, plus stencil accesses as shifted slices over the trailing grid axes.

    Per-point values are tensors (state, *grid) or broadcast to it; spacings are Python
    floats, so a function of spacings alone is evaluated here, once.
    """

    def __init__(self, lowered: LoweredModel, coordinate_code: dict):
        super().__init__({"fully_qualified_modules": True})
        self.lowered = lowered
        self.coordinate_code = coordinate_code   # coordinate symbol -> source of its values
        self.spacing = lowered.spacing

    def _print(self, expr, **kwargs):
        if isinstance(expr, sympy.Expr) and not expr.is_Atom and expr.has(sympy.Function) \
                and expr.free_symbols <= set(self.spacing):
            # torch functions take tensors, not the Python floats these evaluate to
            return repr(float(expr.subs(self.spacing)))
        return super()._print(expr, **kwargs)

    def _print_StencilAccess(self, access: StencilAccess) -> str:
        if not access.offsets:
            return access.field
        slices = [f"{h + o}:{h + o + a.points}"
                  for a, h, o in zip(self.lowered.axes, self.lowered.halo, access.offsets)]
        return f"{access.field}[..., {', '.join(slices)}]"

    def _print_Symbol(self, symbol) -> str:
        if symbol in self.coordinate_code:
            return self.coordinate_code[symbol]
        return super()._print_Symbol(symbol)

    def _print_Pow(self, power, rational=False):
        base, exponent = power.args
        if exponent == sympy.S.Half and not base.free_symbols <= set(self.spacing):
            return f"torch.sqrt({self._print(base)})"
        # operators, not torch.pow: a base may be a Python float (a spacing)
        factor = self.parenthesize(base, PRECEDENCE["Pow"])
        if exponent.is_Integer and exponent < 0:
            return f"1/{factor}" if exponent == -1 else f"1/{factor}**{int(-exponent)}"
        if exponent.is_Integer:
            return f"{factor}**{int(exponent)}"
        return f"{factor}**{self.parenthesize(exponent, PRECEDENCE['Pow'])}"

    def _print_Max(self, expr):
        return self._extremum(expr, "torch.maximum", "min", max)

    def _print_Min(self, expr):
        return self._extremum(expr, "torch.minimum", "max", min)

    def _extremum(self, expr, function: str, bound: str, reduce) -> str:
        # torch.maximum takes two tensors; numbers among the arguments become a clamp bound
        numbers = [a for a in expr.args if a.is_number]
        others = [a for a in expr.args if not a.is_number]
        text = self._print(others[0])
        for arg in others[1:]:
            text = f"{function}({text}, {self._print(arg)})"
        if numbers:
            text = f"torch.clamp({text}, {bound}={float(reduce(numbers))!r})"
        return text


def render_torch_operator_module(plan: KernelPlan) -> str:
    """Python source of a module with ``apply_boundaries``, ``pad``, ``rhs`` and ``PhysicsLoss``."""
    lowered = plan.lowered
    check_names(plan)
    lines = _header(plan)
    lines += _boundary_function(plan)
    lines += _pad_function(lowered)
    lines += _rhs_function(plan)
    lines += _loss_class(plan)
    source = "\n".join(lines).rstrip() + "\n"
    if "math." not in source:
        source = source.replace("\nimport math\n\n", "\n", 1)   # SymPy's printer may use math.inf, math.pi
    return source


def check_names(plan: KernelPlan) -> None:
    """Generated names (modules, arguments, kernel temporaries) must not shadow a model name."""
    lowered = plan.lowered
    generated = {"math", "torch", "t", "state", "states", "out", "p"}
    generated |= {str(s) for s, _ in plan.invariants + plan.temporaries}
    taken = set(lowered.parameters) | set(lowered.fields)
    clash = sorted(generated & taken)
    if clash:
        raise BackendError(f"model {lowered.name!r}: the name {clash[0]!r} is used by the generated loss; "
                           "rename that parameter or field")


# -- module parts -----------------------------------------------------------------------

def _header(plan: KernelPlan) -> list[str]:
    lowered = plan.lowered
    grid_index = "".join(f", i_{a.name}" for a in lowered.axes)
    lines = [
        f'"""Physics loss of model {lowered.name!r} for neural operators, generated by symsim {symsim.__version__}.',
        "",
        "Equations:",
    ]
    lines += [f"    {lowered.equations[f]}" for f in lowered.user_fields]
    if len(lowered.fields) > len(lowered.user_fields):
        lines.append("(second order in time: the state holds such a field u and its velocity u_t)")
    where = " on the SHAPE grid points (no halo)" if lowered.axes else ""
    lines += [
        "",
        f"Tensor layout: pred[b, n, f{grid_index}] is field FIELDS[f] of trajectory b at time",
        f"t_n = t0 + n*dt{where}, the layout of",
        "numpy.stack([result[f] for f in FIELDS], axis=1) for a symsim Result.",
        "",
        "Residual r[b, n] for n = 0 .. time-2, at every field and grid point:",
        "    euler:      (u[n+1] - u[n])/dt - f(t_n, u[n])",
        "    trapezoid:  (u[n+1] - u[n])/dt - (f(t_n, u[n]) + f(t_n+1, u[n+1]))/2",
    ]
    if lowered.axes:
        lines += [
            f"f is symsim's semi-discrete right-hand side (stencils of space order {lowered.space_order}),",
            "on each state padded with HALO ghost layers per axis as the simulator pads it",
            "(periodic wraps, wall values from their conditions at t_n, ghost extrapolation).",
        ]
    if plan.frozen_nodes:
        lines += ["Wall nodes are set from their conditions, not evolved: their residual is zero, and",
                  "boundary_residual() gives pred minus those conditions."]
    lines += [
        "",
        "    >>> loss_fn = PhysicsLoss()              # the model's parameters, or PhysicsLoss({'name': value})",
        "    >>> loss = loss_fn(pred, dt=0.01)        # mean square residual; loss.backward() reaches pred",
        "    >>> r = loss_fn.residual(pred, dt=0.01, scheme='trapezoid')",
        '"""',
        "",
        "import math",
        "",
        "import torch",
        "",
        "",
        f"FIELDS = {tuple(lowered.fields)!r}",
        f"AXES = {tuple(a.name for a in lowered.axes)!r}",
        f"SHAPE = {lowered.shape!r}",
        f"HALO = {lowered.halo!r}",
        f"PADDED_SHAPE = {lowered.padded_shape!r}",
        f"PARAMS = {dict(lowered.parameters)!r}",
        f"SCHEMES = {SCHEMES!r}",
        "#: wall nodes (field, axis, side): set by their condition, not evolved",
        f"WALL_NODES = {tuple(plan.frozen_nodes)!r}",
        "#: (field, grid point) pairs of one state whose residual counts",
        f"EVOLVED_POINTS = {_evolved_points(plan)}",
    ]
    return lines + spacing_lines(lowered) + ["", ""]


def _evolved_points(plan: KernelPlan) -> int:
    lowered = plan.lowered
    evolved = np.ones((len(lowered.fields),) + lowered.shape, dtype=bool)
    for field, axis, side in plan.frozen_nodes:
        index = [slice(None)] * lowered.ndim
        index[axis] = 0 if side == "low" else -1
        evolved[(lowered.fields.index(field),) + tuple(index)] = False
    return int(evolved.sum())


def _unpack(lowered: LoweredModel, expressions) -> list[str]:
    used = free_symbols(expressions)
    return [f"    {name} = p[{name!r}]" for name in lowered.parameters if sympy.Symbol(name) in used]


def _coordinate_lines(lowered: LoweredModel, used: set) -> list[str]:
    """Padded coordinates of the axes in ``used``, shaped to broadcast over the trailing grid axes."""
    lines = []
    for k, axis in enumerate(lowered.axes):
        if axis.symbol not in used:
            continue
        shape = ["1"] * lowered.ndim
        shape[k] = "-1"
        halo = lowered.halo[k]
        lines.append(f"    {axis.name} = ({axis.name}_start + h_{axis.name}*torch.arange({-halo}, {axis.points + halo}, "
                     f"dtype=state.dtype, device=state.device)).reshape({', '.join(shape)})")
    return lines


def _slab(lowered: LoweredModel, axis: int, start: int, stop: int, field: int | None = None) -> str:
    """Index of positions start:stop along ``axis`` of padded states, for every state and one field
    (or all). start:stop, not an integer, keeps the axis: per-state values (state, 1, ..., 1) and
    coordinates then broadcast over the slab."""
    parts = [":", ":" if field is None else str(field)] + [":"] * lowered.ndim
    parts[axis + 2] = f"{start}:{stop}"
    while parts[-1] == ":":
        parts.pop()
    return ", ".join(parts)


def _boundary_function(plan: KernelPlan) -> list[str]:
    lowered = plan.lowered
    lines = ["def apply_boundaries(t, state, p):",
             '    """Fill the halo layers and wall nodes of padded states (state, field, *PADDED_SHAPE) in place.',
             "",
             "    t: time of each state, shaped (state, 1, ..., 1); p: parameter values, numbers or tensors",
             '    of that shape. The steps and their order are those of symsim\'s simulator."""']
    steps = plan.boundary_steps
    values = [s.wall.value for s in steps if isinstance(s, WallValue)]
    lines += _unpack(lowered, values)
    lines += _coordinate_lines(lowered, free_symbols(values))
    for step in steps:
        if isinstance(step, PeriodicWrap):
            k, halo, n = step.axis, lowered.halo[step.axis], lowered.axes[step.axis].points
            lines.append(f"    # periodic axis {lowered.axes[k].name}: halo layers copied from the opposite end")
            lines.append(f"    state[{_slab(lowered, k, 0, halo)}] = state[{_slab(lowered, k, n, n + halo)}]")
            lines.append(f"    state[{_slab(lowered, k, n + halo, n + 2 * halo)}] = "
                         f"state[{_slab(lowered, k, halo, 2 * halo)}]")
        elif isinstance(step, WallValue):
            lines += _wall_value_lines(lowered, step.wall)
        elif isinstance(step, GhostExtrapolation):
            lines += _ghost_lines(lowered, step.wall, step.layer)
    return lines + ["    return state", "", ""]


def _node(lowered: LoweredModel, wall, position: int) -> str:
    return f"state[{_slab(lowered, wall.axis, position, position + 1, lowered.fields.index(wall.field))}]"


def _weighted_sum(lowered: LoweredModel, wall, weights, first: int) -> str:
    boundary = boundary_index(lowered, wall.axis, wall.side)
    terms = [(float(sympy.Rational(w)), _node(lowered, wall, boundary + j * wall.inward))
             for j, w in enumerate(weights, start=first) if w != 0]
    text = " ".join(f"{'-' if w < 0 else '+'} {abs(w)!r}*{node}" for w, node in terms)
    return text[2:] if text.startswith("+") else "-" + text[2:]


def _wall_value_lines(lowered: LoweredModel, wall) -> list[str]:
    axis = lowered.axes[wall.axis]
    boundary = boundary_index(lowered, wall.axis, wall.side)
    coordinates = {a.symbol: a.name for a in lowered.axes}
    coordinates[axis.symbol] = f"{axis.name}[{boundary}:{boundary + 1}]"   # the wall's position
    value = TensorPrinter(lowered, coordinates).doprint(wall.value)
    position = axis.start if wall.side == "low" else axis.stop
    lines = [f"    # {wall.kind} condition of {wall.field} at {axis.name}={position}"]
    target = _node(lowered, wall, boundary)
    if wall.kind == "dirichlet":
        return lines + [f"    {target} = {value}"]
    w0, *rest = wall.neumann_weights
    return lines + [f"    {target} = (({value})*h_{axis.name} - ({_weighted_sum(lowered, wall, rest, 1)}))"
                    f"/{float(sympy.Rational(w0))!r}"]


def _ghost_lines(lowered: LoweredModel, wall, layer: int) -> list[str]:
    ghost = boundary_index(lowered, wall.axis, wall.side) - layer * wall.inward
    terms = _weighted_sum(lowered, wall, wall.ghost_weights[layer - 1], 0)
    return [f"    {_node(lowered, wall, ghost)} = {terms}"]


def _pad_function(lowered: LoweredModel) -> list[str]:
    lines = ["def pad(states, t, p):",
             '    """States on the grid (state, field, *SHAPE) -> padded states, boundaries applied at times t."""']
    if not lowered.axes:
        return lines + ["    return states", "", ""]
    interior = ", ".join(f"{h}:{h + a.points}" for a, h in zip(lowered.axes, lowered.halo))
    return lines + ["    # halo cells that no boundary step fills stay zero, as in the simulator",
                    "    state = states.new_zeros(states.shape[:2] + PADDED_SHAPE)",
                    f"    state[:, :, {interior}] = states",
                    "    return apply_boundaries(t, state, p)", "", ""]


def _interior_coordinates(lowered: LoweredModel) -> dict:
    """Coordinate symbol -> source of its values at the grid points (padded array sliced)."""
    code = {}
    for k, axis in enumerate(lowered.axes):
        index = [":"] * lowered.ndim
        index[k] = f"{lowered.halo[k]}:{lowered.halo[k] + axis.points}"
        while index[-1] == ":":
            index.pop()
        code[axis.symbol] = f"{axis.name}[{', '.join(index)}]"
    return code


def _rhs_function(plan: KernelPlan) -> list[str]:
    lowered = plan.lowered
    printer = TensorPrinter(lowered, _interior_coordinates(lowered))
    expressions = [e for _, e in plan.temporaries] + list(plan.outputs.values())
    lines = ["def rhs(t, state, p):",
             '    """d(state)/dt at the grid points of padded states: (state, field, *SHAPE); wall nodes 0."""']
    lines += _unpack(lowered, expressions + [e for _, e in plan.invariants])
    lines += _coordinate_lines(lowered, free_symbols(expressions))
    if plan.invariants:
        lines.append("    # loop invariants: numbers, or one value per state")
    for symbol, expression in plan.invariants:
        lines.append(f"    {symbol} = {printer.doprint(expression)}")
    used = stencil_fields(plan)
    lines += [f"    {f} = state[:, {i}]" for i, f in enumerate(lowered.fields) if f in used]
    for symbol, expression in plan.temporaries:
        lines.append(f"    {symbol} = {printer.doprint(expression)}")
    lines.append("    out = state.new_zeros(state.shape[:2] + SHAPE)")
    for i, expression in enumerate(plan.outputs.values()):
        lines.append(f"    out[:, {i}] = {printer.doprint(expression)}")
    if plan.frozen_nodes:
        lines.append("    # wall nodes are set by their condition, not evolved")
    lines += _frozen_lines(plan, "out", ":", "    ")
    return lines + ["    return out", "", ""]


def _frozen_lines(plan: KernelPlan, array: str, leading: str, indent: str) -> list[str]:
    """Zero the wall nodes of a (leading..., field, *SHAPE) tensor."""
    lowered = plan.lowered
    lines = []
    for field, axis, side in plan.frozen_nodes:
        parts = [leading, str(lowered.fields.index(field))] + [":"] * lowered.ndim
        parts[axis + 2] = "0" if side == "low" else "-1"
        while parts[-1] == ":":
            parts.pop()
        lines.append(f"{indent}{array}[{', '.join(parts)}] = 0.0")
    return lines


def _loss_class(plan: KernelPlan) -> list[str]:
    frozen = _frozen_lines(plan, "r", ":, :", "        ")
    if frozen:
        frozen.insert(0, "        # wall nodes are set by their condition, not evolved")
    layout = "(batch, time, field" + "".join(f", {a.name}" for a in plan.lowered.axes) + ")"
    return (_LOSS_CLASS.replace("@LAYOUT@", layout)
            .replace("@FROZEN@\n", "".join(line + "\n" for line in frozen))).splitlines()


# The model-independent part of the generated module: argument checks, per-state values, the loss.
_LOSS_CLASS = '''def _check_prediction(pred):
    expected = (len(FIELDS),) + SHAPE
    if not torch.is_tensor(pred) or not pred.is_floating_point():
        raise TypeError(f"pred must be a floating-point tensor @LAYOUT@, got {type(pred).__name__}")
    if pred.dim() != 2 + len(expected) or tuple(pred.shape[2:]) != expected or pred.shape[1] < 2:
        raise ValueError(f"pred must have shape (batch, time >= 2, *{expected}) for fields {FIELDS} "
                         f"on the grid {SHAPE}, got {tuple(pred.shape)}")


def _per_trajectory(name, value, like):
    """A number, a 0-d tensor or one value per trajectory (batch,) -> a tensor in like's dtype and
    device: 0-d, or (batch, 1, ..., 1) to broadcast over trajectories shaped like ``like``."""
    if torch.is_tensor(value):
        value = value.to(dtype=like.dtype, device=like.device)
    else:
        value = torch.tensor(float(value), dtype=like.dtype, device=like.device)
    if value.dim() == 0:
        return value
    if tuple(value.shape) != (like.shape[0],):
        raise ValueError(f"{name}: expected a number or a tensor of shape ({like.shape[0]},) "
                         f"(one value per trajectory), got shape {tuple(value.shape)}")
    return value.reshape((-1,) + (1,) * (like.dim() - 1))


def _per_state(name, value, pred, steps):
    """The value for each of the first ``steps`` states of every trajectory, shaped to broadcast
    over states (batch*steps, *SHAPE)."""
    value = _per_trajectory(name, value, pred)
    if value.dim() == 0:
        return value
    return value.reshape(-1).repeat_interleave(steps).reshape((-1,) + (1,) * len(SHAPE))


class PhysicsLoss(torch.nn.Module):
    """Residual of the model's discretized equations on predicted trajectories @LAYOUT@.

        >>> loss_fn = PhysicsLoss()
        >>> loss = loss_fn(pred, dt=0.01, scheme="trapezoid")
        >>> loss.backward()                       # gradients reach pred

    params (here or per call) override PARAMS; dt, t0 and each parameter may be a number,
    a 0-d tensor or a tensor of shape (batch,) with one value per trajectory.
    """

    def __init__(self, params=None):
        super().__init__()
        self.params = self._resolve(params, dict(PARAMS))

    @staticmethod
    def _resolve(params, values):
        for name, value in (params or {}).items():
            if name not in values:
                raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(PARAMS) or 'none'}")
            values[name] = value
        return values

    def _state_values(self, pred, steps, dt, t0, params):
        """Times and parameter values of the first ``steps`` states of every trajectory."""
        values = self._resolve(params, dict(self.params))
        p = {name: _per_state(name, value, pred, steps) for name, value in values.items()}
        n = torch.arange(steps, dtype=pred.dtype, device=pred.device).repeat(pred.shape[0])
        t = _per_state("t0", t0, pred, steps) + _per_state("dt", dt, pred, steps)*n.reshape((-1,) + (1,) * len(SHAPE))
        return t, p

    def rates(self, pred, dt, params=None, t0=0.0):
        """f(t_n, u[n]) of every state, shaped like pred (wall nodes 0)."""
        _check_prediction(pred)
        batch, steps = pred.shape[:2]
        t, p = self._state_values(pred, steps, dt, t0, params)
        states = pred.reshape((batch*steps,) + pred.shape[2:])
        return rhs(t, pad(states, t, p), p).reshape(pred.shape)

    def residual(self, pred, dt, params=None, scheme="euler", t0=0.0):
        """r[b, n] at every field and grid point: shape (batch, time-1, field, *SHAPE), 0 on wall nodes."""
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; schemes: {', '.join(SCHEMES)}")
        _check_prediction(pred)
        difference = (pred[:, 1:] - pred[:, :-1])/_per_trajectory("dt", dt, pred)
        if scheme == "euler":
            r = difference - self.rates(pred[:, :-1], dt, params, t0)
        else:
            f = self.rates(pred, dt, params, t0)
            r = difference - (f[:, :-1] + f[:, 1:])/2
@FROZEN@
        return r

    def forward(self, pred, dt, params=None, scheme="euler", t0=0.0):
        """Mean square residual over the evolved points (wall nodes excluded)."""
        r = self.residual(pred, dt, params, scheme, t0)
        return r.square().sum()/(r.shape[0]*r.shape[1]*EVOLVED_POINTS)

    def boundary_residual(self, pred, dt, params=None, t0=0.0):
        """pred minus the values its boundary conditions give it at t_n, shaped like pred: nonzero only
        on wall nodes, which residual() leaves out (add its mean square to train them)."""
        _check_prediction(pred)
        batch, steps = pred.shape[:2]
        t, p = self._state_values(pred, steps, dt, t0, params)
        states = pred.reshape((batch*steps,) + pred.shape[2:])
        interior = (slice(None), slice(None)) + tuple(slice(h, h + n) for h, n in zip(HALO, SHAPE))
        return (states - pad(states, t, p)[interior]).reshape(pred.shape)
'''
