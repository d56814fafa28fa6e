"""Numba CPU backend: a :class:`KernelPlan` rendered as ``@numba.njit(parallel=True)`` loops.

    >>> print(render_numba_module(plan_kernel(lowered)))     # a module a person can read:
    @numba.njit(parallel=True, cache=True)
    def _pass_rk_middle(t, _src, _y, _dst, _acc, _w_dst, _w_acc, D):
        c0 = D/h_x**2
        u = _src[0]
        for i_x in numba.prange(1, 65):
            rate_u = c0*(u[i_x - 1] - 2*u[i_x] + u[i_x + 1])
            _dst[0, i_x] = _y[0, i_x] + _w_dst*rate_u
            _acc[0, i_x] = _acc[0, i_x] + _w_acc*rate_u

One pass over the grid per right-hand-side evaluation computes every field;
Runge–Kutta stage combinations are fused into it (:mod:`codegen.fused_stages`).
The interior loops have no branches: halo layers are filled beforehand by
``_boundaries`` (periodic wraps, wall values, ghost extrapolation in their own
loops over the edges). Kernels compile on first use and are cached on disk
(``cache=True``), so the module must be imported from a file by name, which
:mod:`symsim.kernel_cache` (or a plain ``import``) does.

Models without space axes (ODE systems) also get ``ensemble_rk4`` and
``ensemble_dopri5``: many parameter sets and initial states at once, in
parallel over the batch (see :mod:`codegen.numba_ensemble`).
"""

from __future__ import annotations

import re

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

import symsim
from symsim.errors import BackendError
from symsim.ir import LoweredModel, StencilAccess

from .fused_stages import PASS_KINDS, SCHEMES
from .kernel_plan import GhostExtrapolation, KernelPlan, PeriodicWrap, WallValue
from .numba_ensemble import render_ensemble
from .printing import DoubleLiterals


class PointPrinter(DoubleLiterals, PythonCodePrinter):
    """Python/``math`` source of one point's arithmetic: accesses as indexed field views.

    Shared by the Numba CPU and CUDA backends; ``index`` maps each axis to the
    name of its loop index (``i_x``), ``coordinates`` maps coordinate symbols to
    the local name of their value at the point.
    """

    def __init__(self, lowered: LoweredModel, index: tuple[str, ...], state: str = "_src"):
        super().__init__({"fully_qualified_modules": True})
        self.lowered = lowered
        self.index = index
        self.state = state

    def _print_StencilAccess(self, access: StencilAccess) -> str:
        if not self.lowered.axes:
            return f"{self.state}[{self.lowered.fields.index(access.field)}]"
        parts = [name if o == 0 else f"{name} {'+' if o > 0 else '-'} {abs(o)}"
                 for name, o in zip(self.index, access.offsets)]
        return f"{access.field}[{', '.join(parts)}]"

    def _print_Pow(self, power, rational=False):
        base, exponent = power.args
        if exponent.is_Integer and exponent != 0 and abs(exponent) <= 4:
            # small integer powers as products (exact, and no call into pow)
            factor = self.parenthesize(base, PRECEDENCE["Mul"])
            product = "*".join([factor] * int(abs(exponent)))
            if exponent > 0:
                # parenthesized: the printer places a power as a divisor without parentheses
                return product if exponent == 1 else f"({product})"
            return f"(1.0/{factor})" if exponent == -1 else f"(1.0/({product}))"
        return super()._print_Pow(power, rational)


def render_numba_module(plan: KernelPlan) -> str:
    """Python source of a module with ``rhs``, ``apply_boundaries`` and fused ``<method>_step`` functions."""
    lowered = plan.lowered
    check_names(lowered)
    lines = module_header(lowered, "Numba")
    lines += ["import math", "", "import numba", "import numpy", "", ""]
    lines += module_constants(lowered)
    for kind in PASS_KINDS.values():
        lines += _pass_kernel(plan, kind)
    lines += _boundary_kernel(plan)
    lines += python_api(lowered)
    if not lowered.axes:
        lines += render_ensemble(plan, PointPrinter(lowered, (), state="_y"))
    return "\n".join(lines).rstrip() + "\n"


