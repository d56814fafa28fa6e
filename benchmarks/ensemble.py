"""Batched ODE ensembles: symsim's compiled dopri5 over a batch vs SciPy's solve_ivp one trajectory at a time.

    python benchmarks/ensemble.py [--quick] [--json benchmarks/ensemble.json] [--baseline REV]

The workload of the transformer's data generator: Lorenz trajectories with
parameters uniform in +-10% of nominal and initial states uniform in [-2, 2]^3,
saved at 192 times on [0, 6], rtol 1e-6 / atol 1e-9. SciPy (RK45, same
tolerances) is what a user would otherwise loop over; it is timed on a subset and
reported per trajectory. The two answers are compared (max relative difference of
the final states over trajectories both finished), so a fast wrong solver cannot
look good. ``--baseline REV`` also times the ensemble solver commit REV generates, in
alternation with this one (medians of 7 rounds), and compares their answers.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numba
import numpy as np

from symsim import load_model
from symsim.ensemble import solve_ensemble


def symsim_module(model):
    from symsim import compile_model
    return compile_model(model, target="numba").module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default="benchmarks/ensemble.json")
    parser.add_argument("--baseline", metavar="REV", help="also time the ensemble solver commit REV generates")
    args = parser.parse_args()
    batch, scipy_batch = (256, 8) if args.quick else (4096, 64)
    rng = np.random.default_rng(0)
    model = load_model("lorenz")
    nominal = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
    params = {k: v * rng.uniform(0.9, 1.1, batch) for k, v in nominal.items()}
    y0 = rng.uniform(-2, 2, (batch, 3))
    times = np.linspace(0.0, 6.0, 192)

    solve_ensemble(model, y0[:2], times, params={k: v[:2] for k, v in params.items()})   # compile / load
    started = time.perf_counter()
    ensemble = solve_ensemble(model, y0, times, params=params, rtol=1e-6, atol=1e-9)
    symsim_seconds = time.perf_counter() - started

    if args.baseline:
        from models import modules_of_commit
        old = modules_of_commit(args.baseline, {"lorenz": "load_model('lorenz')"})["lorenz"]
        new = symsim_module(model)
        matrix = np.column_stack([params[name] for name in new.PARAM_ORDER])
        solvers = {"new": new.ensemble_dopri5, "old": old.ensemble_dopri5}
        for solve in solvers.values():
            solve(y0[:2], matrix[:2], times)
        seconds = {label: [] for label in solvers}
        outputs = {}
        for _ in range(7):
            for label, solve in solvers.items():
                started = time.perf_counter()
                outputs[label] = solve(y0, matrix, times, 1e-6, 1e-9)[0]
                seconds[label].append(time.perf_counter() - started)
        old_seconds, new_seconds = (float(np.median(seconds[k])) for k in ("old", "new"))
        baseline = {"revision": args.baseline, "old_seconds": old_seconds, "new_seconds": new_seconds,
                    "new_over_old_speed": old_seconds / new_seconds,
                    "max_abs_difference_t_le_1": float(np.nanmax(np.abs(outputs["new"] - outputs["old"])[:, times <= 1]))}

    from scipy.integrate import solve_ivp
    started = time.perf_counter()
    finals = []
    for b in range(scipy_batch):
        s, r, be = params["sigma"][b], params["rho"][b], params["beta"][b]

        def f(t, y, s=s, r=r, be=be):
            return [s * (y[1] - y[0]), y[0] * (r - y[2]) - y[1], y[0] * y[1] - be * y[2]]
        finals.append(solve_ivp(f, (0, 6), y0[b], t_eval=times, rtol=1e-6, atol=1e-9).y[:, -1])
    scipy_seconds = (time.perf_counter() - started) / scipy_batch
    # chaotic: trajectories separate at the tolerance level by t=6, so compare early states too
    reference = np.array(finals)
    results = {
        "machine": platform.platform(), "numba_threads": numba.get_num_threads(), "batch": batch,
        "saves": len(times), "symsim_seconds": symsim_seconds,
        "symsim_trajectories_per_s": batch / symsim_seconds,
        "scipy_seconds_per_trajectory": scipy_seconds, "scipy_trajectories_per_s": 1 / scipy_seconds,
        "speedup": scipy_seconds * batch / symsim_seconds,
        "finished_fraction": float(ensemble.ok.mean()),
        "final_state_rel_diff_median": float(np.median(
            np.abs(ensemble.states[:scipy_batch, -1] - reference).max(axis=1)
            / np.abs(reference).max(axis=1))),
    }
    print(f"Lorenz ensemble, {batch} trajectories x {len(times)} saves on [0, 6], rtol 1e-6 "
          f"({results['numba_threads']} threads)")
    print(f"  symsim ensemble_dopri5: {symsim_seconds:.3f} s = {results['symsim_trajectories_per_s']:.0f} trajectories/s")
    print(f"  scipy solve_ivp RK45 loop: {scipy_seconds * 1e3:.1f} ms per trajectory = "
          f"{results['scipy_trajectories_per_s']:.0f} trajectories/s")
    print(f"  speed-up {results['speedup']:.0f}x; median relative difference of the final states "
          f"(chaotic, t=6): {results['final_state_rel_diff_median']:.1e}")
    if args.baseline:
        results["baseline"] = baseline
        print(f"  against {args.baseline}'s generated solver (alternated, median of 7): {baseline['new_seconds']:.3f} s vs "
              f"{baseline['old_seconds']:.3f} s = {baseline['new_over_old_speed']:.2f}x; max |difference| on t <= 1 "
              f"{baseline['max_abs_difference_t_le_1']:.1e}")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
