"""PINN residual loss: generated vs hand-written autograd vs DeepXDE, and long training runs.

    python benchmarks/pinn.py [--train] [--json benchmarks/pinn.json]

Timing: one forward + backward of the Burgers residual loss (nu = 0.01/pi) on 10k
collocation points with a 3x64 tanh MLP, float32, CPU, interleaved rounds, median:

- ``symsim``: the generated ``Residual`` (u_t and u_x from one backward pass, u_xx from u_x);
- ``hand``: what a user writes: one ``torch.autograd.grad`` per derivative;
- ``deepxde``: DeepXDE's Burgers residual (``dde.grad.jacobian``/``hessian``), when
  DeepXDE is installed (``DDE_BACKEND=pytorch``; optional, never a test dependency).

All three compute the same residual; the script checks that before timing.
``--train`` also runs the long trainings of the issue (burgers_1d and heat_1d with hard
constraints) and records their relative L2 errors against symsim's solution.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from symsim import load_model
from symsim.pinn import pinn_module, train_pinn

NU = 0.01 / math.pi


class MLP(torch.nn.Module):
    """3 hidden layers of 64, tanh; called as net(t, x) or net(tx) with one (N, 2) input."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                                          torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                          torch.nn.Linear(64, 1))

    def forward(self, *inputs):
        return self.layers(torch.cat(inputs, dim=1) if len(inputs) > 1 else inputs[0])


def hand_residual(net, t, x):
    u = net(t, x)
    ones = torch.ones_like(u)
    u_t = torch.autograd.grad(u, t, ones, create_graph=True)[0]
    u_x = torch.autograd.grad(u, x, ones, create_graph=True)[0]
    u_xx = torch.autograd.grad(u_x, x, torch.ones_like(u_x), create_graph=True)[0]
    return u_t + u * u_x - NU * u_xx


def deepxde_variant(net, t, x):
    try:
        os.environ.setdefault("DDE_BACKEND", "pytorch")
        import deepxde as dde
    except ImportError:
        return None

    def pde(tx, y):   # DeepXDE's Burgers example, inputs ordered (x, t)
        dy_x = dde.grad.jacobian(y, tx, i=0, j=0)
        dy_t = dde.grad.jacobian(y, tx, i=0, j=1)
        dy_xx = dde.grad.hessian(y, tx, i=0, j=0)
        return dy_t + y * dy_x - NU * dy_xx

    def residual():
        tx = torch.cat([x.detach(), t.detach()], dim=1).requires_grad_(True)
        y = net(tx[:, 1:2], tx[:, 0:1])
        value = pde(tx, y)
        dde.grad.clear()
        return value
    return residual


def timing(points: int, rounds: int) -> dict:
    torch.manual_seed(0)
    net = MLP()
    module = pinn_module(load_model("burgers_1d"))
    generated = module.Residual()
    t = torch.rand(points, 1)
    x = 2 * torch.rand(points, 1) - 1
    t.requires_grad_(True)
    x.requires_grad_(True)
    variants = {"symsim": lambda: generated(net, t, x), "hand": lambda: hand_residual(net, t, x)}
    deepxde = deepxde_variant(net, t, x)
    if deepxde is not None:
        variants["deepxde"] = deepxde
    reference = variants["hand"]().detach()
    for label, residual in variants.items():
        assert torch.allclose(residual().detach(), reference, rtol=1e-4, atol=1e-5), label

    def step(residual):
        net.zero_grad()
        loss = residual().pow(2).mean()
        loss.backward()

    for residual in variants.values():
        for _ in range(3):
            step(residual)
    times = {label: [] for label in variants}
    for _ in range(rounds):
        for label, residual in variants.items():
            start = time.perf_counter()
            step(residual)
            times[label].append(time.perf_counter() - start)
    medians = {label: float(np.median(v)) for label, v in times.items()}
    return {"points": points, "threads": torch.get_num_threads(), "seconds": medians,
            "vs_hand": {label: medians[label] / medians["hand"] for label in medians}}


def training_runs() -> dict:
    runs = {}
    for name in ("heat_1d", "burgers_1d"):
        # symsim pinn's defaults: 2000 Adam steps, 1000 L-BFGS iterations, 4096 points, float32
        run = train_pinn(load_model(name), hard_bc=True, progress=True)
        runs[name] = {"rel_l2": run.rel_l2, "seconds": run.seconds, "steps": run.steps,
                      "final_loss": run.final_loss, "config": run.config}
        print(f"{name}: relative L2 {run.rel_l2:.2e} after {run.steps} steps in {run.seconds:.0f} s")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="also run the long trainings (several minutes)")
    parser.add_argument("--json", default="benchmarks/pinn.json")
    args = parser.parse_args()
    results = {"machine": platform.platform(), "torch": torch.__version__, "timing": timing(10_000, 40)}
    row = results["timing"]
    print(f"Burgers residual loss, forward+backward, {row['points']} points, 3x64 tanh MLP, float32, "
          f"{row['threads']} threads")
    for label, seconds in row["seconds"].items():
        print(f"  {label:<8} {seconds * 1e3:8.2f} ms   {row['vs_hand'][label]:.2f}x hand-written")
    if args.train:
        results["training"] = training_runs()
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
