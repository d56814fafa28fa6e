"""Physics losses for training networks, generated from a model: the PyTorch backends.

    >>> import torch
    >>> from symsim import load_model
    >>> model = load_model("gray_scott").with_points(x=32, y=32)
    >>> source, report = loss_source(model, "torch-operator", space_order=2, egraph=False)
    >>> report["fields"], report["target"]
    (['u', 'v'], 'torch-operator')
    >>> module = load_loss_module(source, "gray_scott_operator")
    >>> prediction = torch.ones(1, 3, 2, 32, 32, dtype=torch.float64)   # (batch, time, field, x, y)
    >>> loss = module.PhysicsLoss()(prediction, dt=0.1)
    >>> round(loss.item(), 6)      # u = v = 1 for all times: mean of (0 - (-1))**2 and (0 - 0.9)**2
    0.905

- ``torch-operator`` (:mod:`symsim.codegen.torch_operator`): the residual of the model's own
  stencils and time differences on predictions on its grid (physics-informed neural
  operators); rendered from the same kernel plan as the simulators.
- ``torch-pinn`` (:mod:`symsim.codegen.torch_pinn`): the residual of the continuous equations
  at collocation points by automatic differentiation of a network ``net(t, x, ...)``;
  rendered from the continuous form of the model (:mod:`symsim.continuous`).
"""

from __future__ import annotations

import types

from .codegen import LOSS_TARGETS
from .errors import BackendError
from .model import Model


def loss_source(model: Model, target: str, space_order: int = 2, egraph: bool = True) -> tuple[str, dict]:
    """Generated source of ``target``'s loss module and a report (fields, equations, operation counts)."""
    from .ir import Kernel
    from .simplify import kernel_cost
    if target == "torch-operator":
        from .codegen.torch_operator import render_torch_operator_module

        from .compiler import optimized_plan
        from .lowering import lower_to_stencils
        lowered = lower_to_stencils(model, space_order)
        plan, egraph_report = optimized_plan(lowered, egraph)
        source = render_torch_operator_module(plan)
    elif target == "torch-pinn":
        from .codegen.torch_pinn import render_torch_pinn_module

        from .continuous import continuous_plan
        plan, egraph_report = continuous_plan(model, egraph)
        lowered = plan.lowered
        source = render_torch_pinn_module(plan)
    else:
        raise BackendError(f"unknown loss target {target!r}; loss targets: {', '.join(LOSS_TARGETS)}")
    report = {
        "model": lowered.name, "target": target, "fields": list(lowered.fields),
        "equations": lowered.equations, "parameters": lowered.parameters,
        "ops_per_point": kernel_cost(Kernel(plan.invariants, plan.temporaries, plan.outputs), lowered,
                                     getattr(plan, "varying", ())),
        "egraph": egraph_report,
    }
    return source, report


def load_loss_module(source: str, name: str) -> types.ModuleType:
    """Execute generated loss source (ours, never user text) as a module."""
    from .compiler import load_generated_module
    return load_generated_module(source, name)
