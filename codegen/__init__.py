"""Backends: each prints the same loop-level IR as source code.

    KernelPlan (kernel_plan) -> passes of loops (loops; fused Runge–Kutta passes: stages) -> one printer each:
    numpy_backend (slices), numba_backend (loop nests), cuda_backend (a thread per point),
    torch_operator (slices over a batch of states); torch_pinn prints the continuous form.

Importing this package is light (the command line reads the target names from it);
backend modules are imported when a target is rendered.
"""

import importlib

#: backends that simulate (``symsim run``); their modules have rhs, apply_boundaries, steps
SIMULATION_TARGETS = ("numpy", "numba", "cuda")
#: backends that render physics losses for training networks (``symsim compile`` only)
LOSS_TARGETS = ("torch-pinn", "torch-operator")
TARGETS = SIMULATION_TARGETS + LOSS_TARGETS
#: target -> (module, render function) of the backends that print the loop IR
_RENDERERS = {"numpy": ("numpy_backend", "render_numpy_module"), "numba": ("numba_backend", "render_numba_module"),
              "cuda": ("cuda_backend", "render_cuda_module"),
              "torch-operator": ("torch_operator", "render_torch_operator_module")}


def function_text(source: str, name: str) -> str:
    """The text of function ``name`` in generated ``source`` (to read one kernel of a module)."""
    start = source.index(f"def {name}(")
    return source[start:].split("\n\n\n")[0]


def renderer_for(target: str):
    """The render function of a backend: KernelPlan -> Python source.

    (``torch-pinn`` renders the continuous model instead: :func:`symsim.losses.loss_source`.)
    """
    if target in _RENDERERS:
        module, function = _RENDERERS[target]
        return getattr(importlib.import_module(f".{module}", __name__), function)
    from symsim.errors import BackendError
    if target in LOSS_TARGETS:
        raise BackendError(f"target {target!r} renders a training loss, not a simulator; "
                           f"simulation targets: {', '.join(SIMULATION_TARGETS)}")
    raise BackendError(f"unknown target {target!r}; available targets: {', '.join(TARGETS)}")
