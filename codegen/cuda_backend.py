"""Numba CUDA backend: a :class:`KernelPlan` rendered as ``@cuda.jit`` kernels, one thread per point.

    >>> print(render_cuda_module(plan_kernel(lowered)))       # a module a person can read:
    @cuda.jit(cache=True)
    def _pass_axpy(t, _src, _dst, _w, D):
        _g1, _g0 = cuda.grid(2)       # the launch's x runs along the last (contiguous) axis
        i_x = _g0 + 1
        i_y = _g1 + 1
        if i_x < 65 and i_y < 65:
            c0 = D/(h_x*h_x)
            u = _src[0]
            rate_u = c0*(u[i_x + 1, i_y] + ...)
            _dst[0, i_x, i_y] = _src[0, i_x, i_y] + _w*rate_u

The arithmetic, the fused Runge–Kutta passes (:mod:`codegen.fused_stages`) and
the step functions are those of the Numba CPU backend (shared code in
:mod:`codegen.numba_backend`); only the iteration differs: a 2D/3D thread grid
over the interior instead of loops, and one small kernel per boundary step
(launched in order on the default stream) over the points of its slab.

The state stays on the device for the whole run: ``to_device`` once, then the
step functions take and return device arrays; ``to_host`` at save points.
Without a GPU the kernels run in Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``,
slow: tests use small grids).
"""

from __future__ import annotations

import math

from symsim.errors import BackendError

from .fused_stages import PASS_KINDS
from .kernel_plan import KernelPlan, PeriodicWrap, WallValue
from .numba_backend import (PASS_DOCS, boundary_index, check_names, coordinate_lines, free_symbols, ghost_lines,
                            invariant_lines, loop_index, lowered_index, module_constants, module_header, pass_writes,
                            point_statements, python_api, rate_name, stencil_fields, symbols_in,
                            wall_value_lines)

#: threads per block along each axis (in axis order; the last axis is the contiguous one)
THREADS = {1: (256,), 2: (8, 32), 3: (2, 4, 32)}
SLAB_THREADS = 128


def render_cuda_module(plan: KernelPlan) -> str:
    """Python source of a module with device-array ``rhs``, ``apply_boundaries`` and ``<method>_step``."""
    lowered = plan.lowered
    if not lowered.axes:
        raise BackendError(f"model {lowered.name!r} has no grid: the cuda target runs grid models; "
                           "run ODE models (and ODE ensembles) on the numba target")
    check_names(lowered)
    lines = module_header(lowered, "Numba CUDA")
    lines += ["import math", "", "import numba", "import numpy", "from numba import cuda", "", ""]
    lines += module_constants(lowered)
    threads = THREADS[lowered.ndim]
    blocks = tuple(math.ceil(n / k) for n, k in zip(lowered.shape, threads))
    # launch configurations are given x-first: x is the last axis
    lines += ["# launch configuration (x, the fastest launch dimension, runs along the last axis)",
              f"_THREADS = {tuple(reversed(threads))!r}",
              f"_BLOCKS = {tuple(reversed(blocks))!r}", "", ""]
    for kind in PASS_KINDS.values():
        lines += _pass_kernel(plan, kind)
    lines += _boundary_kernels(plan)
    lines += python_api(lowered, launch="[_BLOCKS, _THREADS]", copy="_device_copy(state)")
    lines += ["def _device_copy(state):",
              '    """A new device array with the contents of state (host or device)."""',
              "    if hasattr(state, 'copy_to_host'):      # a device array: copy on the device",
              "        copy = cuda.device_array_like(state)",
              "        copy.copy_to_device(state)",
              "        return copy",
              "    return cuda.to_device(state)", "", "",
              "def to_device(state):",
              '    """Copy a host state (numpy array) to the device, once per run."""',
              "    return cuda.to_device(numpy.ascontiguousarray(state))", "", "",
              "def to_host(state):",
              '    """Copy a device state back to the host (at save points)."""',
              "    return state.copy_to_host()"]
    return "\n".join(lines).rstrip() + "\n"


def _thread_index(lowered, indent: str) -> list[str]:
    """Interior index of this thread along every axis, and the guard for threads past the edge."""
    n = lowered.ndim
    names = [f"_g{k}" for k in range(n)]
    grid = ", ".join(reversed(names))
    lines = [f"{indent}{grid} = cuda.grid({n})"]
    lines += [f"{indent}{loop_index(a)} = _g{k} + {lowered.halo[k]}" for k, a in enumerate(lowered.axes)]
    guard = " and ".join(f"{loop_index(a)} < {lowered.halo[k] + a.points}" for k, a in enumerate(lowered.axes))
    return lines + [f"{indent}if {guard}:"]


