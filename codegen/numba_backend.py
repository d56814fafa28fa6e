"""Numba CPU backend: the loop IR printed as ``@numba.njit`` loop nests, the interior in parallel.

    >>> from symsim import load_model
    >>> from symsim.codegen import function_text
    >>> from symsim.codegen.kernel_plan import plan_kernel
    >>> from symsim.lowering import lower_to_stencils
    >>> source = render_numba_module(plan_kernel(lower_to_stencils(load_model("heat_1d"))))
    >>> print(function_text(source, "_pass1"))      # SSPRK3's second pass: a module a person can read
    def _pass1(t, _src, _a0, _a1, _w0, _w1, _w2, D):
        ...
        u = _src[0]
        _a0_u = _a0[0]
        _a1_u = _a1[0]
        # interior points
        for i_x in numba.prange(1, 102):
            rate_u = D*(u[i_x + 1] + u[i_x - 1] - 2*u[i_x])/(h_x*h_x)
            _a0_u[i_x] = _a1_u[i_x]*_w0 + u[i_x]*_w1 + _w2*rate_u

One pass over the grid per right-hand-side evaluation computes every field, with the
Runge–Kutta stage combinations of :mod:`symsim.codegen.stages` fused into it; kernels
of the same shape (RK4's middle passes) are one kernel. The interior loops have no
branches. On a grid periodic on every axis a pass fills the halos of what it writes as
it goes (a row's halo columns after the row, the first and last rows into the opposite
halo rows); otherwise ``_boundaries`` fills them between passes. Each array is read and
written through per-field views made once per call (``u = _src[0]``), so a kernel
indexes plain 2-D (or 1-D, 3-D) arrays, and states are allocated so that the streams of
a pass do not share L1 cache sets (``new_state``).

Kernels compile on first use and are cached on disk (``cache=True``), so the module
must be imported from a file by name, which :mod:`symsim.kernel_cache` (or a plain
``import``) does. ODE models (no space axes) also carry the batched ensemble solvers
of :mod:`symsim.codegen.templates.ensemble`.
"""

from __future__ import annotations

import dataclasses
import math

from sympy.printing.pycode import PythonCodePrinter

from symsim.printing import KernelPrinting
from symsim.tableaus import FAC_MAX, FAC_MIN, SAFETY, TABLEAUS

from .kernel_plan import KernelPlan
from .loops import (Exchange, Pass, Point, boundary_pass, check_names, exchange_overlap, fully_periodic,
                    grid_index_shift, jacobian_entry_table, jacobian_pass, loop_index, loop_symbols, module_head,
                    pass_symbols, split_for_overlap, storage_layout, walls_pass)
from .stages import SCHEMES, kernel_arguments, pass_shape, stage_passes
from .templates import inlined_text


class PointPrinter(KernelPrinting, PythonCodePrinter):
    """Python/``math`` source of one point's arithmetic: a Point as its per-field view at the loop index."""

    def __init__(self, lowered, index: tuple = ()):
        super().__init__({"fully_qualified_modules": True})
        self.lowered = lowered
        self.index = index          # per axis: the name of the point's index

    def _print_Point(self, point: Point) -> str:
        if not self.lowered.axes:
            return f"_{point.array}[{point.index}]"
        parts = [name if o == 0 else f"{name} {'+' if o > 0 else '-'} {abs(o)}"
                 for name, o in zip(self.index, point.offsets)]
        return f"{view_name(point.array, point.field)}[{', '.join(parts)}]"


def view_name(array: str, field: str) -> str:
    """The per-field view of an array argument: ``u`` for the stencil source, ``_a0_u`` for others."""
    return field if array in ("src", "state") else f"_{array}_{field}"


