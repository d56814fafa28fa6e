"""Backends: each renders a :class:`symsim.ir.LoweredModel` as source code.

``kernel_plan`` holds the walk all backends share (kernel statements and
boundary steps as plain data); a backend module only renders them.
"""

from .kernel_plan import KernelPlan, plan_kernel  # noqa: F401

TARGETS = ("numpy", "numba", "cuda")


def renderer_for(target: str):
    """The render function of a backend: KernelPlan -> Python source."""
    if target == "numpy":
        from .numpy_backend import render_numpy_module
        return render_numpy_module
    if target == "numba":
        from .numba_backend import render_numba_module
        return render_numba_module
    if target == "cuda":
        from .cuda_backend import render_cuda_module
        return render_cuda_module
    from symsim.errors import BackendError
    raise BackendError(f"unknown target {target!r}; available targets: {', '.join(TARGETS)}")
