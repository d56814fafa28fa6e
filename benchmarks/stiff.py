"""Stiff problems: symsim's implicit methods and generated sparse Jacobian vs SciPy's solve_ivp.

    python benchmarks/stiff.py [--quick] [--json benchmarks/stiff.json] [--plots benchmarks/stiff]

Problems (one model script each, compiled once for the numba target; every solver calls the
same compiled right-hand side, so the comparison is of Jacobians, linear algebra and methods):

* ``rd3_32``: the Symbolics.jl tutorial's 3-species reaction-diffusion system, N=32 (3,072
  values; symsim evolves 2,948: the zero-flux wall nodes of A are algebraic), D=100,
  alpha_1 = 1 where x >= 4N/5, all other rates 1, t in [0, 10].
* ``brusselator_32`` / ``brusselator_128``: the SciML 2-D Brusselator benchmark, periodic,
  A=3.4, B=1, alpha=10/dx^2 with dx=1/(N-1), forcing 5 inside a disc from t=1.1, t in [0, 11.5].
* ``rober``: Robertson's chemical kinetics, t in [0, 1e5]; ``hires``: the 8-species HIRES
  mechanism of Hairer & Wanner's test set, t in [0, 321.8122].

Solvers, each over rtol 1e-3 .. 1e-8 (atol = 1e-3 rtol; ROBER and HIRES 1e-6 rtol): SciPy
``solve_ivp`` BDF with a dense finite-difference Jacobian (what a user gets by default), with
``jac_sparsity`` (grouped finite differences), and with symsim's analytic sparse Jacobian;
symsim's own methods (``--method rodas``, ``imex-ark``, and ``bdf``: SciPy's BDF with the generated
Jacobian and symsim's LU ordering); and symsim's fastest explicit run (RK4's fused Numba
step at the stable step; on the 128-grid timed over part of the interval and scaled, marked).
Errors: relative L2 of the final state against a reference run (Radau, rtol 1e-10, symsim's
Jacobian; symsim's imex-ark at rtol 1e-10 on the 128-grid, where two tolerances are run). Speed-ups are at matched accuracy: for each
SciPy run, the fastest symsim implicit run (any method) whose error is not larger.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from scipy import integrate, sparse
from scipy.sparse.linalg import splu
from sympy import Eq, Piecewise

from symsim import Dt, Grid, Model, laplace
from symsim.compiler import compile_model
from symsim.examples.brusselator_2d import brusselator
from symsim.examples.reaction_diffusion_3d import reaction_diffusion_3d
from symsim.implicit import ImexArk, Rodas4, ScipyImplicit, implicit_stepper
from symsim.integrators import CompiledStepper
from symsim.linear_solve import ORDERING
from symsim.stability import spectrum_estimate, stable_step
from symsim.system import SemiDiscreteSystem


# -- the problems --------------------------------------------------------------------------

def rd3(n: int = 32) -> Model:
    grid = Grid(x=(1.0, float(n), n), y=(1.0, float(n), n))       # unit spacing, as in the tutorial
    model = Model("rd3", grid)
    A, B, C = model.fields("A B C")
    D = model.params(D=100.0)
    x, _ = grid.coords
    alpha1 = Piecewise((1.0, x >= 4 * n / 5), (0.0, True))
    model.equations(Eq(Dt(A), D * laplace(A) + alpha1 - A - A * B + C),
                    Eq(Dt(B), 1.0 - B - A * B + C),
                    Eq(Dt(C), 1.0 - C + A * B - C))
    model.initial(A=0.0, B=0.0, C=0.0)
    for side in (1.0, float(n)):
        model.neumann(A, x=side, value=0)
        model.neumann(A, y=side, value=0)
    return model


def rober() -> Model:
    model = Model("rober")
    y1, y2, y3 = model.fields("y1 y2 y3")
    model.equations(Eq(Dt(y1), -0.04 * y1 + 1e4 * y2 * y3),
                    Eq(Dt(y2), 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 ** 2),
                    Eq(Dt(y3), 3e7 * y2 ** 2))
    model.initial(y1=1.0, y2=0.0, y3=0.0)
    return model


def hires() -> Model:
    model = Model("hires")
    y = model.fields("y1 y2 y3 y4 y5 y6 y7 y8")
    y1, y2, y3, y4, y5, y6, y7, y8 = y
    model.equations(
        Eq(Dt(y1), -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007),
        Eq(Dt(y2), 1.71 * y1 - 8.75 * y2),
        Eq(Dt(y3), -10.03 * y3 + 0.43 * y4 + 0.035 * y5),
        Eq(Dt(y4), 8.32 * y2 + 1.71 * y3 - 1.12 * y4),
        Eq(Dt(y5), -1.745 * y5 + 0.43 * y6 + 0.43 * y7),
        Eq(Dt(y6), -280 * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7),
        Eq(Dt(y7), 280 * y6 * y8 - 1.81 * y7),
        Eq(Dt(y8), -280 * y6 * y8 + 1.81 * y7))
    model.initial(y1=1.0, y2=0.0, y3=0.0, y4=0.0, y5=0.0, y6=0.0, y7=0.0, y8=0.0057)
    return model


#: name -> (model builder, t_end, atol / rtol, largest size for a dense finite-difference Jacobian)
PROBLEMS = {
    "rd3_32": (lambda: rd3(32), 10.0, 1e-3),
    "brusselator_32": (lambda: brusselator(32), 11.5, 1e-3),
    "brusselator_128": (lambda: brusselator(128), 11.5, 1e-3),
    "rober": (rober, 1e5, 1e-6),
    "hires": (hires, 321.8122, 1e-6),
}
DENSE_LIMIT = 4000


# -- the solvers ---------------------------------------------------------------------------

def timed(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def scipy_run(system, y0, t_end, rtol, atol, method="BDF", jacobian="dense"):
    options = {"sparsity": {"jac_sparsity": system.sparsity},
               "symsim": {"jac": lambda tt, yy: system.jacobian(tt, yy, copy=True)}}.get(jacobian, {})
    solution = integrate.solve_ivp(system.f, (0.0, t_end), y0, method=method, rtol=rtol, atol=atol, **options)
    if solution.status != 0:
        raise RuntimeError(solution.message)
    return solution.y[:, -1], {"steps": int(solution.t.size - 1), "rhs": solution.nfev, "jacobians": solution.njev,
                               "factorizations": solution.nlu}


def rodas_run(system, y0, t_end, rtol, atol):
    y = np.array(y0)
    stepper = Rodas4(system, rtol, atol)
    stepper.advance(0.0, y, t_end, None)
    stats = stepper.stats()
    return y, {"steps": stats["steps"], "rejected": stats["rejected"], "factorizations": stats["factorizations"]}


def imex_run(system, y0, t_end, rtol, atol):
    y = np.array(y0)
    stepper = ImexArk(system, rtol, atol, t_stop=t_end)
    stepper.advance(0.0, y, t_end, None)
    stats = stepper.stats()
    return y, {"steps": stats["steps"], "rejected": stats["rejected"], "factorizations": stats["factorizations"]}


def bdf_run(system, y0, t_end, rtol, atol):
    """symsim's --method bdf: SciPy's BDF with the generated Jacobian and symsim's LU ordering."""
    y = np.array(y0)
    stepper = ScipyImplicit("bdf", system, 0.0, y, t_end, rtol, atol)
    stepper.advance(0.0, y, t_end)
    stats = stepper.stats()
    return y, {"steps": stats["steps"], "factorizations": stats["factorizations"]}