def render_numba_module(plan: KernelPlan) -> str:
    """Python source of a module with ``rhs``, ``apply_boundaries`` and fused ``<method>_step`` functions."""
    lowered = plan.lowered
    check_names(plan, "numba")
    wraps = fully_periodic(lowered)
    kernels, by_shape = stage_passes(plan, wraps)
    lines = module_head(lowered, "Numba kernels", USAGE, ["import math", "", "import numba", "import numpy"],
                        module_constants(lowered))
    for pass_ in kernels.values():
        lines += numba_kernel(lowered, pass_)
    lines += boundary_kernels(lowered, boundary_pass(lowered))
    overlap = exchange_overlap(plan)
    if overlap is not None:     # a decomposed block: the stage passes in two parts around the exchange
        lines += numba_kernel(lowered, walls_pass(lowered))
        for name in by_shape.values():
            for part in split_for_overlap(kernels[name], overlap):
                lines += numba_kernel(lowered, part)
    lines += python_api(by_shape, wraps, overlap is not None) + storage_lines(lowered)
    if plan.jacobian:
        lines += jacobian_lines(plan)
    if not lowered.axes:
        lines += ensemble_lines(lowered, kernels["rhs"])
    return "\n".join(lines).rstrip() + "\n"


def jacobian_lines(plan: KernelPlan) -> list[str]:
    """The Jacobian coefficient kernel (:func:`~symsim.codegen.loops.jacobian_pass`) and its Python entry."""
    lines = ["#: (row field, column field, offsets) of each coefficient jacobian_coefficients writes",
             f"JACOBIAN_ENTRIES = {jacobian_entry_table(plan)!r}", "", ""]
    lines += numba_kernel(plan.lowered, jacobian_pass(plan))
    return lines + ["def jacobian_coefficients(t, state, jac, p):",
                    '    """Each Jacobian stencil coefficient (JACOBIAN_ENTRIES) at every grid point into jac."""',
                    "    _jacobian(t, state, jac, *_param_args(p))", "", ""]


# -- printing ------------------------------------------------------------------------------

def boundary_kernels(lowered, boundaries: Pass) -> list[str]:
    """``_boundaries``: one kernel, or on a decomposed grid a Python function that runs the halo
    exchanges (MPI calls from Python, :mod:`symsim.distributed`) between kernels of the steps around them."""
    if not any(isinstance(step, Exchange) for step in boundaries.loops):
        return numba_kernel(lowered, boundaries)
    lines, calls, run = [], [], []
    signature = kernel_signature(lowered, boundaries)

    def flush():
        if run:
            part = dataclasses.replace(boundaries, name=f"{boundaries.name}_{len(calls)}", loops=tuple(run))
            lines.extend(numba_kernel(lowered, part))
            calls.append(f"    _{part.name}({signature})")
            run.clear()

    for step in boundaries.loops:
        if isinstance(step, Exchange):
            flush()
            calls += [f"    # {step.name}", f"    _exchange(_{step.array}, {step.axis})"]
        else:
            run.append(step)
    flush()
    return lines + [f"def _{boundaries.name}({signature}):", f'    """{boundaries.doc}"""', *calls, "", ""]


#: grids of fewer points than this get serial kernels: Numba compiles a parallel kernel several times slower
#: and starts its threads at every call, which costs more than a pass over a small grid saves
PARALLEL_MIN_POINTS = 16384


def numba_kernel(lowered, pass_: Pass) -> list[str]:
    """One ``@numba.njit`` function: invariants, per-field views, then each loop as a loop nest (in
    parallel over the outermost axis on grids of PARALLEL_MIN_POINTS points or more)."""
    parallel = (any(loop.parallel for loop in pass_.loops) and bool(lowered.axes)
                and math.prod(lowered.shape) >= PARALLEL_MIN_POINTS)
    lines = [f"@numba.njit({'parallel=True, ' if parallel else ''}cache=True)",
             f"def _{pass_.name}({kernel_signature(lowered, pass_)}):",
             f'    """{pass_.doc}"""']
    lines += ["    " + line for line in kernel_body(lowered, pass_, loop_lines)]
    return lines + (["    return"] if not pass_.loops else []) + ["", ""]


def kernel_signature(lowered, pass_: Pass) -> str:
    return ", ".join(["t", *(f"_{a}" for a in pass_.arrays), *pass_.scalars, *lowered.parameters])