# -- names ------------------------------------------------------------------------------

def loop_index(axis) -> str:
    return f"i_{axis.name}"


def rate_name(field: str) -> str:
    return f"rate_{field}"


def check_names(lowered: LoweredModel) -> None:
    """Generated locals (loop indices, rates) must not shadow a model name."""
    generated = {loop_index(a) for a in lowered.axes} | {rate_name(f) for f in lowered.fields}
    generated |= {"math", "numba", "numpy", "t"}
    taken = set(lowered.parameters) | set(lowered.fields)
    clash = sorted(generated & taken)
    if clash:
        raise BackendError(f"model {lowered.name!r}: the name {clash[0]!r} is used by the generated kernels; "
                           "rename that parameter or field")


# -- module parts -----------------------------------------------------------------------

def module_header(lowered: LoweredModel, backend: str) -> list[str]:
    lines = [
        f'"""{backend} kernels of model {lowered.name!r}, generated by symsim {symsim.__version__}.',
        "",
        "State layout: state[f] is field FIELDS[f] on the grid padded by HALO ghost layers",
        "per axis; interior points are state[f][HALO[0]:HALO[0]+SHAPE[0], ...].",
        "",
        "    rhs(t, state, out, p)              d(state)/dt at every grid point into out",
        "    apply_boundaries(t, state, p)      fill halo layers and wall nodes in place",
        "    work = new_work(state, 'rk4')      work arrays of a fused stepper (allocated once)",
        "    state = rk4_step(t, state, dt, p, work)   one step; returns the array holding the new state",
        "",
        "p maps parameter names to values (PARAMS holds the defaults).",
        "",
        "Equations:",
    ]
    lines += [f"    {lowered.equations[f]}" for f in lowered.user_fields]
    return lines + ['"""', ""]


def module_constants(lowered: LoweredModel) -> list[str]:
    lines = [f"FIELDS = {tuple(lowered.fields)!r}",
             f"AXES = {tuple(a.name for a in lowered.axes)!r}",
             f"SHAPE = {lowered.shape!r}",
             f"HALO = {lowered.halo!r}",
             f"PARAMS = {dict(lowered.parameters)!r}",
             f"PARAM_ORDER = {tuple(lowered.parameters)!r}",
             f"METHODS = {tuple(SCHEMES)!r}"]
    return lines + spacing_lines(lowered) + ["", ""]


def spacing_lines(lowered: LoweredModel) -> list[str]:
    """Module constants ``h_x`` (spacing) and ``x_start`` (first interior point) of every axis."""
    if not lowered.axes:
        return []
    lines = ["", "# grid spacing and the coordinate of the first interior point, per axis"]
    for axis in lowered.axes:
        lines.append(f"h_{axis.name} = {axis.spacing!r}")
        lines.append(f"{axis.name}_start = {axis.start!r}")
    return lines


def _parallel(lowered: LoweredModel) -> str:
    return "parallel=True, " if lowered.axes else ""


def _pass_kernel(plan: KernelPlan, kind) -> list[str]:
    """One fused pass: k = rhs(src) at each interior point, then the kind's writes."""
    lowered = plan.lowered
    arrays = ", ".join(f"_{a}" for a in kind.arrays)
    weights = "".join(f", {w}" for w in kind.weights)
    params = "".join(f", {p}" for p in lowered.parameters)
    lines = [f"@numba.njit({_parallel(lowered)}cache=True)",
             f"def _pass_{kind.name}(t, _src, {arrays}{weights}{params}):",
             f'    """{PASS_DOCS[kind.name]}"""']
    body = point_statements(plan, lowered_index(lowered))
    write_lines = pass_writes(lowered, kind)
    lines += invariant_lines(plan, "    ")
    if lowered.axes:
        read = stencil_fields(plan)
        lines += [f"    {f} = _src[{k}]" for k, f in enumerate(lowered.fields) if f in read]
    lines += loop_nest(lowered, body + write_lines, parallel=True)
    if kind.name == "rhs":
        for field, axis, side in plan.frozen_nodes:
            # boundary nodes are set by their wall condition, not evolved; the fused
            # passes need no such line: the boundaries of every stage input are reapplied
            lines.append(f"    _out[{_slab_index(lowered, lowered.fields.index(field), axis, boundary_index(lowered, axis, side))}] = 0.0")
    return lines + ["", ""]