def explicit_run(compiled, params, t_end, span):
    """RK4's fused Numba step at the stable step over ``span`` (<= t_end); the final state's values."""
    state = compiled.initial_state(params)
    dt = stable_step(spectrum_estimate(compiled, state, params), "rk4", bool(compiled.lowered.axes))
    stepper = CompiledStepper(compiled.stepper_function("rk4"), compiled.module.new_work(state, "rk4"), "rk4", params)
    steps = math.ceil(span / dt)
    h = span / steps
    for n in range(steps):
        state = stepper.step(n * h, state, h)
    return state, steps


def relative_error(y, reference) -> float:
    return float(np.linalg.norm(y - reference) / np.linalg.norm(reference))


def lu_orderings(system, y0, h: float) -> dict:
    """Fill-in and factorization time of I/(h*gamma) - J under SuperLU's orderings and reverse Cuthill-McKee."""
    from scipy import sparse
    from scipy.sparse.csgraph import reverse_cuthill_mckee
    matrix = (sparse.identity(system.size) * (4.0 / h) - system.jacobian(0.0, y0)).tocsc()
    report = {}
    order = reverse_cuthill_mckee(matrix.tocsr(), symmetric_mode=True)
    candidates = {"COLAMD": (matrix, "COLAMD"), "MMD_AT_PLUS_A": (matrix, "MMD_AT_PLUS_A"),
                  "RCM+NATURAL": (matrix[order][:, order].tocsc(), "NATURAL")}
    for name, (a, spec) in candidates.items():
        lu, seconds = timed(lambda: splu(a, permc_spec=spec))
        report[name] = {"fill": int(lu.L.nnz + lu.U.nnz), "ms": 1e3 * seconds}
    return report


