"""Stencil kernels: generated Numba vs hand-written Numba vs NumPy vs the memory bandwidth.

    python benchmarks/stencil.py [--quick] [--json benchmarks/stencil.json] [--baseline REV]

Heat 2D (5-point Laplacian, 2048^2) and Gray-Scott (1024^2), periodic, float64,
one forward-Euler step and one RK4 step, all in one run, the variants timed in
alternation round after round:

- ``symsim numpy``: the NumPy backend with the reference steppers;
- ``symsim numba``: the Numba backend's fused steps (``euler_step``, ``rk4_step``) on the
  states it allocates (``compile_model(...).initial_state``, as ``symsim run`` uses them);
- ``hand numba``: what an expert writes with ``@njit(parallel=True)`` for one model: one
  2-D array per field, the periodic wraps peeled inside the kernel (no halo, no boundary
  pass), Euler ping-ponging two arrays, RK4 with the stage combinations fused into the
  stencil passes and the last pass accumulating in place (the fastest hand-written
  variant measured on this machine), on plain numpy allocations;
- ``symsim numba @REV`` (with ``--baseline REV``): the Numba module commit REV generates
  for the same model, loaded into this process (generated modules need only numpy and
  numba), so that two commits are compared in one run;
- ``devito``: Devito's OpenMP operator for the same forward-Euler stencil (its own
  process, interior update only), when Devito is installed;
- a STREAM-style triad ``a = b + s*c`` with ``prange`` (the physical limit).

Effective bandwidth uses the minimum bytes per point-update per field: Euler
reads the state and writes the new one (16 B); the fused RK4 step moves 128 B
(passes read/write y,s0,acc | s0,y,acc,s2,acc | s2,y,acc,s0,acc | s0,acc,acc),
write-allocate traffic not counted. Start-up: a fresh process compiles the model
into an empty kernel cache and takes one RK4 step (first run), then a second fresh
process does the same from the warm cache (cached start-up, from ``compile_model``
to the end of the first step, initial state included; importing symsim is reported
separately). For scale, the same run measures Numba's own floor: a fresh process
importing numba and calling one trivial cached kernel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numba
import numpy as np
from models import gray_scott_model, heat_model, modules_of_commit
from startup import numba_floor
from numba import njit, prange

from symsim import compile_model
from symsim.integrators import CompiledStepper, FixedStepper
from symsim.solve import keep_freed_arrays_mapped

BYTES_PER_FIELD = {"euler": 16, "rk4": 128}


# -- hand-written Numba (the expert baseline) ------------------------------------------------
#
# What an expert writes for one model: one 2-D array per field and no halo, the periodic wraps
# peeled (each row's neighbour rows chosen once, its first and last column outside the inner
# loop), RK4's stage combinations fused into the stencil passes and the last pass accumulating
# in place (the state and the accumulator then swap roles).

@njit(inline="always")
def heat_rate(u, i, im, ip, j, jm, jp, c):
    return c * (u[im, j] + u[ip, j] + u[i, jm] + u[i, jp] - 4.0 * u[i, j])


@njit(inline="always")
def gray_scott_rates(u, v, i, im, ip, j, jm, jp, cu, cv, F, Fk):
    uc, vc = u[i, j], v[i, j]
    uvv = uc * vc * vc
    ru = cu * (u[im, j] + u[ip, j] + u[i, jm] + u[i, jp] - 4.0 * uc) - uvv + F * (1.0 - uc)
    rv = cv * (v[im, j] + v[ip, j] + v[i, jm] + v[i, jp] - 4.0 * vc) + uvv - Fk * vc
    return ru, rv


@njit(inline="always")
def heat_euler_at(y, out, i, im, ip, j, jm, jp, c, dt):
    out[i, j] = y[i, j] + dt * heat_rate(y, i, im, ip, j, jm, jp, c)


@njit(inline="always")
def heat_first_at(y, s, acc, i, im, ip, j, jm, jp, c, w_s, w_acc):
    k = heat_rate(y, i, im, ip, j, jm, jp, c)
    s[i, j] = y[i, j] + w_s * k
    acc[i, j] = y[i, j] + w_acc * k


@njit(inline="always")
def heat_middle_at(src, y, s, acc, i, im, ip, j, jm, jp, c, w_s, w_acc):
    k = heat_rate(src, i, im, ip, j, jm, jp, c)
    s[i, j] = y[i, j] + w_s * k
    acc[i, j] += w_acc * k


@njit(inline="always")
def heat_last_at(src, acc, i, im, ip, j, jm, jp, c, w_acc):
    acc[i, j] += w_acc * heat_rate(src, i, im, ip, j, jm, jp, c)


@njit(parallel=True)
def heat_euler(y, out, c, dt):
    n0, n1 = y.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        heat_euler_at(y, out, i, im, ip, 0, n1 - 1, 1, c, dt)
        for j in range(1, n1 - 1):
            heat_euler_at(y, out, i, im, ip, j, j - 1, j + 1, c, dt)
        heat_euler_at(y, out, i, im, ip, n1 - 1, n1 - 2, 0, c, dt)


@njit(parallel=True)
def heat_first(y, s, acc, c, w_s, w_acc):
    n0, n1 = y.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        heat_first_at(y, s, acc, i, im, ip, 0, n1 - 1, 1, c, w_s, w_acc)
        for j in range(1, n1 - 1):
            heat_first_at(y, s, acc, i, im, ip, j, j - 1, j + 1, c, w_s, w_acc)
        heat_first_at(y, s, acc, i, im, ip, n1 - 1, n1 - 2, 0, c, w_s, w_acc)


@njit(parallel=True)
def heat_middle(src, y, s, acc, c, w_s, w_acc):
    n0, n1 = y.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        heat_middle_at(src, y, s, acc, i, im, ip, 0, n1 - 1, 1, c, w_s, w_acc)
        for j in range(1, n1 - 1):
            heat_middle_at(src, y, s, acc, i, im, ip, j, j - 1, j + 1, c, w_s, w_acc)
        heat_middle_at(src, y, s, acc, i, im, ip, n1 - 1, n1 - 2, 0, c, w_s, w_acc)


@njit(parallel=True)
def heat_last(src, acc, c, w_acc):
    n0, n1 = acc.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        heat_last_at(src, acc, i, im, ip, 0, n1 - 1, 1, c, w_acc)
        for j in range(1, n1 - 1):
            heat_last_at(src, acc, i, im, ip, j, j - 1, j + 1, c, w_acc)
        heat_last_at(src, acc, i, im, ip, n1 - 1, n1 - 2, 0, c, w_acc)


@njit(inline="always")
def gray_scott_euler_at(u, v, ou, ov, i, im, ip, j, jm, jp, cu, cv, F, Fk, dt):
    ru, rv = gray_scott_rates(u, v, i, im, ip, j, jm, jp, cu, cv, F, Fk)
    ou[i, j] = u[i, j] + dt * ru
    ov[i, j] = v[i, j] + dt * rv


@njit(inline="always")
def gray_scott_first_at(u, v, su, sv, au, av, i, im, ip, j, jm, jp, cu, cv, F, Fk, w_s, w_acc):
    ru, rv = gray_scott_rates(u, v, i, im, ip, j, jm, jp, cu, cv, F, Fk)
    su[i, j] = u[i, j] + w_s * ru
    sv[i, j] = v[i, j] + w_s * rv
    au[i, j] = u[i, j] + w_acc * ru
    av[i, j] = v[i, j] + w_acc * rv


@njit(inline="always")
def gray_scott_middle_at(u, v, yu, yv, su, sv, au, av, i, im, ip, j, jm, jp, cu, cv, F, Fk, w_s, w_acc):
    ru, rv = gray_scott_rates(u, v, i, im, ip, j, jm, jp, cu, cv, F, Fk)
    su[i, j] = yu[i, j] + w_s * ru
    sv[i, j] = yv[i, j] + w_s * rv
    au[i, j] += w_acc * ru
    av[i, j] += w_acc * rv


@njit(inline="always")
def gray_scott_last_at(u, v, au, av, i, im, ip, j, jm, jp, cu, cv, F, Fk, w_acc):
    ru, rv = gray_scott_rates(u, v, i, im, ip, j, jm, jp, cu, cv, F, Fk)
    au[i, j] += w_acc * ru
    av[i, j] += w_acc * rv


@njit(parallel=True)
def gray_scott_euler(u, v, ou, ov, cu, cv, F, Fk, dt):
    n0, n1 = u.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        gray_scott_euler_at(u, v, ou, ov, i, im, ip, 0, n1 - 1, 1, cu, cv, F, Fk, dt)
        for j in range(1, n1 - 1):
            gray_scott_euler_at(u, v, ou, ov, i, im, ip, j, j - 1, j + 1, cu, cv, F, Fk, dt)
        gray_scott_euler_at(u, v, ou, ov, i, im, ip, n1 - 1, n1 - 2, 0, cu, cv, F, Fk, dt)


@njit(parallel=True)
def gray_scott_first(u, v, su, sv, au, av, cu, cv, F, Fk, w_s, w_acc):
    n0, n1 = u.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        gray_scott_first_at(u, v, su, sv, au, av, i, im, ip, 0, n1 - 1, 1, cu, cv, F, Fk, w_s, w_acc)
        for j in range(1, n1 - 1):
            gray_scott_first_at(u, v, su, sv, au, av, i, im, ip, j, j - 1, j + 1, cu, cv, F, Fk, w_s, w_acc)
        gray_scott_first_at(u, v, su, sv, au, av, i, im, ip, n1 - 1, n1 - 2, 0, cu, cv, F, Fk, w_s, w_acc)


@njit(parallel=True)
def gray_scott_middle(u, v, yu, yv, su, sv, au, av, cu, cv, F, Fk, w_s, w_acc):
    n0, n1 = u.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        gray_scott_middle_at(u, v, yu, yv, su, sv, au, av, i, im, ip, 0, n1 - 1, 1, cu, cv, F, Fk, w_s, w_acc)
        for j in range(1, n1 - 1):
            gray_scott_middle_at(u, v, yu, yv, su, sv, au, av, i, im, ip, j, j - 1, j + 1, cu, cv, F, Fk, w_s,
                                 w_acc)
        gray_scott_middle_at(u, v, yu, yv, su, sv, au, av, i, im, ip, n1 - 1, n1 - 2, 0, cu, cv, F, Fk, w_s,
                             w_acc)


@njit(parallel=True)
def gray_scott_last(u, v, au, av, cu, cv, F, Fk, w_acc):
    n0, n1 = u.shape
    for i in prange(n0):
        im, ip = i - 1 if i > 0 else n0 - 1, i + 1 if i < n0 - 1 else 0
        gray_scott_last_at(u, v, au, av, i, im, ip, 0, n1 - 1, 1, cu, cv, F, Fk, w_acc)
        for j in range(1, n1 - 1):
            gray_scott_last_at(u, v, au, av, i, im, ip, j, j - 1, j + 1, cu, cv, F, Fk, w_acc)
        gray_scott_last_at(u, v, au, av, i, im, ip, n1 - 1, n1 - 2, 0, cu, cv, F, Fk, w_acc)


class HandStepper:
    """Euler (ping-pong) and fused in-place RK4 with the hand-written kernels on per-field arrays."""

    def __init__(self, case: str, fields: list, params: dict, h: float):
        if case == "heat_2d":
            self.constants = (params["D"] / h ** 2,)
            self.kernels = (heat_euler, heat_first, heat_middle, heat_last)
        else:
            self.constants = (params["Du"] / h ** 2, params["Dv"] / h ** 2, params["F"], params["F"] + params["k"])
            self.kernels = (gray_scott_euler, gray_scott_first, gray_scott_middle, gray_scott_last)
        self.y = [f.copy() for f in fields]
        self.s1, self.s2, self.acc = ([f.copy() for f in fields] for _ in range(3))

    def euler_step(self, dt):
        self.kernels[0](*self.y, *self.s1, *self.constants, dt)
        self.y, self.s1 = self.s1, self.y

    def rk4_step(self, dt):
        _, first, middle, last = self.kernels
        c, y, s1, s2, acc = self.constants, self.y, self.s1, self.s2, self.acc
        first(*y, *s1, *acc, *c, 0.5 * dt, dt / 6)
        middle(*s1, *y, *s2, *acc, *c, 0.5 * dt, dt / 3)
        middle(*s2, *y, *s1, *acc, *c, dt, dt / 3)
        last(*s1, *acc, *c, dt / 6)
        self.y, self.acc = acc, y


@njit(parallel=True)
def triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def triad_bandwidth(n: int, repeats: int) -> float:
    b, c = np.random.rand(n), np.random.rand(n)
    a = np.empty_like(b)
    seconds = median_time(lambda: triad(a, b, c, 3.0), repeats)
    return 3 * 8 * n / seconds / 1e9     # read b, c; write a (write-allocate not counted)


def interleaved_medians(variants: dict, repeats: int, numpy_repeats: int) -> dict:
    """Median seconds per step of each variant, timed in alternation round after round.

    Alternating (rather than timing each variant in one block) spreads the machine's
    slow phases over all variants, so their ratios stay meaningful on a shared machine;
    the order rotates every round, so no variant always runs after the same one (whose
    arrays it would find in, or evict from, the cache). The slow NumPy variant takes part
    in the first ``numpy_repeats`` rounds only.
    """
    for step in variants.values():
        step()
        step()   # warm-up: compilation, thread pool, first touch
    times = {label: [] for label in variants}
    labels = list(variants)
    for round_number in range(repeats):
        shift = round_number % len(labels)
        for label in labels[shift:] + labels[:shift]:
            step = variants[label]
            if label == "symsim numpy" and round_number >= numpy_repeats:
                continue
            start = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - start)
    return {label: float(np.median(values)) for label, values in times.items()}


def median_time(step, repeats: int) -> float:
    step()
    step()  # warm-up: compilation, thread pool, first touch
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# -- the cases ---------------------------------------------------------------------------

def bench_case(case: str, model, repeats: int, numpy_repeats: int, baseline=None) -> dict:
    """Every variant of one case, timed in alternation; ``baseline``: (revision, its generated module)."""
    reference = compile_model(model, target="numpy")
    compiled = compile_model(model, target="numba")
    params = compiled.resolve_params()
    start = compiled.initial_state(params)
    points = int(np.prod(compiled.lowered.shape))
    fields = len(compiled.lowered.fields)
    h = compiled.lowered.axes[0].spacing
    diffusivity = max(v for k, v in params.items() if k in ("D", "Du", "Dv"))
    dt = min(0.05 * h * h / diffusivity, 0.1)    # well inside stability: the variants are compared below
    rows = {}
    for method in ("euler", "rk4"):
        numpy_state = start.copy()
        numpy_stepper = FixedStepper(method, lambda t, y, out: reference.rhs(t, y, out, params),
                                     lambda t, y: reference.apply_boundaries(t, y, params), numpy_state)
        numba_state = [start.copy()]
        numba_stepper = CompiledStepper(compiled.stepper_function(method),
                                        compiled.module.new_work(numba_state[0], method), method, params)
        hand = HandStepper(case, list(compiled.interior(start)), params, compiled.lowered.axes[0].spacing)
        hand_step = hand.euler_step if method == "euler" else hand.rk4_step

        def run_numpy():
            numpy_stepper.step(0.0, numpy_state, dt)

        def run_numba():
            numba_state[0] = numba_stepper.step(0.0, numba_state[0], dt)

        def run_hand():
            hand_step(dt)

        variants = {"symsim numpy": run_numpy, "symsim numba": run_numba, "hand numba": run_hand}
        if baseline is not None:
            revision, module = baseline
            old_state = [compiled.padded(start).copy()]       # the plain padded array that commit allocated
            old_stepper = CompiledStepper(getattr(module, f"{method}_step"), module.new_work(old_state[0], method),
                                          method, params)

            def run_old():
                old_state[0] = old_stepper.step(0.0, old_state[0], dt)

            variants[f"symsim numba @{revision}"] = run_old
        medians = interleaved_medians(variants, repeats, numpy_repeats)
        if method == "euler":
            devito = devito_seconds(case, compiled.lowered.shape[0], params, dt, repeats)
            if devito is not None:
                medians["devito"] = devito
        for label, seconds in medians.items():
            rows[f"{method}/{label}"] = {
                "method": method, "variant": label, "seconds_per_step": seconds,
                "mpts_per_s": points / seconds / 1e6,
                "effective_gb_per_s": BYTES_PER_FIELD[method] * fields * points / seconds / 1e9}
        # the variants must compute the same thing (a benchmark of wrong code is worthless)
        assert np.allclose(compiled.interior(numba_state[0]), np.stack(hand.y), rtol=1e-9, atol=1e-12)
        if baseline is not None:
            assert np.allclose(compiled.padded(numba_state[0]), old_state[0], rtol=1e-9, atol=1e-12)
    return {"grid": list(compiled.lowered.shape), "fields": fields, "runs": rows}


DEVITO_SCRIPT = """
import json, sys, time
import numpy as np
from devito import Eq, Grid, Operator, TimeFunction
case, n, dt, repeats = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
params = json.loads(sys.argv[5])
grid = Grid(shape=(n, n), extent=(1.0, 1.0))
u = TimeFunction(name="u", grid=grid, space_order=2)
if case == "heat_2d":
    equations = [Eq(u.forward, u + dt * params["D"] * u.laplace)]
    fields = [u]
