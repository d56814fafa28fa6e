"""PINN accuracy against classical references, one run per problem within a time budget.

    python benchmarks/pinn_accuracy.py [--problems kovasznay] [--minutes 10] [--seed 0]
                                       [--json benchmarks/pinn_accuracy.json]

(A seed other than 0, or minutes other than the problem's, go in as ``<problem>_seed<S>`` and
``<problem>_<M>min``.)

Each problem is a model script in ``examples/pinn/`` trained with ``symsim.pinn.train_pinn``'s
defaults for models on a geometry (float64, every Dirichlet condition and pin held exactly,
Adam then L-BFGS restarted where it stalls) until the budget is spent; the relative L2 errors
against the exact solution are measured on a 150-wide grid of the domain, the pressure up to a
constant. Pictures (fields, errors, loss history) go beside the JSON as
``pinn_accuracy_<problem>.png``.

- ``kovasznay``: Kovasznay flow, Re = 20 (analytic). Target: u, v <= 1e-3, p <= 1e-2, in 10 minutes.
- ``cavity``: lid-driven cavity, Re = 100. Target: the largest difference from Ghia, Ghia & Shin's (1982)
  centre-line velocities (u on x = 0.5, v on y = 0.5; lid speed 1) <= 0.02.
- ``cylinder``: channel flow past a cylinder, Re = 20 (Schafer & Turek 1996, 2D-1). Drag and lift
  coefficients from the stress on the cylinder, ``F = integral of (-p n + nu (grad u + grad u^T) n) ds``
  (n out of the cylinder, 720 points evenly around it, the trapezoid rule: spectral for a periodic
  integrand), ``c = 2 F / (U_mean^2 D)``; the pressure difference ``p(0.15, 0.2) - p(0.25, 0.2)``.
  Targets: drag within 3 %, pressure difference within 5 % (lift, 0.0106, is reported: 1 % of the drag,
  it is where PINN results differ most). 6000 points, 20 % of them near the boundary, float32, 20 minutes,
  and the network sees polar coordinates about the cylinder (``obstacle_features``). The drag and the
  pressure difference are measured before every L-BFGS chunk (``monitor``): the JSON's
  ``measures_history`` and ``pinn_accuracy_cylinder_drag.png`` show whether they have settled.
- ``heat_plate``: heat in a plate with a hole, time-dependent on a geometry (a network of t, x, y; the initial
  value and the hole's falling temperature held exactly). Relative L2 over 11 times in [0, 1] against the
  exact solution; our target (not the issue's) 1e-3 in 5 minutes, the level of the issue's other targets.
  6000 points per draw in float32, as the cavity and the cylinder.
- ``taylor_green``: the decaying Taylor-Green vortex round a post (unsteady incompressible Navier-Stokes on a
  geometry, nu = 0.1, t in [0, 1]; the pressure pinned at every t). Relative L2 over 11 times; our targets
  (not the issue's) those of Kovasznay: u, v <= 1e-3, p <= 1e-2 (up to a constant at each time), 10 minutes,
  6000 points per draw in float32.
- ``burgers``: ``examples/burgers_1d.py`` (nu = 0.01/pi, x in [-1, 1], t in [0, 1], -sin(pi x), walls at 0),
  trained by ``train_pinn`` (time-dependent, on a box: hard initial value and walls, float64, Adam then
  L-BFGS in phases with points added where the residual is large, its default ``resampling="rar"``) until
  5 minutes of training are spent; the relative L2 error against the Cole-Hopf solution (Gauss-Hermite
  quadrature of its integrals, checked against symsim's 1025-point solution) on a 256 x 101 grid of (x, t).
  Target 1e-3 on seeds 0, 1, 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import runpy
import time
from pathlib import Path

import numpy as np
import torch

from symsim import load_model
from symsim.pinn import pinn_figure, train_geometry_pinn
from symsim.plotting import save_figure

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "pinn"

#: problem -> (targets: field or measure -> largest value, minutes allowed, training settings). The cavity takes
#: the cylinder's 6000 points (20 % near the boundary) in float32: on 2000 points in float64 seed 2's network fitted
#: its points and not the flow between them (records cavity_one_draw*, the README compares them)
PROBLEMS = {
    "kovasznay": ({"u": 1e-3, "v": 1e-3, "p": 1e-2}, 10.0,
                  {"steps": 500, "lbfgs_steps": 100000, "points": 2000, "width": 50, "depth": 4}),
    "cavity": ({"ghia_u": 0.02, "ghia_v": 0.02}, 10.0,
               {"steps": 500, "lbfgs_steps": 100000, "points": 6000, "width": 50, "depth": 4,
                "near_boundary": 0.2, "dtype": "float32", "resampling": "fresh"}),
    "heat_plate": ({"u": 1e-3}, 5.0,
                   {"steps": 500, "lbfgs_steps": 100000, "points": 6000, "width": 50, "depth": 4,
                    "dtype": "float32"}),
    "taylor_green": ({"u": 1e-3, "v": 1e-3, "p": 1e-2}, 10.0,
                     {"steps": 500, "lbfgs_steps": 100000, "points": 6000, "width": 50, "depth": 4,
                      "dtype": "float32"}),
    "cylinder": ({"drag_error": 0.03, "pressure_difference_error": 0.05}, 20.0,
                 {"steps": 500, "lbfgs_steps": 100000, "points": 6000, "width": 50, "depth": 4,
                  "near_boundary": 0.2, "obstacle_features": True, "dtype": "float32",
                  "resampling": "fresh"}),
}
#: time-dependent problems on a box (train_pinn): problem -> (example, target, minutes allowed, training settings)
BOX_PROBLEMS = {
    "burgers": ("burgers_1d", 1e-3, 5.0, {"steps": 2000, "lbfgs_steps": 100000, "points": 2048, "width": 50,
                                          "depth": 4, "hard_bc": True, "dtype": "float64"}),
}
#: seconds kept back from the budget for train_pinn's time limit: its last phase, sized to the time left at the
#: phase before's pace per point, can run a few seconds over, and the points added after a phase take their time
BOX_MARGIN = 10.0
#: entries of each loss history kept in the JSON (the pictures draw all of them)
HISTORY_ENTRIES = 200
#: Gauss-Hermite nodes of the Cole-Hopf integrals
HERMITE_NODES = 200


def cole_hopf(x: np.ndarray, t: np.ndarray, nu: float) -> np.ndarray:
    """Burgers' u(x, t) from u(x, 0) = -sin(pi x) by the Cole-Hopf transformation: u = -int sin(pi (x - e))
    f(x - e) exp(-e^2 / 4 nu t) de / int f(x - e) exp(-e^2 / 4 nu t) de, f(y) = exp(-cos(pi y) / (2 pi nu)),
    with e = sqrt(4 nu t) z and Gauss-Hermite quadrature in z; (len(t), len(x))."""
    z, w = np.polynomial.hermite.hermgauss(HERMITE_NODES)
    out = np.empty((len(t), len(x)))
    for k, time_ in enumerate(t):
        if time_ == 0:
            out[k] = -np.sin(np.pi * x)
            continue
        y = x[:, None] - np.sqrt(4 * nu * time_) * z[None, :]
        exponent = -np.cos(np.pi * y) / (2 * np.pi * nu)
        weight = w[None, :] * np.exp(exponent - exponent.max(axis=1, keepdims=True))   # scaled: no overflow
        out[k] = -(np.sin(np.pi * y) * weight).sum(axis=1) / weight.sum(axis=1)
    return out


def box_problem(name: str, seed: int, minutes: float | None, json_path: str) -> dict:
    import symsim
    from symsim.pinn import train_pinn

    example, target, allowed, settings = BOX_PROBLEMS[name]
    budget = 60 * (minutes or allowed)
    model = load_model(example)
    nu = model.parameters["nu"][1]
    x, t = np.linspace(-1.0, 1.0, 256), np.linspace(0.0, 1.0, 101)
    exact = cole_hopf(x, t, nu)
    # the reference checked against symsim's own solution at its saves (1025 points, 4th order: 4.7e-5; it falls
    # 15x per doubling of the points, as a 4th-order scheme converges to the right answer)
    result = symsim.simulate(model.with_points(x=1025), saves=20, method="rk4", space_order=4)
    check = cole_hopf(np.asarray(result["x"]), np.asarray(result.t), nu)
    reference_check = float(np.linalg.norm(check - result["u"]) / np.linalg.norm(result["u"]))
    started = time.perf_counter()
    run = train_pinn(model, seed=seed, progress=True, time_limit=budget - BOX_MARGIN, **settings)
    wall = time.perf_counter() - started
    tt, xx = np.meshgrid(t, x, indexing="ij")
    with torch.no_grad():
        values = run.net(*net_inputs(run.net, tt, xx))[:, 0].numpy().reshape(tt.shape)
    error = float(np.linalg.norm(values - exact) / np.linalg.norm(exact))
    picture = Path(json_path).with_name(f"pinn_accuracy_{name}" + (f"_seed{seed}" if seed else "") + ".png")
    against_exact = dataclasses.replace(run, rel_l2=error, times=t, coords={"x": x}, reference={"u": exact},
                                        prediction={"u": values}, reference_label="Cole-Hopf")
    save_figure(pinn_figure(against_exact), picture)
    within_budget = run.seconds <= budget
    return {"errors": {"u": error}, "targets": {"u": target}, "met": error <= target and within_budget,
            "seed": seed, "picture": str(picture), "training_seconds": run.seconds, "wall_seconds": wall,
            "budget_seconds": budget, "within_budget": within_budget, "settings": settings,
            "adam_steps": settings["steps"], "lbfgs_iterations": run.config["lbfgs_iterations"],
            "lbfgs_restarts": run.config["lbfgs_restarts"], "resampling": run.config["resampling"],
            "reference_vs_symsim": reference_check, "final_loss": run.final_loss, "rel_l2_vs_symsim": run.rel_l2,
            "loss_history": thinned(run.history)}


def net_inputs(net, *arrays, requires_grad: bool = False) -> list:
    """Each array as one (n, 1) input column of ``net``, in the network's dtype (float32 or float64)."""
    real = next(net.parameters()).dtype
    return [torch.tensor(np.reshape(a, (-1, 1)), dtype=real, requires_grad=requires_grad) for a in arrays]