def run_problem(name: str, quick: bool) -> dict:
    build, t_end, atol_ratio = PROBLEMS[name]
    compiled = compile_model(build(), target="numba", jacobian=True)
    params = compiled.resolve_params()
    system = SemiDiscreteSystem(compiled, params)
    y0 = system.initial_values()
    # compile every kernel before timing (Numba caches machine code on first call)
    system.f(0.0, y0), system.jacobian(0.0, y0)
    if compiled.lowered.axes:
        explicit_run(compiled, params, t_end, 1e-9)
    rtols = ([1e-3, 1e-5] if system.size > 10_000 else [1e-3, 1e-5, 1e-7] if quick
             else [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8])
    print(f"\n{name}: {system.size} unknowns, Jacobian {system.sparsity.nnz} nonzeros", flush=True)

    big = system.size > 10_000
    reference_tol = 1e-10
    if big:
        reference, seconds = timed(lambda: imex_run(system, y0, t_end, reference_tol, reference_tol * atol_ratio)[0])
        reference_by = "symsim imex-ark"
    else:
        reference, seconds = timed(lambda: scipy_run(system, y0, t_end, reference_tol, reference_tol * atol_ratio,
                                                     "Radau", "symsim")[0])
        reference_by = "scipy Radau + symsim Jacobian"
    print(f"  reference ({reference_by}, rtol {reference_tol:g}): {seconds:.2f} s", flush=True)

    solvers = {"scipy BDF, dense FD Jacobian": lambda r, a: scipy_run(system, y0, t_end, r, a, "BDF", "dense"),
               "scipy BDF, jac_sparsity": lambda r, a: scipy_run(system, y0, t_end, r, a, "BDF", "sparsity"),
               "scipy BDF, symsim Jacobian": lambda r, a: scipy_run(system, y0, t_end, r, a, "BDF", "symsim"),
               "symsim bdf": lambda r, a: bdf_run(system, y0, t_end, r, a),
               "symsim rodas": lambda r, a: rodas_run(system, y0, t_end, r, a),
               "symsim imex-ark": lambda r, a: imex_run(system, y0, t_end, r, a)}
    if not compiled.lowered.axes:
        del solvers["symsim imex-ark"]         # chemical kinetics: the stiff part is the nonlinear reaction
    if big:
        del solvers["scipy BDF, symsim Jacobian"]
    runs = []
    for solver, run in solvers.items():
        dense = solver.endswith("dense FD Jacobian")
        if dense and system.size > DENSE_LIMIT:
            continue
        if not dense and not big:
            run(rtols[0], rtols[0] * atol_ratio)    # untimed: first-use imports and allocations, as for the kernels
        for rtol in (rtols[::2] if dense and system.size > 100 else rtols):
            system.rhs_evaluations = system.jacobian_evaluations = 0
            (y, stats), seconds = timed(lambda: run(rtol, rtol * atol_ratio))
            error = relative_error(y, reference)
            runs.append({"solver": solver, "rtol": rtol, "seconds": seconds, "error": error, **stats})
            print(f"  {solver:32s} rtol {rtol:7.0e}  {seconds:9.3f} s  error {error:9.2e}  "
                  f"steps {stats['steps']}", flush=True)
    result = {"unknowns": system.size, "jacobian_nonzeros": int(system.sparsity.nnz), "t_end": t_end,
              "reference": reference_by, "runs": runs}

    if compiled.lowered.axes:
        span = t_end if system.size <= DENSE_LIMIT else min(t_end, 0.25)
        (state, steps), seconds = timed(lambda: explicit_run(compiled, params, t_end, span))
        entry = {"solver": "symsim rk4 (numba, stable step)", "steps_run": steps, "span": span,
                 "seconds_run": seconds, "seconds": seconds * t_end / span, "projected": span < t_end}
        if span == t_end:
            entry["error"] = relative_error(system.values_of(state), reference)
        result["explicit"] = entry
        print(f"  {'symsim rk4 (stable step)':32s} {'':13s}{entry['seconds']:9.3f} s"
              f"{' (projected from t<=%g)' % span if span < t_end else ''}  steps {steps}"
              f"{'  error %9.2e' % entry['error'] if 'error' in entry else ''}", flush=True)
        result["lu_orderings"] = lu_orderings(system, y0, 0.01)
        print("  LU of I/(h gamma) - J, h=0.01: " + ", ".join(
            f"{k} fill {v['fill']} in {v['ms']:.1f} ms" for k, v in result["lu_orderings"].items()), flush=True)
    result["speedups"] = speedups(runs)
    for baseline, entry in result["speedups"].items():
        print(f"  best symsim vs {baseline}: {entry['median']:.2f}x at matched accuracy "
              f"(range {entry['min']:.2f}-{entry['max']:.2f}x over {entry['count']} runs; {', '.join(entry['by'])})")
    result["jacobian_seconds"] = jacobian_seconds(system, y0)
    return result