def _pass_kernel(plan: KernelPlan, kind) -> list[str]:
    lowered = plan.lowered
    arrays = ", ".join(f"_{a}" for a in kind.arrays)
    weights = "".join(f", {w}" for w in kind.weights)
    params = "".join(f", {p}" for p in lowered.parameters)
    lines = ["@cuda.jit(cache=True)",
             f"def _pass_{kind.name}(t, _src, {arrays}{weights}{params}):",
             f'    """{PASS_DOCS[kind.name]}"""']
    lines += _thread_index(lowered, "    ")
    inner = "        "
    lines += invariant_lines(plan, inner)
    read = stencil_fields(plan)
    lines += [f"{inner}{f} = _src[{k}]" for k, f in enumerate(lowered.fields) if f in read]
    body = point_statements(plan, lowered_index(lowered))
    used = symbols_in(body)
    for k in range(lowered.ndim):
        lines += [inner + c for c in coordinate_lines(lowered, k, used)]
    lines += [inner + line for line in body]
    if kind.name == "rhs":
        for field, axis, side in plan.frozen_nodes:
            # boundary nodes are set by their wall condition, not evolved
            lines.append(f"{inner}if {loop_index(lowered.axes[axis])} == {boundary_index(lowered, axis, side)}:")
            lines.append(f"{inner}    {rate_name(field)} = 0.0")
    lines += [inner + line for line in pass_writes(lowered, kind)]
    return lines + ["", ""]


# -- boundaries: one kernel per step, one thread per point of the slab ---------------------

def _slab_threads(lowered, axis: int, value_expressions):
    """The slab's point of this thread (flat index decomposed into the other axes' indices)."""
    used = free_symbols(value_expressions)
    others = [k for k in range(lowered.ndim) if k != axis]
    size = _slab_size(lowered, axis)
    lines = ["    _s = cuda.grid(1)", f"    if _s < {size}:"]
    indent, index, stride = "        ", [None] * lowered.ndim, size
    for k in others:
        stride //= lowered.padded_shape[k]
        name = loop_index(lowered.axes[k])
        lines.append(f"{indent}{name} = (_s // {stride}) % {lowered.padded_shape[k]}")
        lines += [indent + c for c in coordinate_lines(lowered, k, used)]
        index[k] = name
    return lines, indent, tuple(index)


def _slab_size(lowered, axis: int) -> int:
    return math.prod(lowered.padded_shape[k] for k in range(lowered.ndim) if k != axis)


def _boundary_kernels(plan: KernelPlan) -> list[str]:
    lowered = plan.lowered
    params = "".join(f", {p}" for p in lowered.parameters)
    kernels, launches = [], []
    for number, step in enumerate(plan.boundary_steps):
        name = f"_boundary_step{number}"
        if isinstance(step, PeriodicWrap):
            body, threads = _periodic_body(lowered, step.axis)
            doc = f"periodic axis {lowered.axes[step.axis].name}: halo layers copied from the opposite end"
        elif isinstance(step, WallValue):
            body, threads = wall_value_lines(lowered, step.wall, slab=_slab_threads), _slab_size(lowered, step.wall.axis)
            doc = body.pop(0).strip().lstrip("# ")
        else:
            body = ghost_lines(lowered, step.wall, step.layer, slab=_slab_threads)
            threads = _slab_size(lowered, step.wall.axis)
            doc = f"ghost layer {step.layer} of {step.wall.field} beyond the {step.wall.side} wall of {lowered.axes[step.wall.axis].name}"
        kernels += ["@cuda.jit(cache=True)", f"def {name}(t, state{params}):", f'    """{doc}"""'] + body + ["", ""]
        launches.append(f"    {name}[{math.ceil(threads / SLAB_THREADS)}, {SLAB_THREADS}](t, state{params})")
    lines = kernels + [f"def _boundaries(t, state{params}):",
                       '    """Fill halo layers and wall nodes in place for time t: the steps in order."""']
    return lines + (launches or ["    return"]) + ["", ""]


def _periodic_body(lowered, axis: int):
    fields, halo, n = len(lowered.fields), lowered.halo[axis], lowered.axes[axis].points
    slab = _slab_size(lowered, axis)
    total = fields * halo * slab
    lines = ["    _s = cuda.grid(1)", f"    if _s < {total}:",
             f"        _f = _s // {halo * slab}",
             f"        _layer = (_s // {slab}) % {halo}"]
    others = [k for k in range(lowered.ndim) if k != axis]
    stride = slab
    index = [None] * lowered.ndim
    for k in others:
        stride //= lowered.padded_shape[k]
        name = loop_index(lowered.axes[k])
        lines.append(f"        {name} = (_s // {stride}) % {lowered.padded_shape[k]}")
        index[k] = name

    def at(position: str) -> str:
        parts = [position if k == axis else index[k] for k in range(lowered.ndim)]
        return f"state[_f, {', '.join(parts)}]"

    lines.append(f"        {at('_layer')} = {at(f'{n} + _layer')}")
    lines.append(f"        {at(f'{n + halo} + _layer')} = {at(f'{halo} + _layer')}")
    return lines, total