def thinned(history: list, most: int = HISTORY_ENTRIES) -> list:
    """At most ``most`` entries of a loss history, evenly spaced, the last one kept."""
    stride = max(1, -(-len(history) // most))
    return history[::stride] + ([history[-1]] if (len(history) - 1) % stride else [])


#: Schafer & Turek's 2D-1 reference values, and the flow's scales (mean inflow 2/3 of 0.3, diameter 0.1)
CYLINDER_REFERENCE = {"drag": 5.5795, "lift": 0.0106, "pressure_difference": 0.1175}
CYLINDER_CENTRE, CYLINDER_RADIUS, MEAN_INFLOW = (0.2, 0.2), 0.05, 0.2


def cylinder_measures(net, nu: float, points: int = 720) -> dict:
    """Drag and lift coefficients and the pressure difference of the trained network, and their relative
    errors against Schafer & Turek."""
    angle = 2 * np.pi * np.arange(points) / points
    normal = np.stack([np.cos(angle), np.sin(angle)], axis=1)           # out of the cylinder, into the fluid
    where = np.asarray(CYLINDER_CENTRE) + CYLINDER_RADIUS * normal
    x, y = net_inputs(net, where[:, 0], where[:, 1], requires_grad=True)
    u, v, p = net(x, y).unbind(dim=1)
    gradient = [torch.autograd.grad(f.sum(), (x, y), retain_graph=True, allow_unused=True, materialize_grads=True)
                for f in (u, v)]
    (ux, uy), (vx, vy) = [[g.detach().numpy().ravel() for g in pair] for pair in gradient]
    p = p.detach().numpy()
    nx, ny = normal.T
    # traction (-p I + nu (grad u + grad u^T)) n, the fluid's force per length on the cylinder
    traction_x = -p * nx + nu * (2 * ux * nx + (uy + vx) * ny)
    traction_y = -p * ny + nu * ((uy + vx) * nx + 2 * vy * ny)
    arc = 2 * np.pi * CYLINDER_RADIUS / points
    scale = 2 / (MEAN_INFLOW ** 2 * 2 * CYLINDER_RADIUS)
    with torch.no_grad():
        front, back = net(*net_inputs(net, [0.15, 0.25], [0.2, 0.2]))[:, 2].numpy()
    values = {"drag": float(scale * arc * traction_x.sum()), "lift": float(scale * arc * traction_y.sum()),
              "pressure_difference": float(front - back)}
    return {**values, **{f"{name}_error": abs(value - CYLINDER_REFERENCE[name]) / CYLINDER_REFERENCE[name]
                         for name, value in values.items()}}


def cylinder_history_figure(history: list):
    """The drag coefficient and the pressure difference against the training's steps, beside Schafer & Turek's
    values and the targets' bands (from ``train_geometry_pinn``'s ``monitor``)."""
    from symsim.plotting import new_figure

    figure = new_figure(10, 4.0)
    steps = [entry["step"] for entry in history]
    for ax, (name, label, band) in zip(figure.subplots(1, 2), (("drag", "drag coefficient", 0.03),
                                                                 ("pressure_difference", "pressure difference "
                                                                  "p(0.15, 0.2) - p(0.25, 0.2)", 0.05))):
        reference = CYLINDER_REFERENCE[name]
        ax.plot(steps, [entry[name] for entry in history], "o-", ms=3, label="PINN")
        ax.axhline(reference, color="k", lw=1, label="Schafer & Turek 1996")
        ax.axhspan(reference * (1 - band), reference * (1 + band), color="k", alpha=0.1,
                   label=f"target (within {band:.0%})")
        ax.set_xlabel("step (Adam, then L-BFGS iterations)")
        ax.set_ylabel(label)
        ax.legend()
    figure.suptitle("channel flow past a cylinder, Re = 20: measures during training")
    return figure


def centre_line(net, column: int, where: np.ndarray) -> np.ndarray:
    """u (column 0) on the vertical centre line x = 0.5 at heights ``where``, or v (column 1) on the
    horizontal one y = 0.5 at abscissae ``where``."""
    middle = np.full_like(where, 0.5)
    x, y = (middle, where) if column == 0 else (where, middle)
    with torch.no_grad():
        return net(*net_inputs(net, x, y))[:, column].numpy()


def ghia_tables() -> tuple:
    tables = runpy.run_path(str(EXAMPLES / "cavity.py"))
    return (("ghia_u", 0, np.array(tables["GHIA_U"]).T), ("ghia_v", 1, np.array(tables["GHIA_V"]).T))


def ghia_errors(net) -> dict:
    """Largest |network - Ghia| of u on the vertical and v on the horizontal centre line."""
    return {name: float(np.max(np.abs(centre_line(net, column, where) - reference)))
            for name, column, (where, reference) in ghia_tables()}


def ghia_figure(net, errors: dict):
    """The network's centre-line velocities (lines) against Ghia, Ghia & Shin's points (markers)."""
    from symsim.plotting import new_figure

    figure = new_figure(10, 4.2)
    line = np.linspace(0.0, 1.0, 201)
    for ax, (name, column, (where, reference)) in zip(figure.subplots(1, 2), ghia_tables()):
        velocity, across = ("u", "y") if column == 0 else ("v", "x")
        ax.plot(line, centre_line(net, column, line), label="PINN")
        ax.plot(where, reference, "o", mfc="none", label="Ghia, Ghia & Shin 1982")
        ax.set_xlabel(across)
        ax.set_ylabel(f"{velocity} on {'x' if column == 0 else 'y'} = 0.5")
        ax.set_title(f"{velocity} on the centre line: largest difference {errors[name]:.3f}")
        ax.legend()
    figure.suptitle("lid-driven cavity, Re = 100: centre-line velocities (lid speed 1)")
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join([*PROBLEMS, *BOX_PROBLEMS]))
    parser.add_argument("--minutes", type=float, help="training budget per problem (default: the issue's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="benchmarks/pinn_accuracy.json")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    records = {}
    for name in args.problems.split(","):
        if name in BOX_PROBLEMS:
            records[name if args.seed == 0 else f"{name}_seed{args.seed}"] = record = box_problem(
                name, args.seed, args.minutes, args.json)
            print(f"{name} seed {args.seed}: relative L2 against Cole-Hopf {record['errors']['u']:.2e} in "
                  f"{record['training_seconds']:.0f} s (Cole-Hopf vs symsim's solution "
                  f"{record['reference_vs_symsim']:.1e})")
            continue
        targets, minutes, settings = PROBLEMS[name]
        budget = 60 * (args.minutes or minutes)
        model = load_model(str(EXAMPLES / f"{name}.py"))
        nu = model.parameters["nu"][1] if "nu" in model.parameters else None     # the flows' viscosity
        # the cylinder's measures before every L-BFGS chunk: whether they have settled, which the loss does not say
        monitor = (lambda net: {k: v for k, v in cylinder_measures(net, nu).items() if k in CYLINDER_REFERENCE}
                   ) if name == "cylinder" else None
        started = time.perf_counter()
        run = train_geometry_pinn(model, seed=args.seed, progress=True, time_limit=budget, monitor=monitor,
                                  **settings)
        wall = time.perf_counter() - started
        # seed 0's record and picture at the issue's budget keep the plain name; others say what differs
        suffix = (f"_seed{args.seed}" if args.seed else "") + (
            f"_{args.minutes:g}min" if args.minutes and args.minutes != minutes else "")
        picture = Path(args.json).with_name(f"pinn_accuracy_{name}{suffix}.png")
        save_figure(pinn_figure(run), picture)
        errors = dict(run.config["field_errors"])
        if name == "cavity":
            errors.update(ghia_errors(run.net))
            save_figure(ghia_figure(run.net, errors), picture.with_name(f"pinn_accuracy_cavity{suffix}_ghia.png"))
        if name == "cylinder":
            errors.update(cylinder_measures(run.net, nu))
            save_figure(cylinder_history_figure(run.config["monitor"]),
                        picture.with_name(f"pinn_accuracy_cylinder{suffix}_drag.png"))
        records[name + suffix] = {
            "errors": errors, "targets": targets,
            "met": all(errors.get(f, np.inf) <= t for f, t in targets.items()),
            "training_seconds": run.seconds, "wall_seconds": wall, "budget_seconds": budget,
            "adam_steps": settings["steps"], "lbfgs_iterations": run.config["lbfgs_iterations"],
            "lbfgs_restarts": run.config["lbfgs_restarts"], "final_loss": run.final_loss,
            "residual_trained": run.config["residual_trained"],
            "residual_fresh": run.config["residual_fresh"],
            "settings": settings, "seed": args.seed, "picture": str(picture),
            **({"error_in_time": run.config["error_in_time"]} if "error_in_time" in run.config else {}),
            "loss_history": thinned(run.history), "measures_history": run.config["monitor"]}
    print(f"\nPINN accuracy ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    print(f"{'problem':<12} {'measure':<8} {'error':>10} {'target':>8}  {'training':>9}  L-BFGS its (restarts)")
    for name, record in records.items():
        for field, error in record["errors"].items():
            target = record["targets"].get(field, float("nan"))
            print(f"{name:<12} {field:<8} {error:10.2e} {target:8.0e}  {record['training_seconds']:8.0f}s  "
                  f"{record.get('lbfgs_iterations', '-')} ({record.get('lbfgs_restarts', '-')})")
    # the problems run now replace their earlier records; the others stay (one problem per invocation is
    # ten minutes)
    path = Path(args.json)
    earlier = json.loads(path.read_text()).get("problems", {}) if path.exists() else {}
    path.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                                "problems": {**earlier, **records}}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
