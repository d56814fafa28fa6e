"""The loop-level IR: every pass a backend prints, as plain data.

    >>> from symsim import load_model
    >>> from symsim.lowering import lower_to_stencils
    >>> boundaries = boundary_pass(lower_to_stencils(load_model("heat_1d")))   # walls at x=0 and x=1
    >>> [loop.name for loop in boundaries.loops]
    ['dirichlet condition of u at x=0.0', 'dirichlet condition of u at x=1.0',
     'ghost layer 1 of u beyond x=0.0', 'ghost layer 1 of u beyond x=1.0']
    >>> boundaries.loops[2]
    Loop(name='ghost layer 1 of u beyond x=0.0', region=((0, 1),),
         body=(Store(target=state.u[0], value=4*state.u[+1] - 6*state.u[+2] + 4*state.u[+3] - state.u[+4]),),
         parallel=False, wraps=())

A :class:`Pass` is one function over arrays: loop invariants once per call, then its
loops in order. A :class:`Loop` runs over a box of points of the padded grid (its
``region``: per axis a half-open range of padded indices) and executes its stores at
each point in order. A :class:`Store` writes a local value or an array element; values
are SymPy expressions of :class:`Point` reads (a field of an array at the loop's point,
shifted), locals, parameters, coordinates, ``t`` and spacings.

Everything a boundary means -- periodic wraps, wall values, the Neumann solve, ghost
extrapolation, wall nodes frozen in the right-hand side -- is decided here, once.
Backends only print: slices (NumPy, PyTorch), loop nests (Numba) or one thread per
point (CUDA).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import sympy

from symsim.errors import BackendError
from symsim.ir import LoweredModel, StencilAccess

from .kernel_plan import KernelPlan


class Point(sympy.Symbol):
    """Field ``field`` (number ``index`` in the state) of ``array`` at the loop's point shifted by ``offsets``."""

    def __new__(cls, array: str, field: str, index: int, offsets: tuple = ()):
        offsets = tuple(int(o) for o in offsets)
        shift = ", ".join(f"{o:+d}" if o else "0" for o in offsets)
        obj = sympy.Symbol.__xnew__(cls, f"{array}.{field}[{shift}]", real=True)
        obj.array, obj.field, obj.index, obj.offsets = array, field, index, offsets
        return obj

    def __getnewargs__(self):
        return (self.array, self.field, self.index, self.offsets)

    def _hashable_content(self):
        return (self.name, self.array, self.index, self.offsets)


@dataclass(frozen=True)
class Store:
    target: sympy.Symbol       # a Point, or a local name
    value: sympy.Expr


@dataclass(frozen=True)
class Loop:
    name: str                  # what it does (a comment in the printed code)
    region: tuple              # ((start, stop), ...) per axis, padded indices; () is an ODE's one point
    body: tuple                # Store, ...
    parallel: bool = False     # worth running in parallel (the interior)
    wraps: tuple = ()          # arrays whose periodic halos the loop fills as it goes (all axes periodic)


@dataclass(frozen=True)
class Exchange:
    """The halo layers of ``array`` along ``axis`` swapped with the neighbouring blocks of a decomposed grid
    (:mod:`symsim.decomposition`), over the whole padded extent of the other axes; a side with no
    neighbour (a wall) is left to the wall's loops. Backends print a call of the module's ``_exchange``,
    which the distributed runner provides."""

    name: str
    axis: int
    array: str = "state"


@dataclass(frozen=True)
class Pass:
    name: str
    doc: str
    arrays: tuple              # array arguments, in order (after t)
    scalars: tuple             # scalar arguments after the arrays (then the model's parameters)
    invariants: tuple          # ((symbol, expression), ...) evaluated once per call
    loops: tuple               # Loop, ... (a boundary pass of a decomposed grid also has Exchange steps)


# -- names the generated code uses ---------------------------------------------------------

def loop_index(axis) -> str:
    return f"i_{axis.name}"


def rate_name(field: str) -> str:
    return f"rate_{field}"


#: module and argument names of generated code (generated locals start with "_" or are listed here)
RESERVED = {"math", "numba", "numpy", "functools", "torch", "cuda", "t", "p", "state", "states", "out", "self",
            "net"}


