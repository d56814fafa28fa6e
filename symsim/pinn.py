"""Train a physics-informed network on a model, with its generated residual loss::

    run = train_pinn(load_model("burgers_1d"), steps=5000, hard_bc=True)
    run.rel_l2            # against symsim's own numerical solution of the same model
    run.save("pinn_out")  # weights.pt (loaded with weights_only=True), metrics.json, pinn.png

The loss is the mean square of the generated ``Residual`` at collocation points
(resampled every Adam step, fixed for L-BFGS), plus the initial and wall residual
terms that are not enforced exactly; ``hard_bc=True`` wraps the network in the
generated ``HardConstraints`` so that Dirichlet walls and initial values hold by
construction. Periodic axes enter the network as sin/cos features, so periodicity
holds exactly too. What training starts from, the generated loss module and an
untrained network ``net(t, x)``:

    >>> import torch
    >>> from symsim import load_model
    >>> module = pinn_module(load_model("burgers_1d"), egraph=False)
    >>> module.INPUTS, module.FIELDS, module.DOMAIN
    (('t', 'x'), ('u',), {'x': (-1.0, 1.0)})
    >>> net = build_network(module, t_end=1.0)
    >>> t, x = torch.linspace(0.0, 1.0, 5)[:, None], torch.linspace(-1.0, 1.0, 5)[:, None]
    >>> module.Residual()(net, t, x).shape      # one residual per point and field
    torch.Size([5, 1])
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .continuous import dirichlet_jumps
from .errors import OptionError
from .geometry import Disc
from .model import Model


def _torch():
    try:
        import torch
    except ImportError:
        raise OptionError("symsim pinn needs PyTorch: pip install torch (the CPU build: pip install torch==2.13.0)") \
            from None
    return torch


def build_network(module, t_end: float, width: int = 64, depth: int = 4, architecture: str = "mlp",
                  obstacles: tuple = ()):
    """A network ``net(t, x, ...) -> fields`` with inputs scaled to [-1, 1] and periodic axes as sin/cos:
    ``architecture="mlp"``, ``depth`` tanh layers of ``width``; ``"modified"``, the modified MLP of Wang, Teng &
    Perdikaris (2021): two encodings U, V of the input, each hidden layer's output Z mixing them as
    (1 - Z) U + Z V, so that the input reaches every layer (measured on steady flows: benchmarks/pinn_accuracy.py).
    ``obstacles``: (cx, cy, radius) of discs in the plane of the last two inputs; each adds the polar features
    log(r / radius), cos(theta), sin(theta) about its centre, the coordinates a flow round it varies in: its
    boundary layer and wake take a small corner of the box's [-1, 1] scaling, which a tanh network resolves
    slowly (measured on the cylinder: benchmarks/pinn_accuracy.py)."""
    torch = _torch()
    _check_choice("architecture", architecture, ARCHITECTURES)

    class PinnNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inputs = module.INPUTS
            self.scales = [(0.0, t_end) if name == "t" else module.DOMAIN[name] for name in module.INPUTS]
            self.periodic = [name in module.PERIODIC for name in module.INPUTS]
            self.obstacles = tuple(tuple(float(c) for c in disc) for disc in obstacles)
            features = sum(2 if p else 1 for p in self.periodic) + 3 * len(self.obstacles)
            self.modified = architecture == "modified"
            if self.modified:
                self.encodings = torch.nn.ModuleList(torch.nn.Linear(features, width) for _ in range(2))
                self.hidden = torch.nn.ModuleList(torch.nn.Linear(features if k == 0 else width, width)
                                                  for k in range(depth))
                self.output = torch.nn.Linear(width, len(module.FIELDS))
                return
            layers, size = [], features
            for _ in range(depth):
                layers += [torch.nn.Linear(size, width), torch.nn.Tanh()]
                size = width
            layers.append(torch.nn.Linear(size, len(module.FIELDS)))
            self.layers = torch.nn.Sequential(*layers)

        def forward(self, *inputs):
            features = []
            for value, (low, high), periodic in zip(inputs, self.scales, self.periodic):
                if periodic:
                    angle = 2 * math.pi * (value - low) / (high - low)
                    features += [torch.sin(angle), torch.cos(angle)]
                else:
                    features.append(2 * (value - low) / (high - low) - 1)
            for cx, cy, radius in self.obstacles:
                dx, dy = inputs[-2] - cx, inputs[-1] - cy
                r = torch.sqrt(dx * dx + dy * dy)
                features += [torch.log(r / radius), dx / r, dy / r]
            features = torch.cat(features, dim=1)
            if not self.modified:
                return self.layers(features)
            u, v = (torch.tanh(encoding(features)) for encoding in self.encodings)
            hidden = features
            for layer in self.hidden:
                mix = torch.tanh(layer(hidden))
                hidden = u + mix * (v - u)
            return self.output(hidden)

    return PinnNet()


def _t_end_of(model: Model, t_end: float | None) -> float:
    """The training interval's end: ``t_end`` if given, else the script's (``model.defaults(t_end=...)``)."""
    t_end = float(t_end if t_end is not None else model.run_defaults.get("t_end", 0) or 0)
    if not (math.isfinite(t_end) and t_end > 0):
        raise OptionError(f"model {model.name!r} has no t_end: pass --t-end (or model.defaults(t_end=...))")
    return t_end


def _check_causal(causal: float | None) -> None:
    if causal is not None and not (math.isfinite(causal) and causal > 0):
        raise OptionError(f"--causal must be a positive number (epsilon of the causal weights), got {causal}")


def _check_choice(option: str, value, choices: tuple) -> None:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
        raise OptionError(f"{option} must be {listed}, got {value!r}")


#: the networks build_network makes
ARCHITECTURES = ("mlp", "modified")


@dataclass
class PinnRun:
    model_name: str
    net: object                      # the trained network (hard-constrained wrapper included)
    rel_l2: float                    # relative L2 error against symsim's numerical solution
    steps: int                       # Adam steps + L-BFGS iterations
    seconds: float
    final_loss: float
    history: list                    # (step, loss) every few steps
    config: dict
    times: np.ndarray = field(repr=False, default=None)
    reference: dict = field(repr=False, default=None)     # field -> (saves, *grid) numerical solution
    prediction: dict = field(repr=False, default=None)    # field -> (saves, *grid) network
    coords: dict = field(repr=False, default=None)        # axis name -> grid coordinates of the comparison
    learned: dict = field(default_factory=dict)           # parameter -> value learned from the data
    reference_label: str = "symsim"                       # what the reference is, in the picture's titles

    def metrics(self) -> dict:
        return {"model": self.model_name, "rel_l2": self.rel_l2, "steps": self.steps, "seconds": self.seconds,
                "final_loss": self.final_loss, "config": self.config, "learned": self.learned,
                "loss_history": [[s, v] for s, v in self.history]}

    def save(self, directory) -> list[str]:
        """weights.pt, metrics.json and pinn.png into ``directory``, each written atomically."""
        from .io import atomic_directory, atomic_write_text
        torch = _torch()
        with atomic_directory(directory) as target:
            target = Path(target)
            torch.save(self.net.state_dict(), target / "weights.pt")
            atomic_write_text(target / "metrics.json", json.dumps(self.metrics(), indent=2) + "\n")
            _plot(self, target / "pinn.png")
        return [str(Path(directory) / n) for n in ("weights.pt", "metrics.json", "pinn.png")]


def load_network(directory, model: Model):
    """Rebuild a saved network from ``metrics.json`` and load its weights safely (no unpickling)."""
    torch = _torch()
    directory = Path(directory)
    config = json.loads((directory / "metrics.json").read_text())["config"]
    module = pinn_module(model)
    net = build_network(module, config["t_end"], config["width"], config["depth"], config.get("architecture", "mlp"),
                        tuple(tuple(disc) for disc in config.get("obstacles", ())))
    if config["hard_bc"]:
        net = module.HardConstraints(net)
    net.load_state_dict(torch.load(directory / "weights.pt", weights_only=True))
    return net.to(getattr(torch, config["dtype"]))


def pinn_module(model: Model, egraph: bool = True):
    from .losses import load_loss_module, loss_source
    source, _ = loss_source(model, "torch-pinn", egraph=egraph)
    return load_loss_module(source, f"symsim_pinn_{model.name}")


def train_pinn(model: Model, t_end: float | None = None, steps: int | None = None, lbfgs_steps: int | None = None,
               points: int | None = None, hard_bc: bool | None = None, seed: int = 0, width: int | None = None,
               depth: int | None = None, learning_rate: float | None = None, dtype: str | None = None,
               progress: bool = False, reference_saves: int = 20, data=None, learn=(),
               data_points: int | None = None, resampling: str | None = None,
               time_limit: float | None = None, causal: float | None = None,
               balance: str | None = None, architecture: str = "mlp", sampling: str | None = None,
               obstacle_features: bool | None = None, near_boundary: float | None = None) -> PinnRun:
    """Train an MLP on ``model``'s residual loss; report its error against the numerical solution (or, for a
    model on a geometry, :func:`train_geometry_pinn`, against its exact solution where it has one). An ODE
    model (no grid) trains a network of t alone, its initial values held exactly unless ``hard_bc=False``,
    in float64 unless told otherwise; its reference is dopri5 at rtol 1e-10.

    An inverse problem: ``data`` (a :class:`~symsim.result.Result` or its file, e.g. what ``symsim run`` wrote,
    noisy or not) adds the misfit to the observations at ``data_points`` of its (time, grid) points drawn at
    random (all of them by default), and the parameters named in ``learn`` are trained with the network,
    starting from the script's values (positive ones through their logarithm, so they stay positive and
    move by factors). The learned values are in ``run.learned``; ``rel_l2`` is then against symsim's solution
    of the model with the learned values, and ``config["data_rms_misfit"]`` the network's misfit to the data.

    L-BFGS follows Adam. With ``resampling="rar"`` (the default of a forward problem on a box) it runs in
    phases of RAR_PHASE iterations, each phase after the first on the points so far plus RAR_BOX_ADDED x
    ``points`` points where the residual is large (RAR-D's density): a shock or layer gets the points a uniform
    draw gives it too few of. With ``"none"`` (the default of an inverse problem) it is one run on one draw; a
    model on a geometry has ``"fresh"`` too, its default (:func:`train_geometry_pinn`). Either way a run that
    ends early without lowering the loss (a failed line search returns quietly) restarts on a new draw.
    ``time_limit`` (seconds of training): L-BFGS stops at the end of the phase that passes it, the last one
    sized to the time left.

    ``causal=epsilon`` weighs the residual causally (Wang, Sankaran & Perdikaris 2024, "Respecting causality for
    training physics-informed neural networks"): [0, t_end] in CAUSAL_SLICES slices, slice i's mean square
    residual L_i weighted by exp(-epsilon * sum_{k<i} L_k), so that a later time counts only once the times
    before it are fitted. The weights follow every Adam step and are set at the start of each L-BFGS phase
    (L-BFGS needs one objective per run). Off by default: on Burgers (seed 0, 5 minutes) epsilon = 1 gave
    1.8e-3 and epsilon = 100 0.82 (the later slices never let in) against 7.9e-4 without.
    ``balance``, ``sampling``, ``obstacle_features`` (a model on a geometry): see :func:`train_geometry_pinn`.
    """
    torch = _torch()
    given = {name: value for name, value in (("steps", steps), ("lbfgs_steps", lbfgs_steps), ("points", points),
                                              ("width", width), ("depth", depth), ("learning_rate", learning_rate))
             if value is not None}
    if learn and data is None:
        raise OptionError("--learn needs --data: parameters are learned from observations")
    if time_limit is not None and not time_limit > 0:
        raise OptionError(f"--time-limit must be a positive number of seconds, got {time_limit}")
    if model.geometry is not None:
        if data is not None or learn:
            raise OptionError("--data/--learn: inverse problems run on time-dependent models (on a grid, or ODEs) "
                              "for now")
        return train_geometry_pinn(model, t_end=t_end, causal=causal, seed=seed, dtype=dtype or "float64",
                                   progress=progress, hard_bc=hard_bc is not False, resampling=resampling or "fresh",
                                   time_limit=time_limit, balance=balance or "none", architecture=architecture,
                                   sampling=sampling or "uniform", obstacle_features=obstacle_features,
                                   near_boundary=near_boundary or 0.0, **given)
    if balance not in (None, "none") or sampling not in (None, "uniform") or obstacle_features or near_boundary:
        raise OptionError("--balance, --sampling sobol, --obstacle-features and --near-boundary: for models on a "
                          "geometry (on a box, points are uniform, the loss unweighted and nothing cut out)")
    # forward problems resample by default; an inverse problem keeps one draw, as measured: Burgers' nu from data,
    # seed 2, was 20.5 % off with L-BFGS in chunks against 9.1 % with one run (each chunk forgets the curvature)
    resampling = resampling or ("none" if data is not None else "rar")
    _check_choice("resampling", resampling, ("rar", "none"))
    _check_causal(causal)
    # the defaults of a time-dependent model on a box; an ODE model (no grid: a network of t alone) holds its
    # initial values exactly unless told otherwise, in float64 (a long horizon is a hard fit for float32)
    steps, lbfgs_steps, points = given.get("steps", 2000), given.get("lbfgs_steps", 1000), given.get("points", 4096)
    width, depth, learning_rate = given.get("width", 64), given.get("depth", 4), given.get("learning_rate", 2e-3)
    ode = model.grid is None
    hard_bc = ode if hard_bc is None else bool(hard_bc)
    dtype = dtype or ("float64" if ode else "float32")
    t_end = _t_end_of(model, t_end)
    for name, value in (("steps", steps), ("points", points)):
        if int(value) < 1:
            raise OptionError(f"{name} must be at least 1, got {value}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    real = getattr(torch, dtype)
    module = pinn_module(model)
    net = build_network(module, t_end, width, depth, architecture)
    if hard_bc:
        net = module.HardConstraints(net)
    net = net.to(real)
    unknowns = _learnable(model, learn, real)
    values = {name: unknown.value() for name, unknown in unknowns.items()}
    residual, initial, boundary = (module.Residual(values), module.InitialResidual(values),
                                   module.BoundaryResidual(values))
    terms = [residual, initial, boundary] + ([net] if hasattr(net, "params") else [])
    observed = _observations(model, data, data_points, t_end, seed, real) if data is not None else None
    lows = [0.0] + [module.DOMAIN[n][0] for n in module.INPUTS[1:]]
    highs = [t_end] + [module.DOMAIN[n][1] for n in module.INPUTS[1:]]

    def sample(count):
        u = torch.rand((count, len(lows)), generator=generator, dtype=real)
        return [(lo + (hi - lo) * u[:, k:k + 1]) for k, (lo, hi) in enumerate(zip(lows, highs))]

    soft_initial = not hard_bc
    soft_walls = [k for k, wall in enumerate(module.BoundaryResidual.WALLS) if not (hard_bc and wall[3] == "dirichlet")]
    velocity_terms = hard_bc and any(order == 2 for order in module.TIME_ORDER.values())
    # hard constraints fix the value; the velocity stays a soft term
    velocity_columns = [i for i, name in enumerate(module.InitialResidual.COLUMNS) if name.endswith("_t")]

    causal_weights = [None]       # set at the start of each L-BFGS phase; None: from each evaluation's residual
    last_slices = [None]

    def residual_loss(interior):
        squares = residual(net, *interior).pow(2)
        if causal is None:
            return squares.mean()
        slices = last_slices[0] = _causal_slices(squares, interior[0], t_end)
        weights = causal_weights[0] if causal_weights[0] is not None else _causal_weights(slices, causal)
        return (weights * slices).mean()

    def loss_at(interior, edge, start):
        if unknowns:                    # this evaluation's values of the learned parameters, in every term
            current = {name: unknown.value() for name, unknown in unknowns.items()}
            for term in terms:
                term.params.update(current)
        total = residual_loss(interior)
        if observed is not None:
            total = total + (net(*observed.inputs)[:, observed.columns] - observed.values).pow(2).mean()
        if soft_initial or velocity_terms:
            values = initial(net, *start[1:])
            if not soft_initial:
                values = values[:, velocity_columns]
            if values.shape[1]:
                total = total + values.pow(2).mean()
        if soft_walls:
            total = total + boundary(net, *edge)[:, soft_walls].pow(2).mean()
        return total

    started = time.perf_counter()
    history = []
    bar = _progress(progress, steps + lbfgs_steps, model.name, time_limit)
    edge_points = max(points // 4, 64)
    trained = list(net.parameters()) + [unknown.raw for unknown in unknowns.values()]
    loss = _adam(net, steps, learning_rate, lambda: loss_at(sample(points), sample(edge_points), sample(edge_points)),
                 history, bar, parameters=trained)
    done, restarts, final_points = 0, 0, points
    if lbfgs_steps > 0:
        def draw():
            return sample(points), sample(edge_points), sample(edge_points)

        def with_points_added(batch):
            interior, edge, start = batch
            count = max(1, int(points * RAR_BOX_ADDED))
            candidates = sample(count * RAR_BOX_CANDIDATES)
            chosen = _rar_d_choice(residual, net, candidates, count, rng)
            return [torch.cat([old, new[chosen]]) for old, new in zip(interior, candidates)], edge, start

        def before_phase(batch):
            if causal is not None:
                squares = residual(net, *batch[0]).pow(2).detach()
                causal_weights[0] = _causal_weights(_causal_slices(squares, batch[0][0], t_end), causal)

        rng = np.random.default_rng(seed)
        # phases of RAR_PHASE iterations with points added between them; without resampling one run (chunks of
        # LBFGS_CHUNK only where a time limit must be kept)
        chunk = RAR_PHASE if resampling == "rar" else LBFGS_CHUNK if time_limit is not None else lbfgs_steps
        done, restarts, batch = _lbfgs_in_chunks(
            trained, lambda batch: loss_at(*batch), draw, lbfgs_steps, history, bar, steps, started, time_limit,
            refine=with_points_added if resampling == "rar" else None, chunk=chunk, before_chunk=before_phase)
        loss = loss_at(*batch)
        final_points = len(batch[0][0])
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    learned = {name: float(unknown.value().detach()) for name, unknown in unknowns.items()}
    # against symsim's solution of the model with the learned values: how well the network solves the model it found
    times, coords, reference, prediction, rel_l2 = _compare(model, net, t_end, reference_saves, real, learned)
    config = {"t_end": t_end, "steps": steps, "lbfgs_steps": lbfgs_steps, "points": points, "hard_bc": hard_bc,
              "seed": seed, "width": width, "depth": depth, "architecture": architecture,
              "learning_rate": learning_rate, "dtype": dtype,
              "resampling": resampling, "time_limit": time_limit, "lbfgs_iterations": done, "lbfgs_restarts": restarts,
              "final_points": final_points, "causal": causal}
    if causal is not None:        # how far the weights let the last slice in at the end (1: all of it)
        config.update(causal_slices=CAUSAL_SLICES,
                      causal_last_weight=float(_causal_weights(last_slices[0], causal)[-1]))
    if observed is not None:
        with torch.no_grad():
            misfit = net(*observed.inputs)[:, observed.columns] - observed.values
        config.update(data=str(observed.source), data_points=int(observed.values.shape[0]),
                      data_rms_misfit=float(misfit.pow(2).mean().sqrt()),
                      learn=list(unknowns), started_from={n: u.start for n, u in unknowns.items()})
    return PinnRun(model.name, net, rel_l2, steps + done, seconds, float(loss.detach()), history, config,
                   times, reference, prediction, coords, learned)


class _Learned:
    """A parameter trained with the network: a positive start through its logarithm, others as they are."""

    def __init__(self, torch, start: float, real):
        self.start = float(start)
        self.positive = self.start > 0
        initial = math.log(self.start) if self.positive else self.start
        self.raw = torch.nn.Parameter(torch.tensor(initial, dtype=real))
        self._torch = torch

    def value(self):
        return self._torch.exp(self.raw) if self.positive else self.raw


def _learnable(model: Model, learn, real) -> dict:
    """{name: _Learned} of the parameters named in ``learn`` (names or "name=start" overriding the script's)."""
    torch = _torch()
    unknowns = {}
    for item in learn or ():
        name, _, start = str(item).partition("=")
        name = name.strip()
        if name not in model.parameters:
            raise OptionError(f"--learn {name}: model {model.name!r} has no parameter {name!r} "
                              f"(parameters: {', '.join(model.parameters) or 'none'})")
        try:
            value = float(start) if start else float(model.parameters[name][1])
        except (TypeError, ValueError):
            raise OptionError(f"--learn {item}: the start value must be a number") from None
        if not math.isfinite(value):
            raise OptionError(f"--learn {item}: the start value must be finite")
        unknowns[name] = _Learned(torch, value, real)
    return unknowns


@dataclass
class _Observations:
    source: object
    inputs: list          # (t, x, ...) columns of the drawn points
    columns: list         # the network's output column of each observed field
    values: object        # (points, observed fields)


def observation_indices(total: int, count: int, seed: int) -> np.ndarray:
    """The flat (time, grid) indices of the ``count`` of ``total`` observations an inverse problem with ``seed``
    trains on, drawn without replacement (a classical fit of the same points calls this too)."""
    return np.random.default_rng(seed).choice(total, size=count, replace=False)


def _observations(model: Model, data, count: int | None, t_end: float, seed: int, real) -> _Observations:
    """The observed values of ``data`` at ``count`` of its (time, grid) points, drawn without replacement."""
    torch = _torch()
    from .result import Result
    result = data if isinstance(data, Result) else Result.load(data)
    axes = [a.name for a in model.grid.axes] if model.grid is not None else []
    missing = [a for a in axes if a not in result.coords]
    fields = [f for f in model.field_functions if f in result.fields]
    if missing or not fields:
        raise OptionError(f"--data {data}: it has axes {list(result.coords)} and fields {list(result.fields)}; "
                          f"model {model.name!r} needs axes {axes} and at least one of the fields "
                          f"{list(model.field_functions)}")
    times = np.asarray(result.t, dtype=float)
    if times.min() < 0 or times.max() > t_end * (1 + 1e-9):
        raise OptionError(f"--data {data}: its times {times.min():g}..{times.max():g} leave the training interval "
                          f"[0, {t_end:g}] (--t-end)")
    mesh = np.meshgrid(times, *[np.asarray(result.coords[a], dtype=float) for a in axes], indexing="ij")
    values = np.stack([np.asarray(result[f], dtype=float).reshape(-1) for f in fields], axis=1)
    total = values.shape[0]
    if not np.isfinite(values).all():
        raise OptionError(f"--data {data}: the observations hold NaN or infinite values")
    count = total if count is None else int(count)
    if not 1 <= count <= total:
        raise OptionError(f"--data-points {count}: the data has {total} (time, grid) points")
    chosen = observation_indices(total, count, seed)
    inputs = [torch.tensor(m.reshape(-1)[chosen, None], dtype=real) for m in mesh]
    columns = [list(model.field_functions).index(f) for f in fields]
    return _Observations(data if not isinstance(data, Result) else "a Result", inputs, columns,
                         torch.tensor(values[chosen], dtype=real))


def _adam(net, steps: int, learning_rate: float, loss_of_a_new_draw, history: list, bar, parameters=None):
    """``steps`` Adam steps, each on a new draw of points, the rate decaying tenfold over them; the last loss.
    ``parameters``: what is trained (default the network's)."""
    torch = _torch()
    optimizer = torch.optim.Adam(parameters if parameters is not None else net.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.1 ** (s / max(steps, 1)))
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_of_a_new_draw()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            history.append((step, float(loss.detach())))
            _advance(bar, step + 1, float(loss.detach()))
    return loss


def _rar_d_choice(residual, net, candidates: list, count: int, rng) -> np.ndarray:
    """Indices of ``count`` of the ``candidates`` (a list of input columns), drawn without replacement with
    probability proportional to 1 + |r| / mean |r|, |r| the norm of the residuals at the point: RAR-D's density
    with k = 1, c = 1, the choice Wu et al. (2023) found best across their problems -- the points follow the
    residual, and every region keeps some."""
    norms = []
    for start in range(0, len(candidates[0]), 8192):
        block = [c[start:start + 8192].detach().requires_grad_(True) for c in candidates]
        norms.append(residual(net, *block).detach().norm(dim=1).numpy())
    norms = np.concatenate(norms)
    density = 1.0 + norms / max(float(norms.mean()), 1e-300)
    return rng.choice(len(norms), size=count, replace=False, p=density / density.sum())


def _causal_slices(squares, t, t_end: float, per_column: bool = False):
    """The mean square residual in each of CAUSAL_SLICES equal slices of [0, t_end] (``squares``: per point and
    field; ``t``: the points' times), summed over the fields (``per_column``: one column per field); a slice
    without points counts zero."""
    torch = _torch()
    index = (t.detach().reshape(-1) / t_end * CAUSAL_SLICES).long().clamp(0, CAUSAL_SLICES - 1)
    sums = torch.zeros((CAUSAL_SLICES, squares.shape[1]), dtype=squares.dtype).index_add(0, index, squares)
    counts = torch.bincount(index, minlength=CAUSAL_SLICES).clamp(min=1).to(squares.dtype)
    means = sums / counts[:, None]
    return means if per_column else means.sum(dim=1)


def _causal_weights(slices, epsilon: float):
    """exp(-epsilon * the sum of the slices before each), detached: a slice's weight rises as the ones before it
    are fitted (the first always 1)."""
    torch = _torch()
    before = torch.cumsum(slices.detach(), 0) - slices.detach()
    return torch.exp(-epsilon * before)


def _balanced_weights(components: list, parameters: list):
    """Weights that give each loss component the same pull: w_i = mean_j |grad L_j| / |grad L_i| (the norm of
    each component's gradient in the trained parameters), the gradient-norm balancing of Wang, Yu & Perdikaris
    (2023, "An expert's guide to training physics-informed neural networks"). A component with no gradient
    keeps weight 1."""
    torch = _torch()
    norms = []
    for component in components:
        if not component.requires_grad:
            norms.append(0.0)
            continue
        gradients = torch.autograd.grad(component, parameters, retain_graph=True, allow_unused=True)
        norms.append(math.sqrt(sum(float(g.pow(2).sum()) for g in gradients if g is not None)))
    pulling = [n for n in norms if n > 0 and math.isfinite(n)]
    if not pulling:
        return [1.0] * len(norms)
    mean = sum(pulling) / len(pulling)
    return [mean / n if n > 0 and math.isfinite(n) else 1.0 for n in norms]


def _lbfgs_in_chunks(trained: list, loss_of, draw, lbfgs_steps: int, history: list, bar, offset: int,
                     started: float, time_limit: float | None = None, before_chunk=None, refine=None,
                     chunk: int | None = None, refine_short_last: bool = True, keep_curvature: bool = False):
    """L-BFGS (strong Wolfe) on ``loss_of(batch)`` in chunks of ``chunk`` (LBFGS_CHUNK) iterations, each with
    a fresh optimizer, so that a stall cannot pass silently: a chunk that ends early without lowering the loss by
    STALL_RATIO (a failed line search returns quietly) restarts on a new ``draw()``; one that ends in NaN
    goes back to the weights after the last good chunk; after MAX_RESTARTS stalls training stops.
    ``refine(batch)``: the next chunk's batch when no stall (default: the same); ``before_chunk(batch)``: run
    before each chunk. ``time_limit`` (seconds since ``started``): the chunk that passes it is the last, the
    last one sized to the time left at the last chunk's pace per point (a batch is (interior columns, ...): the
    count of points is ``len(batch[0][0])``); ``refine_short_last=False``: a last chunk of less than half the
    size keeps its batch (L-BFGS's first steps on a new loss are its largest: a few of them on a new draw
    jolt the network and leave it there). ``keep_curvature``: a chunk after one that ended well starts from
    the curvature pairs (and scaling) the one before it gathered, its first step a quasi-Newton one, instead of
    an empty history and a small gradient step: where each chunk has a new draw of the same flow, the loss's
    curvature hardly changes from draw to draw and relearning it costs each chunk its first iterations; a stall
    or a NaN clears it. The loss goes into ``history`` every HISTORY_EVALUATIONS evaluations. Returns
    (iterations, restarts, the last batch)."""
    torch = _torch()
    done, restarts, pace, curvature = 0, 0, None, None
    size = chunk or LBFGS_CHUNK
    good = [p.detach().clone() for p in trained]
    batch = draw()
    while done < lbfgs_steps and (time_limit is None or time.perf_counter() - started < time_limit):
        if before_chunk is not None:
            before_chunk(batch)
        chunk = min(size, lbfgs_steps - done)
        if time_limit is not None and pace is not None:     # the last chunk sized to the time left
            seconds_per_iteration = pace * len(batch[0][0])
            chunk = max(1, min(chunk, int((time_limit - (time.perf_counter() - started)) / seconds_per_iteration)))
        lbfgs = torch.optim.LBFGS(trained, lr=1.0, max_iter=chunk, max_eval=int(chunk * 1.25),
                                  history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                  tolerance_change=1e-15)
        # the curvature carried over counts as one iteration done, with a zero last step, so that torch's L-BFGS
        # takes its next direction from the pairs and adds no pair of two different draws' gradients
        state = lbfgs.state[lbfgs._params[0]]       # the optimizer's one state dict, which its step() updates in place
        carried = int(curvature is not None)
        if curvature is not None:
            state.update(curvature, d=torch.zeros_like(curvature["prev_flat_grad"]), t=0.0, n_iter=1, func_evals=0)
        evaluations = [0]

        def closure():
            lbfgs.zero_grad()
            value = loss_of(batch)
            value.backward()
            evaluations[0] += 1
            if evaluations[0] % HISTORY_EVALUATIONS == 0:       # at the iteration it belongs to
                step = done + state.get("n_iter", 0) - carried
                history.append((offset + step, float(value.detach())))
                _advance(bar, offset + min(step, lbfgs_steps), float(value.detach()))
            return value

        chunk_started = time.perf_counter()
        before = float(loss_of(batch).detach())
        lbfgs.step(closure)
        iterations = state.get("n_iter", chunk + carried) - carried
        after = float(loss_of(batch).detach())
        # seconds per iteration and point: the next chunk's batch may be larger (resampling adds points)
        pace = (time.perf_counter() - chunk_started) / max(iterations, 1) / len(batch[0][0])
        done += max(iterations, 1)
        history.append((offset + done, after))
        _advance(bar, offset + min(done, lbfgs_steps), after)
        failed = not math.isfinite(after)
        with torch.no_grad():
            if failed:            # back to the weights (and learned values) after the last chunk that ended well
                for p, kept in zip(trained, good):
                    p.copy_(kept)
            else:
                good = [p.detach().clone() for p in trained]
        stalled = failed or (iterations < chunk and not after < before * (1 - STALL_RATIO))
        restarts += stalled
        curvature = {key: state[key] for key in ("old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad")} if (
            keep_curvature and not stalled and state.get("old_dirs")) else None
        if restarts > MAX_RESTARTS or done >= lbfgs_steps or (
                time_limit is not None and time.perf_counter() - started >= time_limit):
            break        # the batch stays the one trained on (the final loss is measured on it)
        short_last = time_limit is not None and (time_limit - (time.perf_counter() - started)) < (
            pace * len(batch[0][0]) * size / 2)
        refined = refine is not None and (refine_short_last or not short_last)
        batch = draw() if stalled else refine(batch) if refined else batch
    return done, restarts, batch


#: saves of an ODE model's reference solution (and of its picture's curves)
ODE_REFERENCE_SAVES = 400

#: times, 0 to t_end, at which a time-dependent model on a geometry is compared with its exact solution
COMPARE_TIMES = 11

#: the band along the boundary (a fraction of the domain's smaller side) where ``near_boundary`` x points of
#: every draw are placed
NEAR_BOUNDARY_BAND = 0.05

#: on a geometry, after each L-BFGS chunk, resampling="rar" adds this fraction of the interior points, drawn
#: (as RAR-D draws) from RAR_CANDIDATES times as many uniform candidates. Measured on Kovasznay (10 minutes):
#: replacing the whole draw by a RAR-D draw at every chunk was 8x worse than keeping one uniform draw (5.2e-3
#: vs 6.2e-4 in u): the bulk loses its points and each chunk starts over on a new loss
RAR_ADDED = 0.1
RAR_CANDIDATES = 10
#: on a box (time-dependent), resampling="rar" runs L-BFGS in phases of RAR_PHASE iterations and adds
#: RAR_BOX_ADDED x the points after each, drawn from RAR_BOX_CANDIDATES times as many uniform candidates.
#: Measured on Burgers (benchmarks/pinn_accuracy.py --problems burgers: nu = 0.01/pi, 2048 points, 4x50,
#: float64, 2000 Adam steps first, 5 minutes; one run per seed): 7.9e-4, 5.9e-4, 9.1e-4 against Cole-Hopf on
#: seeds 0-2, against 5.1e-3, 4.0e-3, 6.7e-2 from one 12000-iteration L-BFGS run on the first draw: the shock,
#: ~nu wide, gets the points it needs. Not the geometry's default: on Kovasznay, a smooth flow, these phases
#: gave v 4.8e-3 against 1.9e-3 (the added points follow the largest residuals; the bulk's share falls)
RAR_PHASE = 1500
RAR_BOX_ADDED = 0.25
RAR_BOX_CANDIDATES = 200
#: causal weighting's slices of [0, t_end] (32: Wang, Sankaran & Perdikaris's choice)
CAUSAL_SLICES = 32
#: on a geometry, the interior residual is weighed by r^2 / (r^2 + delta^2) near a corner where Dirichlet data
#: jumps, delta this fraction of the domain's shorter side
JUMP_RADIUS = 0.05
#: a geometry run's residual is measured at the end on a fresh draw of this many times its points
FRESH_POINTS = 4
#: the loss is written into the history every this many L-BFGS evaluations
HISTORY_EVALUATIONS = 25
#: a training that has stalled this often stops
MAX_RESTARTS = 20

#: L-BFGS runs in chunks of this many iterations; a chunk that ends early without lowering the loss by
#: STALL_RATIO has stalled (a failed line search returns quietly): the optimizer restarts, history cleared
LBFGS_CHUNK = 500
STALL_RATIO = 1e-3
#: curvature pairs L-BFGS keeps
LBFGS_HISTORY = 50


def train_geometry_pinn(model: Model, steps: int = 2000, lbfgs_steps: int = 3000, points: int = 2000,
                        boundary_points: int = 256, hard_bc: bool = True, seed: int = 0, width: int = 50,
                        depth: int = 4, learning_rate: float = 1e-3, dtype: str = "float64",
                        progress: bool = False, grid_points: int = 150, time_limit: float | None = None,
                        resampling: str = "fresh", near_boundary: float = 0.0, balance: str = "none",
                        architecture: str = "mlp", sampling: str = "uniform",
                        obstacle_features: bool | None = None, jump_radius: float = JUMP_RADIUS,
                        monitor=None, t_end: float | None = None, causal: float | None = None) -> PinnRun:
    """Train an MLP ``net(x, y)`` on a model posed on a geometry (steady equations, constraints), or
    ``net(t, x, y)`` on t in [0, ``t_end``] (the model's ``t_end`` by default) when it has time derivatives.

    With ``hard_bc`` (the default) every Dirichlet condition and pin holds exactly (the generated
    ``HardConstraints``); Neumann conditions (and Dirichlet ones without ``hard_bc``) are loss terms at
    ``boundary_points`` points per boundary. Adam on ``points`` interior points drawn afresh every step,
    then L-BFGS (strong Wolfe) in chunks of LBFGS_CHUNK iterations, each on one draw with a fresh optimizer:
    with ``resampling="fresh"`` (the default) each chunk has a new draw (a long training on one draw fits its
    points and not the flow between them: the cylinder's drag ended 4.0 % off on one draw, 0.1 % with a new
    one per chunk; Kovasznay's errors were a little lower on three seeds) and starts from the curvature pairs of the
    chunk before (``_lbfgs_in_chunks``'s ``keep_curvature``); with ``"none"`` the draw is kept; with ``"rar"``
    each chunk's draw is the last one plus RAR_ADDED x ``points`` points where the residual is large
    (residual-based adaptive refinement with RAR-D's density). A chunk that stalls (ends early without
    lowering the loss by STALL_RATIO: a failed line search returns quietly) restarts on a new uniform draw. A
    chunk that ends in NaN goes back to the weights before it. The error is measured against the model's exact
    solution (``model.exact``) on a ``grid_points``-wide grid of the domain; a pinned field (known up to a
    constant) up to its mean.
    ``time_limit`` (seconds of training): L-BFGS stops at the end of the chunk that passes it.
    ``balance="gradient"`` weighs the loss's components (each residual, each soft boundary column) at the start
    of every L-BFGS chunk so that each pulls the parameters as hard as the mean (:func:`_balanced_weights`);
    ``"none"`` (the default) adds them as they are. ``sampling="sobol"`` draws the interior points from one
    scrambled Sobol sequence (more even than ``"uniform"``, the default); ``architecture``: see
    :func:`build_network`; ``near_boundary``: this fraction of each draw's interior points lie within
    NEAR_BOUNDARY_BAND x the domain's shorter side of its boundary (where boundary layers are);
    ``obstacle_features``: the network also sees polar coordinates about each disc cut out of the domain
    (:func:`build_network`'s ``obstacles``; by default wherever the domain has such discs: the cylinder's drag
    went from 0.95 to 1.91 with them, 3000 points, 10 minutes). Where a field's Dirichlet data jumps at a
    corner (:func:`symsim.continuous.dirichlet_jumps`: the cavity's lid) the flow is singular and its residual
    unbounded for any network; the interior residual is weighed there by r^2 / (r^2 + delta^2), r the distance
    to the corner and delta ``jump_radius`` x the domain's shorter side (0: not weighed). ``config`` records
    the interior residual (weighed so) on the last points trained on (``residual_trained``) and on a fresh draw
    of FRESH_POINTS x as many (``residual_fresh``): a network that fits its points and not the flow shows a
    gap. ``monitor(net)``: a dict of numbers (a drag, a probe's value) measured before every L-BFGS chunk and at
    the end, recorded as ``config["monitor"]``, a list of ``{"step": ..., "seconds": ..., **measures}``: whether a
    quantity of interest has settled, which the loss does not tell.

    A time-dependent model: every point (interior or on a boundary) has a time drawn uniformly in [0, t_end];
    hard constraints hold the initial values too (:func:`symsim.continuous.geometry_constraint_forms`), else
    (and for the velocity of a field second order in time) the initial residual at ``boundary_points`` points
    of the domain is a loss term. The error is measured at COMPARE_TIMES times from 0 to t_end
    (``config["error_in_time"]``); the picture draws the last. ``causal=epsilon`` weighs each residual's mean
    square by slices of [0, t_end] as :func:`train_pinn` does on a box.
    """
    torch = _torch()
    if model.geometry is None:
        raise OptionError(f"model {model.name!r} has no geometry (Model(name, geometry=Rectangle(...)))")
    _check_choice("resampling", resampling, ("rar", "fresh", "none"))
    _check_choice("balance", balance, ("gradient", "none"))
    _check_choice("sampling", sampling, ("sobol", "uniform"))
    if not 0 <= near_boundary < 1:
        raise OptionError(f"near_boundary must be a fraction of the points in [0, 1), got {near_boundary}")
    if not jump_radius >= 0:
        raise OptionError(f"jump_radius must be at least 0 (a fraction of the domain's shorter side), got "
                          f"{jump_radius}")
    for name, value in (("steps", steps), ("points", points), ("boundary_points", boundary_points)):
        if int(value) < (0 if name == "steps" else 1):
            raise OptionError(f"{name} must be at least {0 if name == 'steps' else 1}, got {value}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    real = getattr(torch, dtype)
    module = pinn_module(model)
    domain = model.geometry
    timed = module.INPUTS[0] == "t"
    if not timed and t_end is not None:
        raise OptionError(f"--t-end: model {model.name!r} is steady (no equation has a time derivative)")
    t_end = _t_end_of(model, t_end) if timed else 0.0
    if causal is not None and not timed:
        raise OptionError(f"--causal: model {model.name!r} is steady; causal weighting is for time-dependent "
                          "models")
    _check_causal(causal)
    obstacles = tuple((*map(float, hole.centre), float(hole.radius)) for hole in domain.holes
                      if isinstance(hole, Disc)) if obstacle_features is not False else ()
    net = build_network(module, t_end, width, depth, architecture, obstacles)
    if hard_bc:
        net = module.HardConstraints(net)
    net = net.to(real)
    residual, boundary = module.Residual(), module.BoundaryResidual()
    hard = set(getattr(module.HardConstraints, "HARD", ())) if hard_bc else set()
    soft = {name: [k for k, (f, kind) in enumerate(columns) if not (kind == "dirichlet" and (f, kind) in hard)]
            for name, columns in module.BoundaryResidual.CONDITIONS.items()}
    soft = {name: columns for name, columns in soft.items() if columns}
    if not hard_bc and model.pins:
        raise OptionError("pins hold only with hard constraints (hard_bc=True)")
    initial = module.InitialResidual() if timed else None
    # the initial residual's columns not held exactly: all without hard constraints, a velocity always
    soft_start = [k for k, column in enumerate(initial.COLUMNS) if column.endswith("_t")
                  or (column, "initial") not in hard] if timed else []

    def timed_points(array, generator=rng):
        """``array``'s points (n, 2) with a time each, uniform in [0, t_end], in front: a model's inputs."""
        return np.column_stack([generator.uniform(0.0, t_end, len(array)), array]) if timed else array

    def tensors(array):
        # requiring grad already: autograd differentiates these very tensors, which lets the hard constraints'
        # factors frozen at a fixed draw be found again (module.freeze_factors)
        return [torch.tensor(array[:, k:k + 1], dtype=real).requires_grad_(True) for k in range(array.shape[1])]

    # sampling="sobol": the interior points from one scrambled Sobol sequence, each draw its next points
    sobol = torch.quasirandom.SobolEngine(2, scramble=True, seed=seed) if sampling == "sobol" else None

    def unit_square(count):
        return sobol.draw(count, dtype=torch.float64).numpy()

    (x0, x1), (y0, y1) = domain.bounds()
    shorter_side = min(x1 - x0, y1 - y0)        # the near-boundary band and the jumps' delta are fractions of it

    def draw():
        near = int(points * near_boundary)
        inside = domain.sample_interior(points - near, rng, unit_square if sobol is not None else None)
        if near:
            inside = np.concatenate([inside, domain.sample_near_boundary(near, NEAR_BOUNDARY_BAND * shorter_side,
                                                                         rng)])
        interior = tensors(timed_points(inside))
        edges = {}
        for name in soft:
            where, normals = domain.sample_boundary(name, boundary_points, rng)
            edges[name] = tensors(timed_points(where)) + tensors(normals)
        start = tensors(domain.sample_interior(boundary_points, rng)) if soft_start else None
        return interior, edges, start

    def with_points_added(batch):
        """The batch with RAR_ADDED x points more interior points, chosen from RAR_CANDIDATES x as many
        uniform candidates by :func:`_rar_d_choice`."""
        count = max(1, int(points * RAR_ADDED))
        candidates = tensors(timed_points(domain.sample_interior(count * RAR_CANDIDATES, rng)))
        chosen = _rar_d_choice(lambda _, *inputs: weighed_residual(inputs), net, candidates, count, rng)
        interior = [torch.cat([old.detach(), new[chosen].detach()]).requires_grad_(True)
                    for old, new in zip(batch[0], candidates)]
        return (interior, *batch[1:])

    jumps = dirichlet_jumps(domain, model.boundary_conditions) if jump_radius else ()
    delta = jump_radius * shorter_side

    def weighed_residual(interior):
        """The residual at the interior points, weighed down near the corners where the data jumps."""
        values = residual(net, *interior)
        return values * jump_weights(interior[-2].detach(), interior[-1].detach(), jumps, delta) if jumps else values

    causal_weights = [None]     # set at the start of each L-BFGS chunk; None: from each evaluation's residual

    def residual_components(interior):
        """Each residual's mean square; with ``causal``, the mean over time slices of each slice's mean square
        weighed by the causal weights (their sum over the residuals is the box's causal loss)."""
        squares = weighed_residual(interior).pow(2)
        if causal is None:
            return squares.mean(dim=0)
        slices = _causal_slices(squares, interior[0], t_end, per_column=True)
        weights = causal_weights[0] if causal_weights[0] is not None else _causal_weights(slices.sum(dim=1), causal)
        return (weights[:, None] * slices).mean(dim=0)

    def causal_weights_at(interior):
        """The causal weights of the slices of [0, t_end] from the residual at ``interior``, fixed (detached)."""
        squares = weighed_residual(interior).pow(2).detach()
        return _causal_weights(_causal_slices(squares, interior[0], t_end), causal)

    def components_at(interior, edges, start):
        """The loss's components: each residual's mean square, then each soft boundary column's, then each soft
        initial column's."""
        parts = [residual_components(interior)]
        parts += [boundary(net, name, *edges[name])[:, columns].pow(2).mean(dim=0) for name, columns in soft.items()]
        if soft_start:
            parts.append(initial(net, *start)[:, soft_start].pow(2).mean(dim=0))
        return torch.cat(parts)

    weights = [None]            # balance="gradient": the components' weights, set at the start of each chunk

    def loss_at(interior, edges, start):
        components = components_at(interior, edges, start)
        return components.sum() if weights[0] is None else (components * weights[0]).sum()

    started = time.perf_counter()
    history = []
    bar = _progress(progress, steps + lbfgs_steps, model.name, time_limit)
    loss = _adam(net, steps, learning_rate, lambda: loss_at(*draw()), history, bar)

    monitored = []

    def measure():
        if monitor is not None:
            step = history[-1][0] if history else 0
            measures = {name: float(value) for name, value in monitor(net).items()}     # JSON-ready numbers
            monitored.append({"step": step, "seconds": time.perf_counter() - started, **measures})

    def before_chunk(batch):
        measure()           # before the factors are frozen at the batch: the monitor evaluates the net elsewhere
        if hard_bc and hasattr(net, "factors"):     # g, phi and their derivatives once per draw
            module.freeze_factors(net, *batch[0])
        if causal is not None:
            causal_weights[0] = causal_weights_at(batch[0])
        if balance == "gradient":
            weights[0] = torch.tensor(_balanced_weights(list(components_at(*batch)), list(net.parameters())),
                                      dtype=real)

    done, restarts, batch = _lbfgs_in_chunks(
        list(net.parameters()), lambda batch: loss_at(*batch), draw, lbfgs_steps, history, bar, steps,
        started, time_limit, before_chunk=before_chunk,
        # with resampling="rar" each chunk is on the draw so far plus points where the residual is large, so that
        # corners and layers a uniform draw misses get theirs, and starts with an empty curvature history; with
        # "fresh" on a new draw, so that no chunk can fit its points at the expense of the flow between them, and
        # with the curvature the chunk before gathered (the cylinder, 1 thread: drag 5.46 at step 4500 with it,
        # 5.09 without)
        refine={"rar": with_points_added, "fresh": lambda batch: draw()}.get(resampling),
        refine_short_last=resampling != "fresh", keep_curvature=resampling == "fresh")
    if hard_bc and hasattr(net, "factors"):
        module.freeze_factors(net, None)
    measure()
    components = components_at(*batch).detach()         # unweighted; the residuals' mean squares come first
    final = float(components.sum()) if lbfgs_steps else float(loss.detach())
    # the residual on the points trained on against a fresh draw of FRESH_POINTS x as many: a network that fits
    # its draw and not the flow shows a gap
    elsewhere = np.random.default_rng([seed, 1])
    fresh = tensors(timed_points(domain.sample_interior(FRESH_POINTS * points, elsewhere), elsewhere))
    residual_trained = float(components[:len(module.RESIDUALS)].sum())
    residual_fresh = float(weighed_residual(fresh).pow(2).mean(dim=0).sum().detach())
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    x, y, mask = domain.grid(grid_points)
    mesh = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1)[mask]
    times = np.linspace(0.0, t_end, COMPARE_TIMES) if timed else None
    pinned = {p.field for p in model.pins}
    prediction, reference, errors, in_time = {}, {}, {}, {}
    for moment in times if timed else (None,):
        located = np.column_stack([np.full(len(mesh), moment), mesh]) if timed else mesh
        with torch.no_grad():
            values = net(*tensors(located)).numpy()
        exact = _exact_on(model, located, module.INPUTS)
        for k, name in enumerate(module.FIELDS):
            prediction.setdefault(name, []).append(_on_grid(values[:, k], mask))
            if name in exact:
                reference.setdefault(name, []).append(_on_grid(exact[name], mask))
                difference = values[:, k] - exact[name]
                if name in pinned:      # known up to a constant: compare after removing the mean difference
                    difference = difference - difference.mean()
                in_time.setdefault(name, []).append((float(np.sum(difference ** 2)),
                                                     float(np.sum(exact[name] ** 2))))
    # a steady model's fields are (nx, ny) arrays, a time-dependent one's (times, nx, ny)
    prediction, reference = ({name: np.stack(v) if timed else v[0] for name, v in d.items()}
                             for d in (prediction, reference))
    for name, sums in in_time.items():
        errors[name] = math.sqrt(sum(a for a, _ in sums) / max(sum(b for _, b in sums), 1e-300))
    error_in_time = {name: [math.sqrt(a / max(b, 1e-300)) for a, b in sums] for name, sums in in_time.items()}
    measured = [f for f in errors if f not in pinned] or list(errors)
    rel_l2 = max((errors[f] for f in measured), default=float("nan"))
    config = {"geometry": True, "steps": steps, "lbfgs_steps": lbfgs_steps, "points": points,
              "boundary_points": boundary_points, "hard_bc": hard_bc, "seed": seed, "width": width, "depth": depth,
              "architecture": architecture, "obstacles": [list(disc) for disc in obstacles], "sampling": sampling,
              "residual_trained": residual_trained, "data_jumps": [list(c) for c in jumps], "jump_radius": jump_radius,
              "residual_fresh": residual_fresh,
              "learning_rate": learning_rate, "dtype": dtype, "t_end": t_end, "lbfgs_restarts": restarts,
              "lbfgs_iterations": done, "time_limit": time_limit, "resampling": resampling,
              "near_boundary": near_boundary, "final_points": len(batch[0][0]), "balance": balance,
              "loss_weights": weights[0].tolist() if weights[0] is not None else None,
              "pinned": sorted(pinned), "field_errors": errors, "monitor": monitored}
    if timed:
        config.update(times=times.tolist(), error_in_time=error_in_time, causal=causal)
    if causal is not None:        # how far the weights let the last slice in at the end (1: all of it)
        config.update(causal_slices=CAUSAL_SLICES, causal_last_weight=float(causal_weights_at(batch[0])[-1]))
    return PinnRun(model.name, net, rel_l2, steps + done, seconds, final, history, config, times, reference,
                   prediction, {domain.axis_names[0]: x, domain.axis_names[1]: y})


def jump_weights(x, y, jumps, delta: float):
    """prod over the corners (cx, cy) in ``jumps`` of r^2 / (r^2 + delta^2), r the distance from (x, y) to the
    corner: 0 at a corner, 1/2 at delta from it, 1 - (delta / r)^2 far away (arrays or tensors)."""
    weights = 1.0
    for cx, cy in jumps:
        r2 = (x - cx) ** 2 + (y - cy) ** 2
        weights = weights * (r2 / (r2 + delta ** 2))
    return weights


def _exact_on(model: Model, points: np.ndarray, inputs: tuple) -> dict:
    """The model's exact solution (``model.exact``) at ``points`` (n, len(inputs): the network's inputs, t first
    if it has one), with the default parameters."""
    import sympy
    from .vectorize import numpy_function
    symbols = [sympy.Symbol(name) for name in inputs]
    values = {symbol: default for symbol, default in model.parameters.values()}
    out = {}
    for name, expression in model.exact_solution.items():
        function = numpy_function(symbols, sympy.sympify(expression).xreplace(values))
        out[name] = np.broadcast_to(np.asarray(function(*points.T), dtype=float), (len(points),)).copy()
    return out


def _on_grid(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    grid = np.full(mask.shape, np.nan)
    grid[mask] = values
    return grid


def _compare(model: Model, net, t_end: float, saves: int, real, params: dict | None = None):
    """symsim's numerical solution on the model's grid (with ``params`` over the script's values) vs the network
    at the same points."""
    torch = _torch()
    from .solve import simulate
    axes = model.grid.axes if model.grid is not None else ()
    if axes:
        result = simulate(model, t_end=t_end, saves=saves, method="rk4", space_order=4, params=params or None)
    else:       # an ODE: its reference to the integrator's tolerance, at every save the picture draws
        result = simulate(model, t_end=t_end, saves=max(saves, ODE_REFERENCE_SAVES), method="dopri5", rtol=1e-10,
                          atol=1e-12, params=params or None)
    mesh = np.meshgrid(result.t, *[result[a.name] for a in axes], indexing="ij")
    inputs = [torch.tensor(m.reshape(-1, 1), dtype=real) for m in mesh]
    with torch.no_grad():
        values = net(*inputs).numpy()
    reference, prediction = {}, {}
    shape = mesh[0].shape
    for k, name in enumerate(f for f in result.fields if f in model.field_functions):
        reference[name] = result[name]
        prediction[name] = values[:, k].reshape(shape)
    numerator = sum(np.sum((prediction[f] - reference[f]) ** 2) for f in reference)
    denominator = sum(np.sum(reference[f] ** 2) for f in reference)
    coords = {a.name: np.asarray(result[a.name]) for a in axes}
    return result.t, coords, reference, prediction, float(math.sqrt(numerator / max(denominator, 1e-300)))


def _progress(enabled: bool, total: int, name: str, time_limit: float | None = None):
    if not enabled:
        return None
    from tqdm import tqdm
    if time_limit is not None:      # the steps a time limit allows are not known: count them, show the time
        return tqdm(desc=f"pinn {name} (training for {time_limit:.0f} s)",
                    bar_format="{desc}: {n} steps [{elapsed}] {postfix}")
    return tqdm(total=total, desc=f"pinn {name}", bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} "
                                                             "[{elapsed}<{remaining}] {postfix}")


def _advance(bar, step: int, loss: float) -> None:
    if bar is not None:
        bar.update(step - bar.n)
        bar.set_postfix_str(f"loss {loss:.3e}")


def _ode_figure(run: PinnRun):
    """An ODE model's run: per field the reference and the network against t, and their difference."""
    from .plotting import new_figure

    figure = new_figure(11, 2.8 * len(run.reference) + 0.4)
    panels = figure.subplots(len(run.reference), 2, squeeze=False)
    for (left, right), name in zip(panels, run.reference):
        left.plot(run.times, run.reference[name], color="black", label="symsim (dopri5, rtol 1e-10)")
        left.plot(run.times, run.prediction[name], color="tab:orange", linestyle="--", label="PINN")
        left.set_xlabel("t")
        left.set_ylabel(name)
        left.legend(loc="best")
        right.plot(run.times, run.prediction[name] - run.reference[name], color="tab:red")
        right.axhline(0.0, color="grey", linewidth=0.5)
        right.set_xlabel("t")
        right.set_ylabel(f"error in {name}")
    figure.suptitle(f"{run.model_name}: PINN of t, relative L2 {run.rel_l2:.2e}")
    return figure


def _plot(run: PinnRun, path: Path) -> None:
    from .plotting import save_figure
    save_figure(pinn_figure(run), path)


def pinn_figure(run: PinnRun):
    """Per field a row: symsim's solution, the network, and their difference, on physical axes.

    1-D models are drawn as space-time images (x across, t up); 2-D models at the final time.
    Solution and network share one colour scale; the difference is centred on zero.
    """
    from .plotting import cell_edges, new_figure

    if run.config.get("geometry"):
        return _geometry_figure(run)
    if not run.coords:
        return _ode_figure(run)
    axes_names = list(run.coords)
    one_d = len(axes_names) == 1
    figure = new_figure(13, 3.6 * len(run.reference) + 0.4)
    panels = figure.subplots(len(run.reference), 3, squeeze=False)
    for row, name in zip(panels, run.reference):
        reference, prediction = run.reference[name], run.prediction[name]
        if one_d:
            (axis,) = axes_names
            extent = [*cell_edges(run.coords[axis]), *cell_edges(run.times)]
            images, labels, where = (reference, prediction), (axis, "t"), ""
        else:
            extent = [*cell_edges(run.coords[axes_names[0]]), *cell_edges(run.coords[axes_names[1]])]
            images, labels = (reference[-1], prediction[-1]), axes_names[:2]
            where = f" at t={run.times[-1]:.4g}"
            if len(axes_names) > 2:     # 3-D: the mid-plane of the last axis
                k = len(run.coords[axes_names[2]]) // 2
                images = tuple(image[..., k] for image in images)
                where += f", {axes_names[2]}={run.coords[axes_names[2]][k]:.4g}"
        low = min(float(np.nanmin(image)) for image in images)
        high = max(float(np.nanmax(image)) for image in images)
        difference = images[1] - images[0]
        spread = float(np.nanmax(np.abs(difference))) or 1e-12
        titles = (f"{run.reference_label} solution", "PINN", f"PINN - {run.reference_label}")
        for ax, data, title, scale in zip(row, (*images, difference), titles,
                                          ((low, high, "viridis"), (low, high, "viridis"),
                                           (-spread, spread, "RdBu_r"))):
            # arrays are (time or first axis, second axis): imshow draws rows upwards with the transpose
            image = ax.imshow(data.T if not one_d else data, origin="lower", aspect="auto", extent=extent,
                              vmin=scale[0], vmax=scale[1], cmap=scale[2], interpolation="nearest")
            ax.set_title(f"{name}{where}: {title}")
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            figure.colorbar(image, ax=ax, label=name if title != titles[2] else f"error in {name}")
    figure.suptitle(f"{run.model_name}: relative L2 error {run.rel_l2:.2e} after {run.steps} steps")
    return figure


def _geometry_figure(run: PinnRun):
    """Per field a row -- exact solution, network, difference (the network alone without an exact solution)
    -- on the domain (white outside it), and the loss history; a time-dependent model's fields at the last
    time, beside the loss the relative error of each field against t."""
    from .plotting import cell_edges, new_figure

    (xname, x), (yname, y) = run.coords.items()
    extent = [*cell_edges(x), *cell_edges(y)]
    aspect = "equal" if 0.2 <= (extent[3] - extent[2]) / (extent[1] - extent[0]) <= 5 else "auto"
    fields = list(run.prediction)
    panel_height = min(3.6, max(1.6, 4.0 * (extent[3] - extent[2]) / (extent[1] - extent[0])))
    # without an exact solution only the network is drawn: one row of fields (a wide domain: one per row)
    side_by_side = not run.reference and (extent[3] - extent[2]) >= 0.5 * (extent[1] - extent[0])
    rows = 1 if side_by_side else len(fields)
    columns = len(fields) if side_by_side else 3 if run.reference else 1
    figure = new_figure(14, panel_height * rows + 2.6)
    grid = figure.add_gridspec(rows + 1, columns, height_ratios=[panel_height] * rows + [2.2])
    errors = run.config.get("field_errors", {})
    timed = run.times is not None
    when = f" at t={run.times[-1]:.4g}" if timed else ""
    for row, name in enumerate(fields):
        prediction = run.prediction[name][-1] if timed else run.prediction[name]
        panels = [("PINN", prediction, "viridis")]
        if name in run.reference:
            reference = run.reference[name][-1] if timed else run.reference[name]
            difference = prediction - reference
            title = f"PINN - exact (rel. L2 {errors.get(name, float('nan')):.2e})"
            if name in run.config.get("pinned", ()):      # known up to a constant: as its error is measured
                difference = difference - np.nanmean(difference)
                title = f"PINN - exact - mean (rel. L2 {errors.get(name, float('nan')):.2e})"
            panels = [("exact", reference, "viridis"), ("PINN", prediction, "viridis"), (title, difference, "RdBu_r")]
        finite = np.concatenate([p[np.isfinite(p)] for _, p, c in panels if c == "viridis"])
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        for column, (title, data, colours) in enumerate(panels):
            ax = figure.add_subplot(grid[0, row] if side_by_side else grid[row, column])
            if colours == "RdBu_r":
                spread = float(np.nanmax(np.abs(data))) or 1e-12
                scale = (-spread, spread)
            else:
                scale = (low, high)
            image = ax.imshow(np.ma.masked_invalid(data.T), origin="lower", extent=extent, aspect=aspect,
                              vmin=scale[0], vmax=scale[1], cmap=colours, interpolation="nearest")
            ax.set_title(f"{name}{when}: {title}", fontsize="medium")
            ax.set_xlabel(xname)
            ax.set_ylabel(yname)
            figure.colorbar(image, ax=ax, label=name if colours != "RdBu_r" else f"error in {name}")
    in_time = run.config.get("error_in_time") if timed else None
    if in_time:
        bottom = grid[rows, :].subgridspec(1, 2, wspace=0.25)
        history, errors_in_t = figure.add_subplot(bottom[0]), figure.add_subplot(bottom[1])
        for name, values in in_time.items():
            errors_in_t.semilogy(run.times, values, marker="o", ms=3, label=name)
        errors_in_t.set_xlabel("t")
        errors_in_t.set_ylabel("relative L2 error at t")
        errors_in_t.grid(True, alpha=0.3)
        errors_in_t.legend(loc="best", fontsize="small")
    else:
        history = figure.add_subplot(grid[rows, :])
    steps, losses = zip(*run.history) if run.history else ((), ())
    history.semilogy(steps, losses, lw=1)
    adam = run.config.get("steps", 0)
    if adam and run.config.get("lbfgs_steps"):
        history.axvline(adam, color="grey", lw=0.8, ls="--")
        history.text(adam, max(losses) if losses else 1, " L-BFGS", va="top", fontsize="small", color="grey")
    history.set_xlabel("step (Adam, then L-BFGS iterations)")
    history.set_ylabel("loss")
    history.grid(True, alpha=0.3)
    measured = ", ".join(f"{k} {v:.2e}" for k, v in errors.items())
    span = f", t in [0, {run.times[-1]:.4g}]" if timed else ""
    figure.suptitle(f"{run.model_name}: PINN on the geometry{span}, {run.steps} steps, {run.seconds:.0f} s"
                    + (f"; relative L2 errors {measured}" if measured else ""))
    return figure
