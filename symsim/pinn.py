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

from .errors import OptionError
from .model import Model


def _torch():
    try:
        import torch
    except ImportError:
        raise OptionError("symsim pinn needs PyTorch: pip install torch (the CPU build: pip install torch==2.13.0)") \
            from None
    return torch


def build_network(module, t_end: float, width: int = 64, depth: int = 4):
    """An MLP ``net(t, x, ...) -> fields`` with inputs scaled to [-1, 1] and periodic axes as sin/cos."""
    torch = _torch()

    class PinnNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inputs = module.INPUTS
            self.scales = [(0.0, t_end)] + [module.DOMAIN[name] for name in module.INPUTS[1:]]
            self.periodic = [name in module.PERIODIC for name in module.INPUTS]
            features = sum(2 if p else 1 for p in self.periodic)
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
            return self.layers(torch.cat(features, dim=1))

    return PinnNet()


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

    def metrics(self) -> dict:
        return {"model": self.model_name, "rel_l2": self.rel_l2, "steps": self.steps, "seconds": self.seconds,
                "final_loss": self.final_loss, "config": self.config,
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
    net = build_network(module, config["t_end"], config["width"], config["depth"])
    if config["hard_bc"]:
        net = module.HardConstraints(net)
    net.load_state_dict(torch.load(directory / "weights.pt", weights_only=True))
    return net.to(getattr(torch, config["dtype"]))


def pinn_module(model: Model, egraph: bool = True):
    from .losses import load_loss_module, loss_source
    source, _ = loss_source(model, "torch-pinn", egraph=egraph)
    return load_loss_module(source, f"symsim_pinn_{model.name}")


def train_pinn(model: Model, t_end: float | None = None, steps: int = 2000, lbfgs_steps: int = 1000,
               points: int = 4096, hard_bc: bool = False, seed: int = 0, width: int = 64, depth: int = 4,
               learning_rate: float = 2e-3, dtype: str = "float32", progress: bool = False,
               reference_saves: int = 20) -> PinnRun:
    """Train an MLP on ``model``'s residual loss; report its error against the numerical solution."""
    torch = _torch()
    if model.grid is None:
        raise OptionError(f"model {model.name!r} has no grid: symsim pinn trains networks of space and time")
    t_end = float(t_end if t_end is not None else model.run_defaults.get("t_end", 0) or 0)
    if not t_end > 0:
        raise OptionError(f"model {model.name!r} has no t_end: pass --t-end")
    for name, value in (("steps", steps), ("points", points)):
        if int(value) < 1:
            raise OptionError(f"{name} must be at least 1, got {value}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    real = getattr(torch, dtype)
    module = pinn_module(model)
    net = build_network(module, t_end, width, depth)
    if hard_bc:
        net = module.HardConstraints(net)
    net = net.to(real)
    residual, initial, boundary = module.Residual(), module.InitialResidual(), module.BoundaryResidual()
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

    def loss_at(interior, edge, start):
        total = residual(net, *interior).pow(2).mean()
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
    bar = _progress(progress, steps + lbfgs_steps, model.name)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.1 ** (s / max(steps, 1)))
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_at(sample(points), sample(max(points // 4, 64)), sample(max(points // 4, 64)))
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            history.append((step, float(loss.detach())))
            _advance(bar, step + 1, float(loss.detach()))
    if lbfgs_steps > 0:
        interior, edge, start = sample(points), sample(max(points // 4, 64)), sample(max(points // 4, 64))
        lbfgs = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=lbfgs_steps, history_size=50,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)
        evaluations = [0]

        def closure():
            lbfgs.zero_grad()
            value = loss_at(interior, edge, start)
            value.backward()
            evaluations[0] += 1
            if evaluations[0] % 25 == 0:
                history.append((steps + evaluations[0], float(value.detach())))
                _advance(bar, steps + min(evaluations[0], lbfgs_steps), float(value.detach()))
            return value

        lbfgs.step(closure)
        loss = loss_at(interior, edge, start)
        history.append((steps + lbfgs_steps, float(loss.detach())))
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    times, coords, reference, prediction, rel_l2 = _compare(model, net, t_end, reference_saves, real)
    config = {"t_end": t_end, "steps": steps, "lbfgs_steps": lbfgs_steps, "points": points, "hard_bc": hard_bc,
              "seed": seed, "width": width, "depth": depth, "learning_rate": learning_rate, "dtype": dtype}
    return PinnRun(model.name, net, rel_l2, steps + lbfgs_steps, seconds, float(loss.detach()), history, config,
                   times, reference, prediction, coords)


def _compare(model: Model, net, t_end: float, saves: int, real):
    """symsim's numerical solution on the model's grid vs the network at the same points."""
    torch = _torch()
    from .solve import simulate
    result = simulate(model, t_end=t_end, saves=saves, method="rk4", space_order=4)
    mesh = np.meshgrid(result.t, *[result[a.name] for a in model.grid.axes], indexing="ij")
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
    coords = {a.name: np.asarray(result[a.name]) for a in model.grid.axes}
    return result.t, coords, reference, prediction, float(math.sqrt(numerator / max(denominator, 1e-300)))


def _progress(enabled: bool, total: int, name: str):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=f"pinn {name}", bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} "
                                                             "[{elapsed}<{remaining}] {postfix}")


def _advance(bar, step: int, loss: float) -> None:
    if bar is not None:
        bar.update(step - bar.n)
        bar.set_postfix_str(f"loss {loss:.3e}")


def _plot(run: PinnRun, path: Path) -> None:
    from .plotting import save_figure
    save_figure(pinn_figure(run), path)


def pinn_figure(run: PinnRun):
    """Per field a row: symsim's solution, the network, and their difference, on physical axes.

    1-D models are drawn as space-time images (x across, t up); 2-D models at the final time.
    Solution and network share one colour scale; the difference is centred on zero.
    """
    from .plotting import cell_edges, new_figure

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
        for ax, data, title, scale in zip(row, (*images, difference), ("symsim solution", "PINN", "PINN - symsim"),
                                          ((low, high, "viridis"), (low, high, "viridis"), (-spread, spread, "RdBu_r"))):
            # arrays are (time or first axis, second axis): imshow draws rows upwards with the transpose
            image = ax.imshow(data.T if not one_d else data, origin="lower", aspect="auto", extent=extent,
                              vmin=scale[0], vmax=scale[1], cmap=scale[2], interpolation="nearest")
            ax.set_title(f"{name}{where}: {title}")
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            figure.colorbar(image, ax=ax, label=name if title != "PINN - symsim" else f"error in {name}")
    figure.suptitle(f"{run.model_name}: relative L2 error {run.rel_l2:.2e} after {run.steps} steps")
    return figure
