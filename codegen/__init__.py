"""Backends: each prints the same loop-level IR as source code.

    KernelPlan (kernel_plan) -> passes of loops (loops; fused Runge–Kutta passes: stages) -> one printer each:
    numpy_backend (slices), numba_backend (loop nests), cuda_backend (a thread per point),
    torch_operator (slices over a batch of states); torch_pinn prints the continuous form.

Importing this package is light (the command line reads the target names from it);
backend modules are imported when a target is rendered.
"""

#: backends that simulate (``symsim run``); their modules have rhs, apply_boundaries, steps
SIMULATION_TARGETS = ("numpy", "numba", "cuda")
#: backends that render physics losses for training networks (``symsim compile`` only)
LOSS_TARGETS = ("torch-pinn", "torch-operator")
TARGETS = SIMULATION_TARGETS + LOSS_TARGETS


def function_text(source: str, name: str) -> str:
    """The text of function ``name`` in generated ``source`` (to read one kernel of a module)."""
    start = source.index(f"def {name}(")
    return source[start:].split("\n\n\n")[0]


def renderer_for(target: str):
    """The render function of a backend: KernelPlan -> Python source.

    (``torch-pinn`` renders the continuous model instead: :func:`symsim.losses.loss_source`.)
    """
    if target == "numpy":
        from .numpy_backend import render_numpy_module
        return render_numpy_module
    if target == "numba":
        from .numba_backend import render_numba_module
        return render_numba_module
    if target == "cuda":
        from .cuda_backend import render_cuda_module
        return render_cuda_module
    if target == "torch-operator":
        from .torch_operator import render_torch_operator_module
        return render_torch_operator_module
    from symsim.errors import BackendError
    if target in LOSS_TARGETS:
        raise BackendError(f"target {target!r} renders a training loss, not a simulator; "
                           f"simulation targets: {', '.join(SIMULATION_TARGETS)}")
    raise BackendError(f"unknown target {target!r}; available targets: {', '.join(TARGETS)}")