def speedups(runs: list) -> dict:
    """Per other solver: time of each of its runs over that of the fastest symsim implicit run (any method)
    with no larger error -- the speed-up a user gets from symsim at the same accuracy."""
    ours = [r for r in runs if r["solver"].startswith("symsim")]
    out = {}
    for solver in dict.fromkeys(r["solver"] for r in runs):
        if solver.startswith("symsim"):
            continue
        ratios = []
        for run in (r for r in runs if r["solver"] == solver):
            matched = [r for r in ours if r["error"] <= run["error"]]
            if matched:
                best = min(matched, key=lambda r: r["seconds"])
                ratios.append((run["seconds"] / best["seconds"], best["solver"]))
        if ratios:
            values = [r for r, _ in ratios]
            out[solver] = {"median": float(np.median(values)), "min": float(min(values)), "max": float(max(values)),
                           "count": len(values), "by": sorted(set(b for _, b in ratios))}
    return out


def jacobian_seconds(system, y0, repeats: int = 20) -> float:
    system.jacobian(0.0, y0)
    _, seconds = timed(lambda: [system.jacobian(0.0, y0) for _ in range(repeats)])
    return seconds / repeats


def assembly_scaling(sizes=(32, 64, 128, 256, 512)) -> list:
    """Jacobian evaluation time per nonzero on the Brusselator from N=32 to N=512."""
    rows = []
    for n in sizes:
        compiled = compile_model(brusselator(n), target="numba", jacobian=True)
        system = SemiDiscreteSystem(compiled, compiled.resolve_params())
        y0 = system.initial_values()
        seconds = jacobian_seconds(system, y0, repeats=10 if n >= 256 else 50)
        rows.append({"n": n, "nonzeros": int(system.sparsity.nnz), "seconds": seconds,
                     "ns_per_nonzero": 1e9 * seconds / system.sparsity.nnz})
        print(f"  N={n:4d}: {system.sparsity.nnz:9d} nonzeros, {1e3 * seconds:8.3f} ms per Jacobian, "
              f"{rows[-1]['ns_per_nonzero']:.2f} ns per nonzero", flush=True)
    return rows


#: the Krylov comparison: (name, model builder, t_end, the largest size whose LU runs are timed)
KRYLOV_PROBLEMS = [("rd_3d_16", lambda: reaction_diffusion_3d(16), 0.05, True),
                   ("rd_3d_24", lambda: reaction_diffusion_3d(24), 0.05, True),
                   ("rd_3d_32", lambda: reaction_diffusion_3d(32), 0.05, False),
                   ("brusselator_128", lambda: brusselator(128), 1.0, True)]


