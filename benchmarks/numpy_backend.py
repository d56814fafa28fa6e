"""NumPy reference backend: generated kernel vs hand-written NumPy vs the memory bandwidth.

    python benchmarks/numpy_backend.py [--quick] [--json benchmarks/numpy_backend.json]

For heat 2D (5-point Laplacian, 2048^2) and Gray-Scott (1024^2), times one
forward-Euler step (rhs + update) of the generated module and of the slicing code
an expert would write by hand in NumPy, in the same run, and a STREAM-style triad
(a = b + s*c) for the machine's bandwidth. Effective bandwidth uses the minimum
bytes per point-update: read each field once, write it once (16 B per field).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from models import gray_scott_model, heat_model

from symsim import compile_model
from symsim.solve import keep_freed_arrays_mapped


def hand_heat(state, out, D, h):
    """What a NumPy expert writes: periodic halo by np.pad-free slicing on a padded array."""
    u = state[0]
    u[0, :], u[-1, :] = u[-2, :], u[1, :]
    u[:, 0], u[:, -1] = u[:, -2], u[:, 1]
    c = u[1:-1, 1:-1]
    out[0, 1:-1, 1:-1] = (D / h ** 2) * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * c)


def hand_gray_scott(state, out, p, h):
    for f in (0, 1):
        a = state[f]
        a[0, :], a[-1, :] = a[-2, :], a[1, :]
        a[:, 0], a[:, -1] = a[:, -2], a[:, 1]
    u, v = state[0], state[1]
    uc, vc = u[1:-1, 1:-1], v[1:-1, 1:-1]
    uvv = uc * vc * vc
    lap_u = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * uc
    lap_v = v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:] - 4 * vc
    out[0, 1:-1, 1:-1] = (p["Du"] / h ** 2) * lap_u - uvv + p["F"] * (1 - uc)
    out[1, 1:-1, 1:-1] = (p["Dv"] / h ** 2) * lap_v + uvv - (p["F"] + p["k"]) * vc


def median_time(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def triad_bandwidth(n: int, repeats: int) -> float:
    b, c = np.random.rand(n), np.random.rand(n)
    a = np.empty_like(b)

    def triad():
        np.multiply(c, 3.0, out=a)
        np.add(a, b, out=a)   # numpy needs two passes: 4 array sweeps of 8 B (read c, write a, read a+b, write a)
    seconds = median_time(triad, repeats)
    return 5 * 8 * n / seconds / 1e9


def bench_case(name, model, hand, repeats):
    started = time.perf_counter()
    compiled = compile_model(model, target="numpy")
    compile_seconds = time.perf_counter() - started
    params = compiled.resolve_params()
    state = compiled.initial_state(params)
    out = np.zeros_like(state)
    dt = 1e-6

    def generated_step():
        compiled.apply_boundaries(0.0, state, params)
        compiled.rhs(0.0, state, out, params)
        state[...] += dt * out

    hand_state = state.copy()
    hand_out = np.zeros_like(state)
    h = compiled.lowered.axes[0].spacing

    def hand_step():
        hand(hand_state, hand_out, params if name == "gray_scott" else params["D"], h)
        hand_state[...] += dt * hand_out

    points = int(np.prod(compiled.lowered.shape))
    fields = len(compiled.lowered.fields)
    rows = {}
    for label, step in (("symsim numpy", generated_step), ("hand-written numpy", hand_step)):
        seconds = median_time(step, repeats)
        rows[label] = {"seconds_per_step": seconds, "mpts_per_s": points / seconds / 1e6,
                       "effective_gb_per_s": 16 * fields * points / seconds / 1e9}
    return {"grid": list(compiled.lowered.shape), "fields": fields, "compile_seconds": compile_seconds, "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, few repeats (a smoke run)")
    parser.add_argument("--json", default="benchmarks/numpy_backend.json")
    args = parser.parse_args()
    heat_n, gs_n, repeats = (256, 128, 3) if args.quick else (2048, 1024, 7)
    # the allocator setting symsim.simulate uses for the NumPy backend, for both variants
    allocator_tuned = keep_freed_arrays_mapped()

    results = {"machine": platform.platform(), "numpy": np.__version__, "allocator_tuned": allocator_tuned,
               "triad_gb_per_s": triad_bandwidth(2 ** 25 if not args.quick else 2 ** 20, repeats)}
    results["heat_2d"] = bench_case("heat_2d", heat_model(heat_n), hand_heat, repeats)
    results["gray_scott"] = bench_case("gray_scott", gray_scott_model(gs_n), hand_gray_scott, repeats)

    print(f"STREAM-style triad (numpy, one thread): {results['triad_gb_per_s']:.1f} GB/s")
    print(f"{'case':<12}{'grid':>12}{'variant':>22}{'ms/step':>10}{'MPts/s':>10}{'GB/s eff':>10}{'vs hand':>9}")
    for case in ("heat_2d", "gray_scott"):
        runs = results[case]["runs"]
        hand = runs["hand-written numpy"]["seconds_per_step"]
        for label, row in runs.items():
            grid = "x".join(map(str, results[case]["grid"]))
            print(f"{case:<12}{grid:>12}{label:>22}{1e3 * row['seconds_per_step']:>10.2f}"
                  f"{row['mpts_per_s']:>10.1f}{row['effective_gb_per_s']:>10.2f}{hand / row['seconds_per_step']:>9.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