else:
    v = TimeFunction(name="v", grid=grid, space_order=2)
    uvv = u * v * v
    equations = [Eq(u.forward, u + dt * (params["Du"] * u.laplace - uvv + params["F"] * (1 - u))),
                 Eq(v.forward, v + dt * (params["Dv"] * v.laplace + uvv - (params["F"] + params["k"]) * v))]
    fields = [u, v]
operator = Operator(equations)
for f in fields:
    f.data[:] = 0.5
operator.apply(time_M=1)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    operator.apply(time_M=0)
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds_per_step": float(np.median(times))}))
"""


def devito_seconds(case: str, n: int, params: dict, dt: float, repeats: int) -> float | None:
    """Devito's OpenMP operator for the same forward-Euler stencil, in its own process (its OpenMP
    threads keep spinning after each call and would slow whatever runs next), or None without Devito."""
    try:
        import devito  # noqa: F401
    except ImportError:
        return None
    environment = dict(os.environ, DEVITO_LANGUAGE=os.environ.get("DEVITO_LANGUAGE", "openmp"))
    run = subprocess.run([sys.executable, "-c", DEVITO_SCRIPT, case, str(n), repr(dt), str(repeats),
                          json.dumps(params)], env=environment, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"devito failed: {run.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])["seconds_per_step"]


def startup_times(model_name: str, n: int) -> dict:
    """First-run compile and cached start-up, each in a fresh process sharing one empty cache."""
    script = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        began = time.perf_counter()
        import symsim
        from models import {model_name}_model
        imported = time.perf_counter()
        model = {model_name}_model({n})
        started = time.perf_counter()
        compiled = symsim.compile_model(model, target="numba")
        compiled_at = time.perf_counter()
        params = compiled.resolve_params()
        y = compiled.initial_state(params)
        work = compiled.module.new_work(y, "rk4")
        y = compiled.module.rk4_step(0.0, y, 1e-7, params, work)
        done = time.perf_counter()
        print(json.dumps({{"import_seconds": imported - began, "compile_model_seconds": compiled_at - started,
                          "to_first_step_seconds": done - started, "from_cache": compiled.from_cache}}))
    """)
    with tempfile.TemporaryDirectory() as cache:
        environment = dict(os.environ, SYMSIM_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            output = subprocess.run([sys.executable, "-c", script], env=environment, check=True,
                                    capture_output=True, text=True).stdout
            runs.append(json.loads(output.strip().splitlines()[-1]))
    return {"first_run": runs[0], "cached": runs[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, few repeats (a smoke run)")
    parser.add_argument("--json", default="benchmarks/stencil.json")
    parser.add_argument("--baseline", metavar="REV", help="also time the Numba modules commit REV generates")
    args = parser.parse_args()
    heat_n, gs_n, repeats, numpy_repeats = (256, 128, 5, 3) if args.quick else (2048, 1024, 30, 5)
    keep_freed_arrays_mapped()   # what symsim.simulate does for the NumPy backend

    results = {"machine": platform.platform(), "cpus": os.cpu_count(), "numba": numba.__version__,
               "numba_threads": numba.get_num_threads(), "numpy": np.__version__,
               "triad_gb_per_s": triad_bandwidth(2 ** 25 if not args.quick else 2 ** 20, repeats)}
    old = {}
    if args.baseline:
        old = modules_of_commit(args.baseline, {"heat_2d": f"heat_model({heat_n})",
                                                "gray_scott": f"gray_scott_model({gs_n})"})
        results["baseline"] = args.baseline
    for case, model in (("heat_2d", heat_model(heat_n)), ("gray_scott", gray_scott_model(gs_n))):
        results[case] = bench_case(case, model, repeats, numpy_repeats,
                                   (args.baseline, old[case]) if args.baseline else None)
    results["startup"] = {"heat_2d": startup_times("heat", heat_n), "gray_scott": startup_times("gray_scott", gs_n),
                          "numba_floor": numba_floor()}

    triad_gbs = results["triad_gb_per_s"]
    print(f"STREAM-style triad (numba prange, {results['numba_threads']} threads): {triad_gbs:.1f} GB/s")
    print(f"{'case':<11}{'grid':>10}{'method':>7}{'variant':>24}{'ms/step':>9}{'MPts/s':>9}"
          f"{'GB/s eff':>9}{'of triad':>9}{'vs hand':>8}{'vs numpy':>9}")
    for case in ("heat_2d", "gray_scott"):
        runs = results[case]["runs"]
        grid = "x".join(map(str, results[case]["grid"]))
        for key, row in runs.items():
            method = row["method"]
            hand = runs[f"{method}/hand numba"]["seconds_per_step"]
            numpy_seconds = runs[f"{method}/symsim numpy"]["seconds_per_step"]
            row["vs_hand"] = hand / row["seconds_per_step"]
            row["vs_numpy"] = numpy_seconds / row["seconds_per_step"]
            row["of_triad"] = row["effective_gb_per_s"] / triad_gbs
            print(f"{case:<11}{grid:>10}{method:>7}{row['variant']:>24}{1e3 * row['seconds_per_step']:>9.2f}"
                  f"{row['mpts_per_s']:>9.0f}{row['effective_gb_per_s']:>9.1f}{row['of_triad']:>9.2f}"
                  f"{row['vs_hand']:>8.2f}{row['vs_numpy']:>9.1f}")
    floor = results["startup"]["numba_floor"]
    print(f"numba floor (fresh process): import numba {floor['import_numba_seconds']:.2f} s, first call of a "
          f"trivial cached kernel {floor['first_cached_call_seconds']:.2f} s")
    for case in ("heat_2d", "gray_scott"):
        first, cached = results["startup"][case]["first_run"], results["startup"][case]["cached"]
        print(f"start-up {case}: first run {first['to_first_step_seconds']:.2f} s (compile_model + first RK4 step), "
              f"cached {cached['to_first_step_seconds']:.2f} s (from cache: {cached['from_cache']}; compile_model "
              f"{cached['compile_model_seconds']:.2f} s of it); import symsim {cached['import_seconds']:.2f} s")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