def check_names(plan: KernelPlan, target: str) -> None:
    """Generated names (modules, loop indices, rates, kernel temporaries) must not shadow a model name."""
    lowered = plan.lowered
    generated = RESERVED | {loop_index(a) for a in lowered.axes} | {rate_name(f) for f in lowered.fields}
    generated |= {str(s) for s, _ in plan.invariants + plan.temporaries}
    if plan.jacobian_kernel is not None:
        generated |= {str(s) for s, _ in plan.jacobian_kernel.invariants + plan.jacobian_kernel.temporaries}
    generated |= {f"{a.name}_start" for a in lowered.axes} | {str(a.spacing_symbol) for a in lowered.axes}
    clash = sorted(generated & (set(lowered.parameters) | set(lowered.fields)))
    if clash:
        raise BackendError(f"model {lowered.name!r}: the name {clash[0]!r} is used by the {target} code symsim "
                           "generates; rename that parameter or field")


# -- regions -----------------------------------------------------------------------------

def interior(lowered: LoweredModel) -> tuple:
    return tuple((h, h + a.points) for a, h in zip(lowered.axes, lowered.halo))


def plane(lowered: LoweredModel, axis: int, position: int) -> tuple:
    """One position along ``axis``, the whole padded extent of the other axes (corners come out right
    when the boundary loops run axis by axis)."""
    return tuple((position, position + 1) if k == axis else (0, n) for k, n in enumerate(lowered.padded_shape))


def boundary_index(lowered: LoweredModel, axis: int, side: str) -> int:
    halo = lowered.halo[axis]
    return halo if side == "low" else halo + lowered.axes[axis].points - 1


def along(lowered: LoweredModel, axis: int, offset: int) -> tuple:
    return tuple(offset if k == axis else 0 for k in range(lowered.ndim))


def fully_periodic(lowered: LoweredModel) -> bool:
    """A grid whose halos are all periodic copies: a pass can fill them as it writes (no walls)."""
    return bool(lowered.axes) and all(a.periodic for a in lowered.axes)


