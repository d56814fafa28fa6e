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
branches: halo layers are filled by ``_boundaries`` between passes. Each array is
read and written through per-field views made once per call (``u = _src[0]``), so
a kernel indexes plain 2-D (or 1-D, 3-D) arrays.

Kernels compile on first use and are cached on disk (``cache=True``), so the module
must be imported from a file by name, which :mod:`symsim.kernel_cache` (or a plain
``import``) does. ODE models (no space axes) also carry the batched ensemble solvers
of :mod:`symsim.codegen.templates.ensemble`.
"""

from __future__ import annotations

import sympy
from sympy.printing.pycode import PythonCodePrinter

from symsim.printing import KernelPrinting
from symsim.tableaus import FAC_MAX, FAC_MIN, SAFETY, TABLEAUS

from .kernel_plan import KernelPlan
from .loops import (Pass, Point, boundary_pass, check_names, fully_periodic, interior_pass, loop_index,
                    loop_symbols, module_head, pass_symbols, storage_layout)
from .stages import SCHEMES, kernel_arguments, pass_shape
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
    kernels, by_shape = step_kernels(plan, wraps)
    lines = module_head(lowered, "Numba kernels", USAGE, ["import math", "", "import numba", "import numpy"],
                        module_constants(lowered))
    for pass_ in [*kernels.values(), boundary_pass(lowered)]:
        lines += numba_kernel(lowered, pass_)
    lines += python_api(by_shape, wraps) + storage_lines(lowered)
    if not lowered.axes:
        lines += ensemble_lines(lowered)
    return "\n".join(lines).rstrip() + "\n"


# -- the passes of a module ----------------------------------------------------------------

def step_kernels(plan: KernelPlan, wraps: bool) -> tuple[dict, dict]:
    """(name -> Pass, fused-pass shape -> kernel name): ``rhs`` (wall nodes frozen) and one kernel per
    distinct shape of the fused passes of every method. With ``wraps`` (a grid periodic on every
    axis) each pass fills the halos of the arrays it completes, and no boundary pass runs between."""
    kernels = {"rhs": interior_pass(plan, "rhs", "d(state)/dt of _src at every grid point into _out",
                                    [("out", (), 1)], freeze=True)}
    names = {}
    for shape in dict.fromkeys(pass_shape(p) for scheme in SCHEMES.values() for p in scheme.passes):
        writes, scalars = [], []
        for target, terms, unit in shape[0]:
            weights = []
            for array, is_one in zip(terms, unit):
                if not is_one:
                    scalars.append(f"_w{len(scalars)}")
                weights.append((array, 1 if is_one else sympy.Symbol(scalars[-1])))
            scalars.append(f"_w{len(scalars)}")
            writes.append((target, tuple(weights), sympy.Symbol(scalars[-1])))
        names[shape] = f"pass{len(names)}"
        doc = "; ".join(f"_{target} = " + " + ".join([f"{w}*_{a}" if w != 1 else f"_{a}" for a, w in terms]
                                                     + [f"{rate}*rhs(_src)"]) for target, terms, rate in writes)
        kernels[names[shape]] = interior_pass(plan, names[shape], doc, writes, scalars,
                                              wraps=shape[1] if wraps else ())
    return kernels, names


# -- printing ------------------------------------------------------------------------------

def numba_kernel(lowered, pass_: Pass, decorator: str = "@numba.njit") -> list[str]:
    """One ``@numba.njit`` function: invariants, per-field views, then each loop as a loop nest."""
    parallel = any(loop.parallel for loop in pass_.loops) and bool(lowered.axes)
    lines = [f"{decorator}({'parallel=True, ' if parallel else ''}cache=True)",
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
    return f"{axis.name} = {axis.name}_start + ({loop_index(axis)} - {lowered.halo[k]})*h_{axis.name}"


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


def python_api(by_shape: dict, wrapped: bool = False) -> list[str]:
    """rhs, apply_boundaries (:mod:`~symsim.codegen.templates.stepping`) and the step functions, calling
    the kernels by name (a GPU backend defines each as a function that launches its kernels);
    ``by_shape`` names the kernel of each fused-pass shape; ``wrapped``: the passes fill the halos
    they need, so no boundary pass runs between them."""
    kernels = {m: tuple(dict.fromkeys(f"_{by_shape[pass_shape(p)]}" for p in s.passes)) for m, s in SCHEMES.items()}
    lines = ["#: the work arrays of each fused stepper, and the stencil kernels it runs (besides _boundaries)",
             f"WORK_ARRAYS = {dict((m, s.buffers) for m, s in SCHEMES.items())!r}",
             f"STEP_KERNELS = {kernels!r}", "", ""] + inlined_text("stepping").splitlines() + ["", ""]
    for scheme in SCHEMES.values():
        lines += [f"def {scheme.method}_step(t, y, dt, p, work):",
                  f'    """One {scheme.method} step from t; returns the array that holds the state at t + dt."""',
                  "    args = _param_args(p)"] + [f"    {b} = work[{b!r}]" for b in scheme.buffers]
        for stage in scheme.passes:
            arrays, weights = kernel_arguments(stage)
            time = "t" if stage.c == 0 else f"t + {stage.c!r}*dt"
            lines.append(f"    _{by_shape[pass_shape(stage)]}({', '.join([time, stage.src, *arrays, *weights])}, *args)")
            if not wrapped:
                lines += [f"    _boundaries(t + {c!r}*dt, {array}, *args)" for array, c in stage.constrain]
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


def ensemble_lines(lowered) -> list[str]:
    """The batched ODE solvers (:mod:`symsim.codegen.templates.ensemble`), after the model's rate and tableaus."""
    parameters = "".join(f", _p[{k}]" for k in range(len(lowered.parameters)))
    lines = ["# -- batched ODE solvers ------------------------------------------------------------", "",
             "@numba.njit(cache=True)",
             "def _rate(t, _y, _out, _p):",
             '    """d(_y)/dt of one trajectory into _out; _p holds parameter values in PARAM_ORDER."""',
             f"    _rhs(t, _y, _out{parameters})", "", ""]
    for method, prefix, names in (("rk4", "_RK4", "abc"), ("dopri5", "_DOPRI5", ("a", "b", "c", "error"))):
        tableau = TABLEAUS[method]
        for name in names:
            lines.append(f"{prefix}_{name[0].upper()} = numpy.array({getattr(tableau, name)!r})")
    lines += [f"_SAFETY, _FAC_MIN, _FAC_MAX = {SAFETY!r}, {FAC_MIN!r}, {FAC_MAX!r}", "", ""]
    return lines + inlined_text("ensemble").splitlines()
