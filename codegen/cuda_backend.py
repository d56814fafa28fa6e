"""Numba CUDA backend: the loop IR printed as ``@cuda.jit`` kernels, one thread per point.

    >>> from symsim import load_model
    >>> from symsim.codegen import function_text
    >>> from symsim.codegen.kernel_plan import plan_kernel
    >>> from symsim.lowering import lower_to_stencils
    >>> source = render_cuda_module(plan_kernel(lower_to_stencils(load_model("heat_2d").with_points(x=9, y=9))))
    >>> print(function_text(source, "_pass0_0"))      # Euler's pass, a thread per interior point
    def _pass0_0(t, _src, _a0, _w0, D):
        ...
        u = _src[0]
        _a0_u = _a0[0]
        # interior points
        _s = cuda.grid(1)
        if _s >= 81:
            return
        i_y = _s % 9 + 1
        i_x = _s // 9 + 1
        tmp0 = -2*u[i_x, i_y]
        rate_u = D*((u[i_x, i_y + 1] + u[i_x, i_y - 1] + tmp0)/(h_y*h_y) + (u[i_x + 1, i_y] + u[i_x - 1, i_y] + tmp0)/(h_x*h_x))
        _a0_u[i_x, i_y] = u[i_x, i_y] + _w0*rate_u

The point arithmetic, the fused Runge–Kutta passes and the step functions are those
of the Numba CPU backend (:mod:`symsim.codegen.numba_backend`); only the iteration
differs: each loop of a pass is a kernel whose threads cover its region (the last,
contiguous axis fastest), launched in order on the default stream by a function of
the pass's name.

The state stays on the device for the whole run: ``to_device`` once, then the step
functions take and return device arrays; ``to_host`` at save points. Without a GPU
the kernels run in Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, slow: tests
use small grids).
"""

from __future__ import annotations

import dataclasses
import math

from symsim.errors import BackendError

from .kernel_plan import KernelPlan
from .loops import Exchange, Pass, boundary_pass, check_names, loop_index, loop_symbols, module_head
from .numba_backend import (USAGE, PointPrinter, coordinate_line, kernel_body, kernel_signature,
                            module_constants, python_api)
from .stages import stage_passes
from .templates import inlined_text

#: threads per block
THREADS = 128


def render_cuda_module(plan: KernelPlan) -> str:
    """Python source of a module with device-array ``rhs``, ``apply_boundaries`` and ``<method>_step``."""
    lowered = plan.lowered
    if not lowered.axes:
        raise BackendError(f"model {lowered.name!r} has no grid: the cuda target runs grid models; "
                           "run ODE models (and ODE ensembles) on the numba target")
    check_names(plan, "cuda")
    kernels, by_shape = stage_passes(plan, wraps=False)
    lines = module_head(lowered, "Numba CUDA kernels", USAGE,
                        ["import math", "", "import numba", "import numpy", "from numba import cuda"],
                        module_constants(lowered))
    for pass_ in [*kernels.values(), boundary_pass(lowered)]:
        lines += _cuda_pass(lowered, pass_)
    lines += python_api(by_shape) + inlined_text("cuda_arrays").splitlines()
    return "\n".join(lines).rstrip() + "\n"


def _cuda_pass(lowered, pass_: Pass) -> list[str]:
    """One kernel per loop of the pass, and a function of the pass's name that launches them in order."""
    signature = kernel_signature(lowered, pass_)
    lines, launches = [], []
    for number, loop in enumerate(pass_.loops):
        if isinstance(loop, Exchange):      # host code between launches (symsim.distributed)
            launches.append(f"    _exchange(_{loop.array}, {loop.axis})")
            continue
        name = f"_{pass_.name}_{number}"
        lines += ["@cuda.jit(cache=True)", f"def {name}({signature}):", f'    """{pass_.doc} ({loop.name})"""']
        lines += ["    " + line for line in kernel_body(lowered, dataclasses.replace(pass_, loops=(loop,)), _thread_lines)]
        lines += ["", ""]
        points = math.prod(stop - start for start, stop in loop.region)
        launches.append(f"    {name}[{math.ceil(points / THREADS)}, {THREADS}]({signature})")
    lines += [f"def _{pass_.name}({signature}):", f'    """{pass_.doc} (launches its kernels in order)"""']
    return lines + (launches or ["    return"]) + ["", ""]


def _thread_lines(lowered, loop) -> list[str]:
    """This thread's point of the region (flat thread index, the last axis fastest), then the stores."""
    used = loop_symbols(loop)
    extents = [stop - start for start, stop in loop.region]
    lines = [f"# {loop.name}", "_s = cuda.grid(1)", f"if _s >= {math.prod(extents)}:", "    return"]
    stride = 1
    for k in reversed(range(lowered.ndim)):
        start, stop = loop.region[k]
        name = loop_index(lowered.axes[k])
        if extents[k] == 1:
            lines.append(f"{name} = {start}")
            continue
        index = "_s" if stride == 1 else f"_s // {stride}"
        wrapped = index if stride * extents[k] == math.prod(extents) else f"{index} % {extents[k]}"
        lines.append(f"{name} = {wrapped} + {start}")
        stride *= extents[k]
    lines += [coordinate_line(lowered, k) for k, axis in enumerate(lowered.axes) if axis.symbol in used]
    printer = PointPrinter(lowered, tuple(loop_index(a) for a in lowered.axes))
    return lines + [f"{printer.doprint(s.target)} = {printer.doprint(s.value)}" for s in loop.body]
