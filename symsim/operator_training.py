"""Training neural operators on symsim models: data from the simulator, data + physics loss.

    >>> import torch
    >>> from symsim import load_model
    >>> from symsim.losses import load_loss_module, loss_source
    >>> model = load_model("burgers_1d").with_points(x=64)
    >>> u0 = random_initial_states(model, 2, seed=0)                  # (batch, fields, x)
    >>> data = simulate_initial_states(model, u0, t_end=0.5, saves=20, params={"nu": 0.02}, target="numpy")
    >>> u0.shape, data.shape                                          # data: (batch, saves + 1, fields, x)
    ((2, 1, 64), (2, 21, 1, 64))
    >>> source, _ = loss_source(model, "torch-operator", egraph=False)
    >>> physics = load_loss_module(source, "burgers_operator").PhysicsLoss({"nu": 0.02})
    >>> still = torch.tensor(u0)[:, None].repeat(1, 21, 1, 1)        # u0 held for all times
    >>> float(physics(torch.tensor(data), dt=0.025)) < 0.01 * float(physics(still, dt=0.025))
    True

A network ``predict(u0) -> trajectories`` is then fitted to the data, with the physics
loss also on initial states that were never simulated::

    history = train_operator(predict, net.parameters(), u0_t, data_t, physics=physics, dt=0.025,
                             physics_inputs=more_u0, physics_weight=1e-3)

The physics term is the generated residual of the model's own discretization
(:mod:`symsim.codegen.torch_operator`), so it agrees with the simulator that made the data:
it needs no labels and is evaluated on inputs without simulations.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .compiler import compile_model
from .errors import OptionError
from .model import Model
from .solve import integrate, run_options


def random_initial_states(model: Model, count: int, modes: int = 4, decay: float = 1.5, amplitude: float = 1.0,
                          seed: int = 0) -> np.ndarray:
    """Random smooth states on the model's grid, (count, fields, *grid): random Fourier series on
    periodic axes, sine series that vanish at both walls on the others (fit for zero Dirichlet walls).

    Mode k of each axis has a normal coefficient scaled by k**-decay; each state is scaled to
    a maximum magnitude of ``amplitude``.
    """
    if model.grid is None:
        raise OptionError(f"random_initial_states: model {model.name!r} has no grid")
    rng = np.random.default_rng(seed)
    fields = len(model.field_functions)
    states = np.zeros((count, fields) + model.grid.shape)
    ks = np.arange(1, modes + 1)
    for n in range(count):
        for f in range(fields):
            state = 1.0
            for axis in model.grid.axes:
                s = (axis.coordinates - axis.start) / (axis.stop - axis.start)   # in [0, 1]
                weights = rng.normal(size=modes) * ks ** -decay
                if axis.periodic:
                    phases = rng.uniform(0, 2 * np.pi, size=modes)
                    profile = (weights[:, None] * np.sin(2 * np.pi * ks[:, None] * s + phases[:, None])).sum(0)
                else:
                    profile = (weights[:, None] * np.sin(np.pi * ks[:, None] * s)).sum(0)
                state = np.multiply.outer(state, profile) if np.ndim(state) else profile
            states[n, f] = amplitude * state / max(np.abs(state).max(), 1e-12)
    return states


def simulate_initial_states(model: Model, initial_states: np.ndarray, t_end: float, saves: int,
                            params: dict | None = None, method: str = "rk4", dt: float | None = None,
                            target: str = "numba", space_order: int | None = None) -> np.ndarray:
    """Trajectories from many initial states with one compiled model: (batch, saves+1, fields, *grid).

    ``initial_states`` is (batch, user fields, *grid); a second-order-in-time field starts at rest
    unless the model's own initial velocity applies (it is kept). Each run is symsim's
    :func:`~symsim.solve.integrate` (stable dt suggested per run unless ``dt`` is given).
    """
    options = run_options(model, t_end=t_end, saves=saves, method=method, dt=dt, space_order=space_order)
    compiled = compile_model(model, target=target, space_order=options["space_order"])
    lowered = compiled.lowered
    initial_states = np.asarray(initial_states, dtype=float)
    expected = (len(lowered.user_fields),) + lowered.shape
    if initial_states.ndim != 1 + len(expected) or initial_states.shape[1:] != expected:
        raise OptionError(f"initial_states must have shape (batch, *{expected}) for fields {lowered.user_fields}, "
                          f"got {initial_states.shape}")
    runs = []
    for state in initial_states:
        initial = dict(lowered.initial)
        initial.update({f: state[k] for k, f in enumerate(lowered.user_fields)})
        run = dataclasses.replace(compiled, lowered=dataclasses.replace(lowered, initial=initial))
        result = integrate(run, options, params)
        runs.append(np.stack([result[f] for f in lowered.fields], axis=1))
    return np.stack(runs)


def batch_relative_l2(pred, target):
    """Mean over the batch of ||pred - target|| / ||target||, each trajectory's norm over all its values
    (a differentiable training loss; :func:`symsim.prose.evaluation.relative_l2` is the metric of one array)."""
    dims = tuple(range(1, target.dim()))
    return ((pred - target).square().sum(dims).sqrt() / target.square().sum(dims).sqrt()).mean()


def train_operator(predict, parameters, inputs, targets, *, physics=None, physics_inputs=None, dt=None,
                   physics_weight: float = 0.0, boundary_weight: float = 1.0, scheme: str = "trapezoid",
                   steps: int = 1000, batch_size: int = 8, physics_batch_size: int = 32, lr: float = 1e-3,
                   seed: int = 0, log=print, log_every: int = 100) -> list[dict]:
    """Adam on relative L2 data loss + ``physics_weight`` * physics loss; returns the logged history.

    ``predict(inputs) -> trajectories`` (batch, time, field, *grid) in the layout of the physics loss.
    The physics loss (``physics(pred, dt, scheme=...)`` plus ``boundary_weight`` times the mean square
    of ``physics.boundary_residual``) is evaluated on a batch drawn from the labeled inputs together
    with ``physics_inputs`` (inputs without simulations). The learning rate decays on a cosine.
    """
    import torch
    if physics_weight and (physics is None or dt is None):
        raise OptionError("train_operator: a physics_weight needs physics (a PhysicsLoss) and dt")
    parameters = list(parameters)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))
    generator = torch.Generator().manual_seed(seed)
    pool = inputs if physics_inputs is None else torch.cat([inputs, physics_inputs])
    history, started = [], time.perf_counter()
    for step in range(1, steps + 1):
        chosen = torch.randperm(len(inputs), generator=generator)[:batch_size]
        data_loss = batch_relative_l2(predict(inputs[chosen]), targets[chosen])
        loss, physics_loss = data_loss, torch.zeros(())
        if physics_weight:
            drawn = pool[torch.randperm(len(pool), generator=generator)[:physics_batch_size]]
            pred = predict(drawn)
            physics_loss = physics(pred, dt, scheme=scheme)
            if boundary_weight:
                physics_loss = physics_loss + boundary_weight * physics.boundary_residual(pred, dt).square().mean()
            loss = loss + physics_weight * physics_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % log_every == 0 or step == steps:
            entry = {"step": step, "data": data_loss.item(), "physics": physics_loss.item(),
                     "seconds": time.perf_counter() - started}
            history.append(entry)
            if log:
                log(f"  step {step:5d}  data rel-L2 {entry['data']:.4f}  physics {entry['physics']:.3e}  "
                    f"({entry['seconds']:.0f} s)")
    return history