PASS_DOCS = {"rhs": "d(state)/dt of _src at every interior point into _out",
             "axpy": "_dst = _src + _w*rhs(_src)",
             "rk_first": "_dst = _src + _w_dst*rhs(_src); _acc = _src + _w_acc*rhs(_src)",
             "rk_middle": "_dst = _y + _w_dst*rhs(_src); _acc += _w_acc*rhs(_src)",
             "rk_last": "_dst = _acc + _w*rhs(_src)",
             "blend": "_dst = _a*_y + _b*_src + _w*rhs(_src)  (_dst may be _y: _y is read only at the point)"}


def pass_writes(lowered: LoweredModel, kind) -> list[str]:
    """The stores of one pass at the current point, e.g. ``_dst[0, i_x] = _y[0, i_x] + _w_dst*rate_u``."""
    index = lowered_index(lowered)
    if kind.name == "rhs":
        writes = [("_out", k, rate_name(f)) for k, f in enumerate(lowered.fields)]
    else:
        writes = []
        for write in kind.writes:
            for k, field in enumerate(lowered.fields):
                terms = [point_value(lowered, array, k, weight) for array, weight in write.terms]
                writes.append((f"_{write.target}", k, " + ".join(terms) + f" + {write.rate_weight}*{rate_name(field)}"))
    return [f"{array}[{', '.join((str(k),) + index)}] = {value}" for array, k, value in writes]


def lowered_index(lowered: LoweredModel) -> tuple[str, ...]:
    return tuple(loop_index(a) for a in lowered.axes)


def point_value(lowered: LoweredModel, array: str, field_index: int, weight: str) -> str:
    index = ", ".join((str(field_index),) + lowered_index(lowered))
    value = f"_{array}[{index}]"
    return value if weight == "1" else f"{weight}*{value}"


def stencil_fields(plan: KernelPlan) -> set:
    expressions = [e for _, e in plan.temporaries] + list(plan.outputs.values())
    return {a.field for e in expressions for a in sympy.sympify(e).atoms(StencilAccess)}


def invariant_lines(plan: KernelPlan, indent: str) -> list[str]:
    printer = PointPrinter(plan.lowered, ())
    lines = [f"{indent}# loop invariants, once per call"] if plan.invariants else []
    return lines + [f"{indent}{symbol} = {printer.doprint(expression)}" for symbol, expression in plan.invariants]


def point_statements(plan: KernelPlan, index: tuple[str, ...], state: str = "_src") -> list[str]:
    """Temporaries then one ``rate_<field> = ...`` per field, at the point ``index``."""
    lowered = plan.lowered
    printer = PointPrinter(lowered, index, state)
    lines = [f"{symbol} = {printer.doprint(expression)}" for symbol, expression in plan.temporaries]
    return lines + [f"{rate_name(f)} = {printer.doprint(e)}" for f, e in plan.outputs.items()]


def coordinate_lines(lowered: LoweredModel, axis_number: int, used: set) -> list[str]:
    """The coordinate of the current point along one axis, if any expression uses it."""
    axis = lowered.axes[axis_number]
    if axis.symbol not in used:
        return []
    return [f"{axis.name} = {axis.name}_start + ({loop_index(axis)} - {lowered.halo[axis_number]})*h_{axis.name}"]


