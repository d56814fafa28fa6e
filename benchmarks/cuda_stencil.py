"""CUDA backend on a real GPU: correctness against NumPy and throughput, as JSON.

    python benchmarks/cuda_stencil.py [--json OUT.json] [--quick]

Run on a machine with an NVIDIA GPU and numba-cuda (``pip install ".[cuda]"``
plus ``numba-cuda[cu12]`` or ``[cu13]``). For heat 2D at 2048^2 and 4096^2 and
Gray-Scott at 1024^2 and 2048^2 (float64, periodic) it times one Euler and one RK4
step of the generated CUDA kernels (state resident on the device, synchronized
after each timed step), a device-to-device copy of the state as the bandwidth
reference (the physical limit), and checks the state after a few steps against
the NumPy backend's. ``benchmarks/gpu_check.sh`` runs it with the CUDA tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from models import gray_scott_model, heat_model

from symsim import compile_model
from symsim.integrators import CompiledStepper, FixedStepper

BYTES_PER_FIELD = {"euler": 16, "rk4": 128}


def timed(step, synchronize, repeats: int) -> float:
    step()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def copy_bandwidth(cuda, n: int, repeats: int) -> float:
    a = cuda.device_array(n)
    b = cuda.device_array(n)
    seconds = timed(lambda: b.copy_to_device(a), cuda.synchronize, repeats)
    return 2 * 8 * n / seconds / 1e9


def bench(model, repeats: int, cuda) -> dict:
    reference = compile_model(model, target="numpy")
    compiled = compile_model(model, target="cuda")
    params = compiled.resolve_params()
    start = compiled.initial_state(params)
    points = int(np.prod(compiled.lowered.shape))
    fields = len(compiled.lowered.fields)
    h = compiled.lowered.axes[0].spacing
    diffusivity = max(v for k, v in params.items() if k in ("D", "Du", "Dv"))
    dt = min(0.05 * h * h / diffusivity, 0.1)
    rows = {}
    for method in ("euler", "rk4"):
        device = [compiled.module.to_device(start)]
        stepper = CompiledStepper(compiled.stepper_function(method), compiled.module.new_work(device[0], method),
                                  method, params)

        def step():
            device[0] = stepper.step(0.0, device[0], dt)
        seconds = timed(step, cuda.synchronize, repeats)
        # correctness: 5 steps from the same state against the NumPy reference
        check = compiled.module.to_device(start)
        host = start.copy()
        reference_stepper = FixedStepper(method, lambda t, y, out: reference.rhs(t, y, out, params),
                                         lambda t, y: reference.apply_boundaries(t, y, params), host)
        for n in range(5):
            check = stepper.step(n * dt, check, dt)
            host = reference_stepper.step(n * dt, host, dt)
        got = compiled.interior(compiled.module.to_host(check))
        expected = reference.interior(host)
        rows[method] = {"seconds_per_step": seconds, "mpts_per_s": points / seconds / 1e6,
                        "effective_gb_per_s": BYTES_PER_FIELD[method] * fields * points / seconds / 1e9,
                        "max_rel_diff_vs_numpy": float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))}
    return {"grid": list(compiled.lowered.shape), "fields": fields, "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=os.path.join(os.environ.get("OUT", "benchmarks"), "cuda_stencil.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from numba import cuda
    # (Numba's simulator has no device object: then this is a smoke run of the script)
    device_name = str(cuda.get_current_device().name) if hasattr(cuda, "get_current_device") else "simulator"
    sizes = {"heat_2d": (24,), "gray_scott": (16,)} if args.quick else \
        {"heat_2d": (2048, 4096), "gray_scott": (1024, 2048)}
    repeats = 2 if args.quick else 50
    results = {"machine": platform.platform(), "gpu": device_name,
               "copy_gb_per_s": copy_bandwidth(cuda, 2 ** 20 if args.quick else 2 ** 27, repeats)}
    builders = {"heat_2d": heat_model, "gray_scott": gray_scott_model}
    for case, ns in sizes.items():
        for n in ns:
            results[f"{case}_{n}"] = bench(builders[case](n), repeats, cuda)
    print(f"{results['gpu']}: device-to-device copy {results['copy_gb_per_s']:.0f} GB/s")
    for key, value in results.items():
        if isinstance(value, dict):
            for method, row in value["runs"].items():
                print(f"{key:<16}{method:>6}{row['seconds_per_step'] * 1e3:>10.3f} ms{row['mpts_per_s']:>10.0f} MPts/s"
                      f"{row['effective_gb_per_s']:>8.0f} GB/s ({row['effective_gb_per_s'] / results['copy_gb_per_s']:.2f}"
                      f" of copy)  max rel diff vs numpy {row['max_rel_diff_vs_numpy']:.1e}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