def kernel_body(lowered, pass_: Pass, print_loop) -> list[str]:
    """Invariants, views and the loops of a pass; ``print_loop(lowered, loop)`` prints one loop."""
    printer = PointPrinter(lowered)
    lines = [f"{symbol_} = {printer.doprint(value)}" for symbol_, value in pass_.invariants]
    used = pass_symbols(pass_)
    if lowered.axes:
        views = dict.fromkeys((p.array, p.field, p.index) for p in used if isinstance(p, Point))
        lines += [f"{view_name(a, f)} = _{a}[{i}]" for a, f, i in sorted(views, key=lambda v: (v[0] != "src", v))]
    for loop in pass_.loops:
        lines += print_loop(lowered, loop)
    return lines


def coordinate_line(lowered, k: int) -> str:
    axis = lowered.axes[k]
    shift = grid_index_shift(lowered, k)
    return f"{axis.name} = {axis.name}_start + ({loop_index(axis)} {'-' if shift < 0 else '+'} {abs(shift)})*h_{axis.name}"


def loop_lines(lowered, loop) -> list[str]:
    """A loop nest over the region, the outermost axis in parallel for the interior; one position along
    an axis is an assignment, not a loop. The loop's ``wraps`` are filled as it goes (see :func:`_wrap`)."""
    used = loop_symbols(loop)
    printer = PointPrinter(lowered, tuple(loop_index(a) for a in lowered.axes))
    looping = [k for k, (start, stop) in enumerate(loop.region) if stop - start > 1]

    def level(k: int, indent: str) -> list[str]:
        if k == lowered.ndim:
            return [f"{indent}{printer.doprint(s.target)} = {printer.doprint(s.value)}" for s in loop.body]
        start, stop = loop.region[k]
        name = loop_index(lowered.axes[k])
        if k not in looping:
            head, inner = [f"{indent}{name} = {start}"], indent
        else:
            parallel = loop.parallel and k == looping[0]
            head, inner = [f"{indent}for {name} in {'numba.prange' if parallel else 'range'}({start}, {stop}):"], \
                indent + "    "
        head += [inner + coordinate_line(lowered, k)] if lowered.axes[k].symbol in used else []
        return head + level(k + 1, inner) + _wrap(lowered, loop, k, inner if k < lowered.ndim - 1 else indent)

    return [f"# {loop.name}"] + level(0, "")


def _wrap(lowered, loop, k: int, indent: str) -> list[str]:
    """Fill the periodic halo of axis k of the loop's ``wraps`` for the block just computed.

    The innermost axis: after its loop, the halo columns of the current row. An outer axis: inside
    its loop, once the inner ones (and their halos) are done, the thread that computed a block of
    the first or last interior layers copies it whole into the opposite halo, corners included --
    so no separate boundary pass is needed and no thread reads another's halo in the same pass.
    """
    halo, n = lowered.halo[k], lowered.axes[k].points
    if not loop.wraps or not halo:
        return []
    index = [loop_index(a) for a in lowered.axes]
    views = [view_name(array, field) for array in loop.wraps for field in lowered.fields]

    def at(position: str) -> str:
        return ", ".join(index[:k] + [position] + [f"_j{j}" for j in range(k + 1, lowered.ndim)])

    if k == lowered.ndim - 1:
        return [f"{indent}{v}[{at(str(low))}], {v}[{at(str(n + halo + low))}] = "
                f"{v}[{at(str(n + low))}], {v}[{at(str(halo + low))}]" for v in views for low in range(halo)]
    lines = []
    for condition, shift in ((f"{index[k]} < {2 * halo}", f"{index[k]} + {n}"), (f"{index[k]} >= {n}", f"{index[k]} - {n}")):
        lines.append(f"{indent}if {condition}:")
        inner = indent + "    "
        for j in range(k + 1, lowered.ndim):
            lines.append(f"{inner}for _j{j} in range({lowered.padded_shape[j]}):")
            inner += "    "
        lines += [f"{inner}{v}[{at(shift)}] = {v}[{at(index[k])}]" for v in views]
    return lines