def loop_nest(lowered: LoweredModel, body: list[str], parallel: bool) -> list[str]:
    """Nested loops over the interior points (outermost axis in parallel), body innermost."""
    if not lowered.axes:
        return [f"    {line}" for line in body]
    used = symbols_in(body)
    lines, indent = [], "    "
    for k, axis in enumerate(lowered.axes):
        start = lowered.halo[k]
        loop = "numba.prange" if parallel and k == 0 else "range"
        lines.append(f"{indent}for {loop_index(axis)} in {loop}({start}, {start + axis.points}):")
        indent += "    "
        lines += [indent + c for c in coordinate_lines(lowered, k, used)]
    return lines + [indent + line for line in body]


def free_symbols(expressions) -> set:
    """The free symbols of all ``expressions`` together (SymPy expressions or their source)."""
    return set().union(*[sympy.sympify(e).free_symbols for e in expressions])


def symbols_in(lines: list[str]) -> set:
    """Every identifier in generated lines, as symbols (to see which coordinates a body uses)."""
    return {sympy.Symbol(word) for line in lines for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line)}


def boundary_index(lowered: LoweredModel, axis: int, side: str) -> int:
    halo = lowered.halo[axis]
    return halo if side == "low" else halo + lowered.axes[axis].points - 1


def _slab_index(lowered: LoweredModel, field_index: int, axis: int, position) -> str:
    parts = [":"] * lowered.ndim
    parts[axis] = str(position)
    return ", ".join([str(field_index)] + parts)


# -- boundaries -------------------------------------------------------------------------

def _boundary_kernel(plan: KernelPlan) -> list[str]:
    lowered = plan.lowered
    params = "".join(f", {p}" for p in lowered.parameters)
    lines = ["@numba.njit(cache=True)",
             f"def _boundaries(t, state{params}):",
             '    """Fill halo layers and wall nodes of every field in place for time t."""']
    body = []
    for step in plan.boundary_steps:
        if isinstance(step, PeriodicWrap):
            body += _periodic_lines(lowered, step.axis)
        elif isinstance(step, WallValue):
            body += wall_value_lines(lowered, step.wall)
        elif isinstance(step, GhostExtrapolation):
            body += ghost_lines(lowered, step.wall, step.layer)
    return lines + (body or ["    return"]) + ["", ""]


def _periodic_lines(lowered: LoweredModel, axis: int) -> list[str]:
    halo, n = lowered.halo[axis], lowered.axes[axis].points

    def slab(a, b):
        parts = [":"] * (lowered.ndim + 1)
        parts[axis + 1] = f"{a}:{b}"
        return ", ".join(parts)

    return [f"    # periodic axis {lowered.axes[axis].name}: halo layers copied from the opposite end",
            f"    state[{slab(0, halo)}] = state[{slab(n, n + halo)}]",
            f"    state[{slab(n + halo, n + 2 * halo)}] = state[{slab(halo, 2 * halo)}]"]


def _slab_loops(lowered: LoweredModel, axis: int, value_expressions) -> tuple[list[str], str, tuple]:
    """Loops over the full padded extent of the axes other than ``axis``: (lines, indent, index names)."""
    used = free_symbols(value_expressions)
    lines, indent, index = [], "    ", []
    for k, other in enumerate(lowered.axes):
        if k == axis:
            index.append(None)
            continue
        name = loop_index(other)
        lines.append(f"{indent}for {name} in range({lowered.padded_shape[k]}):")
        indent += "    "
        lines += [indent + c for c in coordinate_lines(lowered, k, used)]
        index.append(name)
    return lines, indent, tuple(index)


def _at(field_index: int, index: tuple, axis: int, position: int) -> str:
    parts = [str(position) if k == axis else name for k, name in enumerate(index)]
    return f"state[{', '.join([str(field_index)] + parts)}]"