def krylov_comparison(rtol: float = 1e-5) -> list:
    """rodas, imex-ark and bdf with their linear systems solved by SuperLU or by GMRES + algebraic multigrid
    (--linear-solver lu|krylov): wall time, and the two final states' difference."""
    rows = []
    for name, build, t_end, with_lu in KRYLOV_PROBLEMS:
        compiled = compile_model(build(), target="numba", jacobian=True)
        system = SemiDiscreteSystem(compiled, compiled.resolve_params())
        y0 = system.initial_values()
        system.f(0.0, y0), system.jacobian(0.0, y0)
        print(f"\n{name}: {system.size} unknowns", flush=True)
        if not with_lu:          # what one factorization of one step's matrix costs instead of a whole run
            matrix = (sparse.identity(system.size) * (4.0 / 1e-3) - system.jacobian(0.0, y0)).tocsc()
            lu, seconds = timed(lambda: splu(matrix, permc_spec=ORDERING))
            rows.append({"problem": name, "unknowns": system.size, "one_rodas_lu_seconds": seconds,
                         "one_rodas_lu_fill": int(lu.L.nnz + lu.U.nnz)})
            print(f"  one LU of I/(h gamma) - J: {seconds:.1f} s, {lu.L.nnz + lu.U.nnz:,} nonzeros", flush=True)
            del lu
        for method in ("rodas", "imex-ark", "bdf"):
            finals = {}
            for solver in ("lu", "krylov") if with_lu else ("krylov",):
                y = np.array(y0)
                system.rhs_evaluations = system.jacobian_evaluations = 0
                stepper, seconds = timed(lambda: _advanced(method, system, y, t_end, rtol, solver))
                stats = stepper.stats()
                finals[solver] = y
                row = {"problem": name, "unknowns": system.size, "method": method, "linear_solver": solver,
                       "seconds": seconds, "steps": stats["steps"], "factorizations": stats["factorizations"],
                       "linear_iterations": stats.get("linear_iterations"),
                       "preconditioner_setups": stats.get("preconditioner_setups")}
                rows.append(row)
                print(f"  {method:9s} {solver:7s} {seconds:8.2f} s  steps {stats['steps']:4d}  "
                      f"factorizations {stats['factorizations']:4d}  GMRES iterations {row['linear_iterations']}",
                      flush=True)
            if len(finals) == 2:
                difference = relative_error(finals["krylov"], finals["lu"])
                rows[-1]["difference_from_lu"] = difference
                print(f"  {method:9s} krylov vs lu: relative difference {difference:.1e}", flush=True)
    return rows


def _advanced(method, system, y, t_end, rtol, linear_solver):
    stepper = implicit_stepper(method, system, 0.0, y, t_end, rtol, rtol * 1e-3, linear_solver)
    stepper.advance(0.0, y, t_end, None)
    return stepper


def work_precision_plot(name: str, result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for solver in dict.fromkeys(r["solver"] for r in result["runs"]):
        runs = [r for r in result["runs"] if r["solver"] == solver]
        axes.loglog([r["error"] for r in runs], [r["seconds"] for r in runs], "o-", label=solver)
    explicit = result.get("explicit")
    if explicit and "error" in explicit:
        axes.loglog([explicit["error"]], [explicit["seconds"]], "k*", markersize=10, label=explicit["solver"])
    axes.set_xlabel("relative L2 error of the final state")
    axes.set_ylabel("wall time [s]")
    axes.set_title(f"{name}: {result['unknowns']} unknowns")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three tolerances, the small problems only")
    parser.add_argument("--json", default="benchmarks/stiff.json")
    parser.add_argument("--plots", default="benchmarks/stiff", help="folder of the work-precision diagrams")
    parser.add_argument("--problems", nargs="*", default=None, help=f"subset of {', '.join(PROBLEMS)}")
    parser.add_argument("--krylov", action="store_true", help="the LU vs Krylov comparison (run in full runs)")
    args = parser.parse_args()
    names = args.problems or ([n for n in PROBLEMS if n != "brusselator_128"] if args.quick else list(PROBLEMS))
    if args.krylov and args.problems is None:
        names = []                   # the Krylov comparison alone
    results = {"machine": platform.processor() or platform.machine(), "problems": {}}
    plots = Path(args.plots)
    plots.mkdir(parents=True, exist_ok=True)
    for name in names:
        results["problems"][name] = run_problem(name, args.quick)
        work_precision_plot(name, results["problems"][name], plots / f"{name}.png")
    if not args.quick and not args.problems:
        print("\nJacobian evaluation (kernel + assembly) per nonzero, Brusselator:")
        results["assembly_scaling"] = assembly_scaling()
    if args.krylov or (not args.quick and not args.problems):
        print("\nLinear systems by SuperLU or by GMRES + algebraic multigrid (--linear-solver lu|krylov), rtol 1e-5:")
        results["krylov"] = krylov_comparison()
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json} and the work-precision diagrams in {plots}/")


if __name__ == "__main__":
    main()
