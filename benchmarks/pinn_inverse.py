"""Inverse problems: a parameter learned by a physics-informed network from noisy, scattered observations.

    python benchmarks/pinn_inverse.py [--problems heat_1d burgers_1d] [--seeds 0 1 2] [--json benchmarks/pinn_inverse.json]

For each problem and seed: symsim solves the model (RK4, space order 4, 51 saves), 1% noise (of the
largest value) is added, 200 of the (time, grid) points are drawn at random, and ``train_pinn(...,
data=, learn=)`` trains the network and the parameter together, started at half (heat) or 1.5x
(Burgers) the truth. Printed and written: the learned value and its relative error (target 1%),
the network's rms misfit to the data, its error against symsim's solution with the learned value,
and the wall time.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

import symsim
from symsim import load_model
from symsim.pinn import train_pinn
from symsim.result import Result

#: problem -> (parameter, start as a multiple of the truth, training options)
PROBLEMS = {
    "heat_1d": ("D", 0.5, {"points": 1024, "steps": 1000, "lbfgs_steps": 1000}),
    "burgers_1d": ("nu", 1.5, {"points": 4096, "steps": 2000, "lbfgs_steps": 4000}),
}
NOISE, POINTS, SAVES = 0.01, 200, 50


def observations(model, seed: int) -> Result:
    clean = symsim.simulate(model, saves=SAVES, method="rk4", space_order=4)
    rng = np.random.default_rng(1000 + seed)
    noisy = {f: clean[f] + NOISE * np.abs(clean[f]).max() * rng.standard_normal(clean[f].shape)
             for f in clean.fields}
    return Result(clean.model_name, clean.t, clean.coords, noisy, clean.params)


def run(name: str, seed: int) -> dict:
    parameter, factor, options = PROBLEMS[name]
    model = load_model(name)
    truth = float(model.parameters[parameter][1])
    data = observations(model, seed)
    started = time.perf_counter()
    result = train_pinn(model, data=data, learn=[f"{parameter}={factor * truth}"], data_points=POINTS,
                        hard_bc=True, dtype="float64", seed=seed, **options)
    learned = result.learned[parameter]
    row = {"problem": name, "parameter": parameter, "seed": seed, "truth": truth, "start": factor * truth,
           "learned": learned, "relative_error": abs(learned - truth) / abs(truth),
           "data_rms_misfit": result.config["data_rms_misfit"], "rel_l2_vs_symsim": result.rel_l2,
           "seconds": time.perf_counter() - started, "options": options}
    print(f"{name:11s} seed {seed}  {parameter} = {learned:.6g} (truth {truth:.6g}, start {factor * truth:.4g}): "
          f"error {row['relative_error']:.2e}  misfit {row['data_rms_misfit']:.2e}  "
          f"PINN vs symsim {result.rel_l2:.2e}  {row['seconds']:.0f} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--json", default="benchmarks/pinn_inverse.json")
    args = parser.parse_args()
    rows = [run(name, seed) for name in args.problems for seed in args.seeds]
    Path(args.json).write_text(json.dumps({"machine": platform.processor() or platform.machine(), "noise": NOISE,
                                           "data_points": POINTS, "runs": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