# -- module parts -------------------------------------------------------------------------

#: what a Numba or CUDA module's docstring says about using it
USAGE = ["State layout: state[f] is field FIELDS[f] on the grid padded by HALO ghost layers",
         "per axis; interior points are state[f][HALO[0]:HALO[0]+SHAPE[0], ...].",
         "",
         "    rhs(t, state, out, p)              d(state)/dt at every grid point into out",
         "    apply_boundaries(t, state, p)      fill halo layers and wall nodes in place",
         "    work = new_work(state, 'rk4')      work arrays of a fused stepper (allocated once)",
         "    state = rk4_step(t, state, dt, p, work)   one step; returns the array holding the new state",
         "",
         "p maps parameter names to values (PARAMS holds the defaults).", ""]


def module_constants(lowered) -> dict:
    return {"PARAM_ORDER": tuple(lowered.parameters), "METHODS": tuple(SCHEMES)}


def python_api(by_shape: dict, wrapped: bool = False, overlapped: bool = False) -> list[str]:
    """rhs, apply_boundaries (:mod:`~symsim.codegen.templates.stepping`) and the step functions, calling
    the kernels by name (a GPU backend defines each as a function that launches its kernels);
    ``by_shape`` names the kernel of each fused-pass shape; ``wrapped``: the passes fill the halos
    they need, so no boundary pass runs between them. ``overlapped`` (a decomposed block,
    :func:`~symsim.codegen.loops.exchange_overlap`): a pass whose source was just written runs its
    deep points while that source's halo exchange is under way, and the rest once it has arrived."""
    kernels = {m: tuple(dict.fromkeys(f"_{by_shape[pass_shape(p)]}" for p in s.passes)) for m, s in SCHEMES.items()}
    lines = ["#: the work arrays of each fused stepper, and the stencil kernels it runs (besides _boundaries)",
             f"WORK_ARRAYS = {dict((m, s.buffers) for m, s in SCHEMES.items())!r}",
             f"STEP_KERNELS = {kernels!r}", "", ""] + inlined_text("stepping").splitlines() + ["", ""]
    for scheme in SCHEMES.values():
        lines += [f"def {scheme.method}_step(t, y, dt, p, work):",
                  f'    """One {scheme.method} step from t; returns the array that holds the state at t + dt."""',
                  "    args = _param_args(p)"] + [f"    {b} = work[{b!r}]" for b in scheme.buffers]
        deferred = {}       # array -> stage time of the boundaries the next pass applies around its exchange
        for n, stage in enumerate(scheme.passes):
            arrays, weights = kernel_arguments(stage)
            time = "t" if stage.c == 0 else f"t + {stage.c!r}*dt"
            kernel, call = f"_{by_shape[pass_shape(stage)]}", f"({', '.join([time, stage.src, *arrays, *weights])}, *args)"
            if stage.src in deferred:
                at = f"t + {deferred.pop(stage.src)!r}*dt"
                lines += [f"    _exchange_begin({stage.src})", f"    _walls({at}, {stage.src}, *args)",
                          f"    {kernel}_deep{call}", f"    _exchange_end({stage.src})",
                          f"    _walls({at}, {stage.src}, *args)", f"    {kernel}_rim{call}"]
            else:
                lines.append(f"    {kernel}{call}")
            if wrapped:
                continue
            following = scheme.passes[n + 1].src if n + 1 < len(scheme.passes) else None
            for array, c in stage.constrain:
                if overlapped and array == following:
                    deferred[array] = c
                else:
                    lines.append(f"    _boundaries(t + {c!r}*dt, {array}, *args)")
        if scheme.result != "y":
            # the old state's array becomes the work array that held the result
            lines.append(f"    work[{scheme.result!r}] = y")
        lines += [f"    return {scheme.result}", "", ""]
    return lines