def storage_layout(lowered: LoweredModel, arrays: int) -> tuple[tuple, tuple]:
    """(allocated shape, byte offset within a 4 KiB page of each of ``arrays`` arrays) for states of
    two or more space axes; the padded grid is the front corner of the allocated one.

    One L1 cache way holds 4 KiB: element (i, j) of every field of every array, and the rows i-1
    and i+1 of a stencil, land in the same few cache sets when row, field and array strides are
    multiples of 4 KiB -- as plain allocations of 1024-point grids are. A Gray-Scott pass streams
    10-12 lines per set against 8 ways, which cost 20-35% of its time here. So rows are padded to
    whole cache lines and off multiples of 4 KiB, extra rows spread the fields over the page, and
    each array starts at its own offset in the field spacing.
    """
    fields, shape = len(lowered.fields), list(lowered.padded_shape)
    if len(shape) < 2:
        return (fields, *shape), (0,) * arrays
    shape[-1] = -(-shape[-1] // 8) * 8                   # whole 64-byte lines
    if not 64 <= (shape[-1] * 8) % 4096 <= 4096 - 64:
        shape[-1] += 8                                   # neighbouring rows in other sets
    stride = math.prod(shape[1:]) * 8                    # bytes per index of the first axis
    spacing = max((4096 // fields) // 64 * 64, 64)
    if fields > 1:
        shape[0] += min(range(64), key=lambda extra: min((d := ((shape[0] + extra) * stride - spacing) % 4096),
                                                         4096 - d))
    return (fields, *shape), tuple(k * (spacing // arrays) // 64 * 64 for k in range(arrays))


# -- the passes ----------------------------------------------------------------------------

def interior_pass(plan: KernelPlan, name: str, doc: str, writes, scalars=(), freeze: bool = False,
                  wraps: tuple = ()) -> Pass:
    """k = rhs(src) at every interior point, then ``writes``: (target array, ((array, weight), ...), rate
    weight) with weights SymPy symbols or 1, e.g. ``("dst", (("y", 1),), w)`` stores dst = y + w*k.
    ``freeze`` zeroes the rate on wall nodes, which their condition sets instead; ``wraps`` names the
    written arrays whose periodic halos the loop fills as it goes (on a grid periodic on every axis)."""
    lowered = plan.lowered
    fields = lowered.fields

    def point(array, field, offsets=None):
        return Point(array, field, fields.index(field), offsets if offsets is not None else (0,) * lowered.ndim)

    reads = {a: point("src", a.field, a.offsets) for e in _plan_expressions(plan) for a in e.atoms(StencilAccess)}
    body = [Store(symbol, expression.xreplace(reads)) for symbol, expression in plan.temporaries]
    body += [Store(sympy.Symbol(rate_name(f)), plan.outputs[f].xreplace(reads)) for f in fields]
    for target, terms, rate_weight in writes:
        for f in fields:
            value = sum((weight * point(array, f) for array, weight in terms), sympy.S.Zero)
            body.append(Store(point(target, f), value + rate_weight * sympy.Symbol(rate_name(f))))
    loops = [Loop("interior points", interior(lowered), tuple(body), parallel=True, wraps=tuple(wraps))]
    if freeze:
        targets = [target for target, _, _ in writes]
        loops += [Loop(f"wall node of {w.field} at {_wall_position(lowered, w)}: set by its condition, not evolved",
                       plane(lowered, w.axis, boundary_index(lowered, w.axis, w.side)),
                       tuple(Store(point(target, w.field), sympy.Float(0.0)) for target in targets))
                  for w in lowered.walls]
    arrays = ("src", *dict.fromkeys(a for target, terms, _ in writes for a in (target, *(t for t, _ in terms))
                                    if a != "src"))
    return Pass(name, doc, arrays, tuple(scalars), plan.invariants, tuple(loops))


def jacobian_pass(plan: KernelPlan) -> Pass:
    """The Jacobian's stencil coefficients at every interior point of ``src``: entry k of
    ``plan.jacobian`` into field k of the array ``jac`` (d(rhs of its row)/d(its access) there)."""
    lowered, kernel = plan.lowered, plan.jacobian_kernel
    fields = lowered.fields
    zero = (0,) * lowered.ndim
    expressions = [e for _, e in kernel.temporaries] + list(kernel.outputs.values())
    reads = {a: Point("src", a.field, fields.index(a.field), a.offsets)
             for e in expressions for a in e.atoms(StencilAccess)}
    body = [Store(symbol, expression.xreplace(reads)) for symbol, expression in kernel.temporaries]
    body += [Store(Point("jac", entry.name, k, zero), kernel.outputs[entry.name].xreplace(reads))
             for k, entry in enumerate(plan.jacobian)]
    loop = Loop("interior points: d(rate of the row's field)/d(the access's value), per entry", interior(lowered),
                tuple(body), parallel=True)
    return Pass("jacobian", "Write each Jacobian stencil coefficient (JACOBIAN_ENTRIES) at every grid point into "
                "jac (halo layers of jac are not touched).", ("src", "jac"), (), kernel.invariants, (loop,))


def jacobian_entry_table(plan: KernelPlan) -> tuple:
    """``JACOBIAN_ENTRIES`` of a generated module: (row field, column field, offsets) per entry."""
    return tuple((e.row, e.access.field, e.access.offsets) for e in plan.jacobian)


def boundary_pass(lowered: LoweredModel) -> Pass:
    """Fill the halo layers and wall nodes of ``state`` for time t: axis by axis, each step over the
    whole padded extent of the other axes (so corners come from the last axis, as they would in a
    grid of one block). On a decomposed grid an exchanged axis first swaps halo layers with the
    neighbouring blocks, then the walls this block owns on that axis are applied."""
    loops = []
    for k, axis in enumerate(lowered.axes):
        if k in lowered.exchanged:
            loops.append(Exchange(f"halo layers along {axis.name} from the neighbouring blocks", k))
        if axis.periodic:
            loops += _periodic_loops(lowered, k)
            continue
        walls = [w for w in lowered.walls if w.axis == k]
        loops += [_wall_value_loop(lowered, w) for w in walls]
        loops += [_ghost_loop(lowered, w, layer) for w in walls for layer in range(1, len(w.ghost_weights) + 1)]
    return Pass("boundaries", "Fill halo layers and wall nodes of every field in place for time t.",
                ("state",), (), (), tuple(loops))


def walls_pass(lowered: LoweredModel) -> Pass:
    """The boundary pass without its halo exchanges: the walls (and periodic wraps) a block applies itself."""
    boundaries = boundary_pass(lowered)
    return Pass("walls", "Fill the wall nodes and ghost layers this block owns, in place for time t (no exchange).",
                boundaries.arrays, boundaries.scalars, boundaries.invariants,
                tuple(loop for loop in boundaries.loops if not isinstance(loop, Exchange)))


@dataclass(frozen=True)
class Overlap:
    """How an interior pass of a decomposed block overlaps the halo exchange of its source: the points
    whose stencil reads no exchanged halo (``deep``) are computed while the messages travel, the rest
    (``rim``: disjoint boxes covering the interior minus ``deep``) once they have arrived. Regions in
    padded indices, as a Loop's."""

    deep: tuple
    rim: tuple


def exchange_overlap(plan: KernelPlan) -> Overlap | None:
    """The overlap of a block's passes with its halo exchange, or None where it would change a value (or
    the block was not asked to overlap: ``LoweredModel.overlap``).

    It is asked for, not the default: on one machine of 2 and of 16 cores it measured no faster (the
    time ranks spend in exchanges there is waiting for the slowest neighbour, which the deep points
    do not shorten), and each block then compiles three more kernels (+1.4 s for RK4 here).

    All exchanged axes are then swapped at once, not axis by axis, so the halo corners (cells in the
    halo of two axes) may differ from a sequential exchange's: allowed only when nothing reads them --
    the stencil reads along one axis at a time, and every wall loop reads only along the axis it
    spans a plane of. The walls are applied before the deep points (they read no exchanged halo) and
    again after the exchange (the halo cells on a wall's plane), which changes nothing they set.
    """
    lowered = plan.lowered
    if not lowered.overlap or not lowered.exchanged or fully_periodic(lowered):
        return None
    accesses = {a for e in _plan_expressions(plan) for a in e.atoms(StencilAccess)}
    if any(sum(1 for o in a.offsets if o) > 1 for a in accesses):
        return None                                     # a mixed derivative reads the corners
    for loop in walls_pass(lowered).loops:
        full = [k for k, (start, stop) in enumerate(loop.region) if (start, stop) == (0, lowered.padded_shape[k])]
        reads = [p for s in loop.body for p in s.value.atoms(Point)]
        if any(p.offsets[k] for p in reads for k in full):
            return None
    inside = interior(lowered)
    reach = [max([abs(a.offsets[k]) for a in accesses] + [0]) for k in range(lowered.ndim)]
    deep = tuple((start + reach[k], stop - reach[k]) if k in lowered.exchanged else (start, stop)
                 for k, (start, stop) in enumerate(inside))
    if any(start >= stop for start, stop in deep):
        return None
    rim = []
    for k, ((start, stop), (low, high)) in enumerate(zip(inside, deep)):
        for box in ((start, low), (high, stop)):
            if box[0] < box[1]:    # axes before k over the deep range, k over the strip, after k over everything
                rim.append(deep[:k] + (box,) + inside[k + 1:])
    return Overlap(deep, tuple(rim))


def split_for_overlap(pass_: Pass, overlap: Overlap) -> tuple[Pass, Pass]:
    """(deep part, rim part) of an interior pass: its interior loop over ``overlap.deep``, then over each
    rim box followed by its other loops (the wall nodes it freezes)."""
    interior_loop, *others = pass_.loops
    deep = dataclasses.replace(interior_loop, name=f"{interior_loop.name} whose stencil reads no exchanged halo",
                               region=overlap.deep)
    rim = [dataclasses.replace(interior_loop, name=f"{interior_loop.name} next to the exchanged halo", region=box)
           for box in overlap.rim]
    return (dataclasses.replace(pass_, name=f"{pass_.name}_deep", loops=(deep,)),
            dataclasses.replace(pass_, name=f"{pass_.name}_rim", loops=(*rim, *others)))


def _periodic_loops(lowered: LoweredModel, k: int) -> list:
    halo, n, name = lowered.halo[k], lowered.axes[k].points, lowered.axes[k].name
    if not halo:
        return []
    loops = []
    for side, start, source in (("low", 0, n), ("high", n + halo, -n)):
        region = tuple((start, start + halo) if j == k else (0, size) for j, size in enumerate(lowered.padded_shape))
        body = tuple(Store(Point("state", f, i, (0,) * lowered.ndim), Point("state", f, i, along(lowered, k, source)))
                     for i, f in enumerate(lowered.fields))
        loops.append(Loop(f"periodic axis {name}: {side} halo layers copied from the opposite end", region, body))
    return loops


def _wall_position(lowered: LoweredModel, wall) -> str:
    axis = lowered.axes[wall.axis]
    return f"{axis.name}={axis.start if wall.side == 'low' else axis.stop}"


def _wall_value_loop(lowered: LoweredModel, wall) -> Loop:
    index, axis = lowered.fields.index(wall.field), wall.axis

    def node(j):    # the wall's field j points inside the wall
        return Point("state", wall.field, index, along(lowered, axis, j * wall.inward))

    if wall.kind == "dirichlet":
        value = wall.value
    else:
        # sum_j w_j u[j] = g*h solved for u[0], weights for d/d(axis) on a unit grid
        w0, *rest = wall.neumann_weights
        inside = sympy.Add(*[sympy.Rational(w) * node(j) for j, w in enumerate(rest, start=1) if w != 0])
        value = (wall.value * lowered.axes[axis].spacing_symbol - inside) / sympy.Rational(w0)
    region = plane(lowered, axis, boundary_index(lowered, axis, wall.side))
    return Loop(f"{wall.kind} condition of {wall.field} at {_wall_position(lowered, wall)}", region,
                (Store(node(0), value),))


def _ghost_loop(lowered: LoweredModel, wall, layer: int) -> Loop:
    index, axis = lowered.fields.index(wall.field), wall.axis
    ghost = boundary_index(lowered, axis, wall.side) - layer * wall.inward
    # polynomial extrapolation from the wall node and the points inside it
    value = sympy.Add(*[sympy.Rational(w) * Point("state", wall.field, index, along(lowered, axis, (layer + j) * wall.inward))
                        for j, w in enumerate(wall.ghost_weights[layer - 1]) if w != 0])
    return Loop(f"ghost layer {layer} of {wall.field} beyond {_wall_position(lowered, wall)}",
                plane(lowered, axis, ghost), (Store(Point("state", wall.field, index, (0,) * lowered.ndim), value),))


# -- the text around the kernels ---------------------------------------------------------

def grid_index_shift(lowered: LoweredModel, k: int) -> int:
    """What turns a padded index of axis k into the whole grid's point index: -halo, plus a block's first
    point on a decomposed grid (coordinates are then computed as the whole grid's are)."""
    return lowered.axes[k].index_shift - lowered.halo[k]


def exchange_lines(lowered: LoweredModel) -> list[str]:
    """The ``_exchange`` (and its two halves, ``_exchange_begin`` and ``_exchange_end``, for passes that
    overlap it) a module of a decomposed grid calls, until the distributed runner sets its own."""
    if not lowered.exchanged:
        return []
    missing = ("    raise RuntimeError('this module runs one block of a decomposed grid: run it through "
               "symsim.distributed, which provides the halo exchange')")
    return ["#: axes whose halo layers come from the neighbouring blocks of a decomposed grid",
            f"EXCHANGED_AXES = {lowered.exchanged!r}", "", "",
            "def _exchange(state, axis):",
            '    """Swap the halo layers of state along axis with the neighbouring blocks: set by symsim.distributed."""',
            missing, "", "",
            "def _exchange_begin(state):",
            '    """Send the edge layers of state along every exchanged axis and post the receives of its halo."""',
            missing, "", "",
            "def _exchange_end(state):",
            '    """Wait for the halo layers _exchange_begin posted and copy them into state."""',
            missing, "", ""]


def module_head(lowered: LoweredModel, title: str, text: list, imports: list, constants: dict = None) -> list[str]:
    """What every generated module starts with: its docstring (``title``, ``text``, the equations), the
    ``imports`` lines, the model's constants (and ``constants``), and each axis's ``h_x`` and ``x_start``."""
    import symsim
    lines = [f'"""{title} of model {lowered.name!r}, generated by symsim {symsim.__version__}.', "", *text]
    lines += ["Equations:", *(f"    {lowered.equations[f]}" for f in lowered.user_fields), '"""', "", *imports, "", ""]
    values = {"FIELDS": tuple(lowered.fields), "AXES": tuple(a.name for a in lowered.axes), "SHAPE": lowered.shape,
              "HALO": lowered.halo, "PARAMS": dict(lowered.parameters), **(constants or {})}
    lines += [f"{name} = {value!r}" for name, value in values.items()]
    if lowered.axes:
        lines += ["", "# grid spacing and the coordinate of the first interior point of the grid, per axis"]
    for axis in lowered.axes:
        lines += [f"h_{axis.name} = {axis.spacing!r}", f"{axis.name}_start = {axis.grid_origin!r}"]
    return lines + ["", ""] + exchange_lines(lowered)


# -- what a pass uses ---------------------------------------------------------------------

def _plan_expressions(plan: KernelPlan) -> list:
    return [e for _, e in plan.temporaries] + list(plan.outputs.values())


def symbols_of(expressions) -> set:
    """Free symbols of SymPy expressions (stores, invariants), Points and locals included."""
    return set().union(*[sympy.sympify(e).free_symbols for e in expressions])


def loop_symbols(loop: Loop) -> set:
    if isinstance(loop, Exchange):
        return set()
    return symbols_of([s.value for s in loop.body] + [s.target for s in loop.body])


def pass_symbols(pass_: Pass) -> set:
    return symbols_of([e for _, e in pass_.invariants]) | set().union(*[loop_symbols(loop) for loop in pass_.loops])


def used_parameters(lowered: LoweredModel, symbols: set) -> list:
    return [p for p in lowered.parameters if sympy.Symbol(p) in symbols]