def wall_value_lines(lowered: LoweredModel, wall, slab=None) -> list[str]:
    """Set the boundary node of ``wall`` on every point of its slab; ``slab`` visits the slab's points
    (default: loops, see :func:`_slab_loops`)."""
    axis = lowered.axes[wall.axis]
    f = lowered.fields.index(wall.field)
    boundary = boundary_index(lowered, wall.axis, wall.side)
    position = axis.start if wall.side == "low" else axis.stop
    loops, indent, index = (slab or _slab_loops)(lowered, wall.axis, [wall.value])
    value = PointPrinter(lowered, index).doprint(wall.value)
    lines = [f"    # {wall.kind} condition of {wall.field} at {axis.name}={position}"] + loops
    if wall.kind == "dirichlet":
        return lines + [f"{indent}{_at(f, index, wall.axis, boundary)} = {value}"]
    w0, *rest = wall.neumann_weights
    terms = " + ".join(f"{float(sympy.Rational(w))!r}*{_at(f, index, wall.axis, boundary + j * wall.inward)}"
                       for j, w in enumerate(rest, start=1) if w != 0)
    return lines + [f"{indent}{_at(f, index, wall.axis, boundary)} = "
                    f"(({value})*h_{axis.name} - ({terms}))/{float(sympy.Rational(w0))!r}"]


def ghost_lines(lowered: LoweredModel, wall, layer: int, slab=None) -> list[str]:
    f = lowered.fields.index(wall.field)
    boundary = boundary_index(lowered, wall.axis, wall.side)
    loops, indent, index = (slab or _slab_loops)(lowered, wall.axis, [])
    terms = " + ".join(f"{float(sympy.Rational(w))!r}*{_at(f, index, wall.axis, boundary + j * wall.inward)}"
                       for j, w in enumerate(wall.ghost_weights[layer - 1]) if w != 0)
    ghost = boundary - layer * wall.inward
    return loops + [f"{indent}{_at(f, index, wall.axis, ghost)} = {terms}"]


# -- what callers use --------------------------------------------------------------------

def python_api(lowered: LoweredModel, launch: str = "", copy: str = "state.copy()") -> list[str]:
    """rhs, apply_boundaries, new_work and the step functions; ``launch`` is the kernel launch
    configuration of a GPU backend (``[_BLOCKS, _THREADS]``), ``copy`` how to copy a state."""
    params = ", ".join(f"p[{p!r}]" for p in lowered.parameters)
    lines = ["def _param_args(p):",
             '    """Parameter values in kernel argument order."""',
             f"    return ({params}{',' if len(lowered.parameters) == 1 else ''})", "", "",
             "def rhs(t, state, out, p):",
             '    """Write d(state)/dt at every grid point into out (halo layers of out are not touched)."""',
             f"    _pass_rhs{launch}(t, state, out, *_param_args(p))", "", "",
             "def apply_boundaries(t, state, p):",
             '    """Fill halo layers and wall nodes of every field in place for time t."""',
             "    _boundaries(t, state, *_param_args(p))", "", "",
             "def new_work(state, method):",
             '    """Work arrays of a fused stepper, copies of state so that halo cells start equal to its own."""',
             f"    buffers = {{{', '.join(f'{m!r}: {s.buffers!r}' for m, s in SCHEMES.items())}}}",
             f"    return {{name: {copy} for name in buffers[method]}}", "", ""]
    for scheme in SCHEMES.values():
        lines += _step_function(scheme, launch)
    return lines


def _step_function(scheme, launch: str) -> list[str]:
    lines = [f"def {scheme.method}_step(t, y, dt, p, work):",
             f'    """One {scheme.method} step from t; returns the array that holds the state at t + dt."""',
             "    args = _param_args(p)"]
    lines.append(f"    {', '.join(scheme.buffers)} = " + ", ".join(f"work[{b!r}]" for b in scheme.buffers))
    for call in scheme.calls:
        time = "t" if call.c == 0 else f"t + {call.c!r}*dt"
        arguments = ", ".join((time, call.src) + call.arrays + call.weights)
        lines.append(f"    _pass_{call.kind}{launch}({arguments}, *args)")
        if call.constrain:
            lines.append(f"    _boundaries(t + {call.constrain_c!r}*dt, {call.constrain}, *args)")
    if scheme.result != "y":
        # ping-pong: the old state array is the next step's output buffer
        lines.append(f"    work[{scheme.result!r}] = y")
    return lines + [f"    return {scheme.result}", "", ""]