def storage_lines(lowered) -> list[str]:
    """``new_state`` and ``new_work`` (:mod:`~symsim.codegen.templates.numba_arrays`) with this grid's
    layout (:func:`symsim.codegen.loops.storage_layout`)."""
    shape, offsets = storage_layout(lowered, 1 + max(len(s.buffers) for s in SCHEMES.values()))
    return ["#: allocated shape of a state (the padded grid in its front corner) and each array's offset in a",
            "#: 4 KiB page: every field of every array of a pass then starts in other L1 cache sets",
            f"STORAGE_SHAPE = {shape!r}",
            f"_PAGE_OFFSETS = {offsets!r}", "", ""] + inlined_text("numba_arrays").splitlines() + ["", ""]


def ensemble_lines(lowered, rhs: Pass) -> list[str]:
    """The batched ODE solvers (:mod:`symsim.codegen.templates.ensemble`), after the model's rate (the
    rhs pass, parameters from an array: a call the solvers' loops inline) and the stage functions of RK4
    and Dormand–Prince printed from their tableaus as straight-line code."""
    rk4, dopri5 = TABLEAUS["rk4"], TABLEAUS["dopri5"]
    lines = ["# -- batched ODE solvers ------------------------------------------------------------", "",
             f"_SAFETY, _FAC_MIN, _FAC_MAX = {SAFETY!r}, {FAC_MIN!r}, {FAC_MAX!r}",
             f"_RK4_STAGES, _DOPRI5_STAGES = {rk4.stages}, {dopri5.stages}", "", "",
             "@numba.njit(cache=True)",
             "def _rate(t, _src, _out, _p):",
             '    """d(_src)/dt of one trajectory into _out; _p holds parameter values in PARAM_ORDER."""']
    lines += [f"    {name} = _p[{k}]" for k, name in enumerate(lowered.parameters)]
    lines += ["    " + line for line in kernel_body(lowered, rhs, loop_lines)] + ["", ""]
    lines += _stage_function("_rk4_stages", rk4, range(rk4.stages))
    lines += _weights_function("_rk4_solution", rk4.b)
    # Dormand–Prince: the first stage is the last step's (FSAL), the last is at the new solution
    lines += _stage_function("_dopri5_stages", dopri5, range(1, dopri5.stages - 1))
    lines += _weights_function("_dopri5_solution", dopri5.b)
    lines += _weights_function("_dopri5_error", dopri5.error)
    return lines + inlined_text("ensemble").splitlines()


def _weighted(weights, m: str) -> str:
    """sum_j weights[j]*k[j, m] over the nonzero weights: a zero weight costs nothing (nor turns an
    infinite rate of a failed trial step into NaN)."""
    text = "".join(f" {'-' if w < 0 else '+'} {abs(w)!r}*k[{j}, {m}]" for j, w in enumerate(weights) if w)
    return text[3:] if text.startswith(" +") else "-" + text[3:]


def _stage_function(name: str, tableau, stages) -> list[str]:
    lines = ["@numba.njit(inline=\"always\", cache=True)", f"def {name}(t, h, y, p, k, stage):",
             f'    """k[i] for stages {stages.start}..{stages.stop - 1} of {tableau.name}: '
             'the rate at t + c[i]*h, y + h*sum_j a[i][j]*k[j]."""']
    for i in stages:
        time = "t" if tableau.c[i] == 0 else f"t + {tableau.c[i]!r}*h"
        if not any(tableau.a[i]):
            lines.append(f"    _rate({time}, y, k[{i}], p)")
            continue
        lines += ["    for m in range(len(y)):", f"        stage[m] = y[m] + h*({_weighted(tableau.a[i], 'm')})",
                  f"    _rate({time}, stage, k[{i}], p)"]
    return lines + ["", ""]


def _weights_function(name: str, weights) -> list[str]:
    if name.endswith("_error"):
        return ["@numba.njit(inline=\"always\", cache=True)", f"def {name}(k, m):", f"    return {_weighted(weights, 'm')}", "", ""]
    return ["@numba.njit(inline=\"always\", cache=True)", f"def {name}(y, h, k, out):", "    for m in range(len(y)):",
            f"        out[m] = y[m] + h*({_weighted(weights, 'm')})", "", ""]
