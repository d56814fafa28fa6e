"""Start-up of a cached run: where the seconds of ``symsim run`` go when the kernels are already compiled.

    python benchmarks/startup.py [--repeats 7] [--points 1024] [--baseline REV] [--json benchmarks/startup.json]

The everyday loop -- change a parameter, run again -- on a two-field reaction-diffusion
model (1024^2 points, periodic, ``1 + 0.1 cos(2 pi x) cos(4 pi y)`` initial value) taking
two RK4 steps with the Numba target, kernels already in the cache:

- ``whole process``: wall time of ``symsim run MODEL --target numba --t-end 2 --dt 1
  --saves 2 --no-plot``, and the same with the picture, each a fresh process (median of
  ``--repeats``); the first run into an empty kernel cache (compilation) once;
- ``phases``: the same run done step by step in one fresh process with each phase timed
  (importing symsim, the model script -- which imports SymPy --, the kernel cache, Numba's
  start-up with the first kernel, the initial state, the stable-step estimate, the two
  steps, writing the result, the picture);
- ``floors``: what any such process pays before doing anything of ours: starting Python,
  importing SymPy (every model script does), importing Numba and loading one trivial
  cached kernel (Numba imports SciPy's BLAS there when SciPy is installed), importing
  matplotlib -- each ending without the interpreter's teardown, as ``symsim`` does;
- ``--baseline REV``: the whole-process times of commit REV's CLI (a git worktree on
  ``PYTHONPATH``, its own kernel cache), run alternately with this tree's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def child_environment(**settings) -> dict:
    """The environment of a measured process: bytecode caching on (a user's Python writes ``__pycache__``;
    without it every run compiles symsim's modules from source again), plus ``settings``."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return dict(environment, **settings)

MODEL_SCRIPT = '''\
"""Two-field reaction-diffusion on {n}^2 points (benchmarks/startup.py)."""
from sympy import Eq, cos, pi
from symsim import Model, Grid, Dt, laplace

grid = Grid(x=(0.0, 1.0, {n}), y=(0.0, 1.0, {n}), periodic=True)
model = Model("startup_rd", grid)
u, v = model.fields("u v")
Du, Dv, F, k = model.params(Du=2e-5, Dv=1e-5, F=0.04, k=0.06)
x, y = grid.coords
model.equations(
    Eq(Dt(u), Du * laplace(u) - u * v**2 + F * (1 - u)),
    Eq(Dt(v), Dv * laplace(v) + u * v**2 - (F + k) * v),
)
model.initial(u=1 + 0.1 * cos(2 * pi * x) * cos(4 * pi * y), v=0.25 + 0.1 * cos(2 * pi * x))
'''

RUN_ARGUMENTS = ["--target", "numba", "--t-end", "2", "--dt", "1", "--saves", "2", "--quiet"]

#: the run of the CLI done phase by phase (same calls as ``symsim run``), each phase timed
PHASES = textwrap.dedent("""
    import json, sys, time
    marks = [("start", time.perf_counter())]
    def mark(name):
        marks.append((name, time.perf_counter()))
    import symsim.cli, symsim.loader, symsim.solve
    from symsim.compiler import compile_model
    from symsim.stability import suggest_dt
    mark("import symsim's run path (with NumPy, SymPy)")
    model = symsim.loader.load_model(sys.argv[1])
    mark("model script (imports SymPy)")
    options = symsim.solve.run_options(model, t_end=2.0, dt=1.0, saves=2, method="rk4")
    compiled = compile_model(model, target="numba")
    assert compiled.from_cache
    mark("kernel cache: key, module (imports Numba)")
    params = compiled.resolve_params()
    compiled.apply_boundaries(0.0, compiled.new_state(), params)
    mark("first kernel call (Numba start-up, boundary kernel)")
    state = compiled.initial_state(params)
    mark("initial state")
    suggest_dt(compiled, state, params, "rk4")
    mark("stable-step estimate")
    result = symsim.solve.integrate(compiled, options, params)
    mark("integrate: 2 RK4 steps, step kernels loaded")
    result.save(sys.argv[2])
    mark("write result (.npz)")
    from symsim import plotting
    mark("import matplotlib")
    result.plot(sys.argv[3])
    mark("picture (draw, write)")
    print(json.dumps([(name, t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])]))
""")


def numba_floor() -> dict:
    """What any cached Numba program pays in a fresh process: import numba, load one trivial cached kernel."""
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "floor_kernel.py").write_text(
            "import numba\n\n@numba.njit(cache=True)\ndef total(a):\n    return a.sum()\n")
        script = textwrap.dedent(f"""
            import json, sys, time
            began = time.perf_counter()
            import numba, numpy
            imported = time.perf_counter()
            sys.path.insert(0, {directory!r})
            import floor_kernel
            floor_kernel.total(numpy.ones(3))
            done = time.perf_counter()
            print(json.dumps({{"import_numba_seconds": imported - began, "first_cached_call_seconds": done - imported}}))
        """)
        runs = [json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                                          env=child_environment()).stdout.strip().splitlines()[-1])
                for _ in range(2)]
    return runs[1]   # the second run loads from the cache


def _seconds(command: list[str], environment: dict | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=environment or child_environment())
    return time.perf_counter() - began


def _import_seconds(module: str) -> float:
    """A fresh process importing ``module`` and ending as the ``symsim`` command does (no interpreter teardown)."""
    return _seconds([sys.executable, "-c", f"import {module}; import os; os._exit(0)"])


def floors(repeats: int) -> dict:
    """Medians over fresh processes of what precedes any of symsim's own work."""
    python = statistics.median(_import_seconds("sys") for _ in range(repeats))
    numba_runs = [numba_floor() for _ in range(max(3, repeats // 2))]
    return {
        "python_start": python,
        "import_sympy": statistics.median(_import_seconds("sympy") for _ in range(repeats)) - python,
        "import_numba": statistics.median(r["import_numba_seconds"] for r in numba_runs),
        "numba_first_cached_call": statistics.median(r["first_cached_call_seconds"] for r in numba_runs),
        "import_matplotlib": statistics.median(_import_seconds("matplotlib.figure, matplotlib.backends.backend_agg")
                                               for _ in range(repeats)) - python,
    }


def cli_command(tree: Path) -> list[str]:
    """What the ``symsim`` command of the source tree ``tree`` runs (its console entry point)."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); import symsim.cli as cli; "
                                  "entry = getattr(cli, 'console_main', None); "
                                  "entry() if entry else sys.exit(cli.main())"]


def whole_process(trees: dict, script: Path, work: Path, repeats: int) -> dict:
    """Median wall seconds per tree: cached run without and with the picture; the first (compiling) run once."""
    results = {}
    environments = {}
    for name, tree in trees.items():
        cache = work / f"cache-{name}"
        environments[name] = child_environment(SYMSIM_CACHE_DIR=str(cache), PYTHONPATH=str(tree))
        command = cli_command(tree) + ["run", str(script), *RUN_ARGUMENTS, "-o", str(work / f"{name}.npz")]
        results[name] = {"first_run_compiling": _seconds(command + ["--no-plot"], environments[name]),
                         "cached_no_plot": [], "cached_with_plot": []}
    for _ in range(repeats):                   # alternate the trees round by round
        for name, tree in trees.items():
            command = cli_command(tree) + ["run", str(script), *RUN_ARGUMENTS, "-o", str(work / f"{name}.npz")]
            results[name]["cached_no_plot"].append(_seconds(command + ["--no-plot"], environments[name]))
            results[name]["cached_with_plot"].append(
                _seconds(command + ["--plot", str(work / f"{name}.png")], environments[name]))
    for runs in results.values():
        for key in ("cached_no_plot", "cached_with_plot"):
            runs[f"{key}_runs"] = runs[key]
            runs[key] = statistics.median(runs[key])
        runs["picture_extra"] = runs["cached_with_plot"] - runs["cached_no_plot"]
    return results


def phases(script: Path, work: Path, repeats: int) -> list[tuple[str, float]]:
    """Per-phase medians over fresh processes of the run done step by step (this tree, warm cache)."""
    environment = child_environment(SYMSIM_CACHE_DIR=str(work / "cache-this"), PYTHONPATH=str(REPOSITORY))
    runs = []
    for _ in range(repeats):
        output = subprocess.run([sys.executable, "-c", PHASES, str(script), str(work / "phases.npz"),
                                 str(work / "phases.png")], check=True, capture_output=True, text=True,
                                env=environment).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    return [(name, statistics.median(run[k][1] for run in runs)) for k, (name, _) in enumerate(runs[0])]


def worktree(revision: str, directory: Path) -> Path:
    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", "-f", str(directory), revision],
                   check=True, capture_output=True)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--points", type=int, default=1024, help="grid points per axis (default 1024)")
    parser.add_argument("--baseline", metavar="REV", help="also time commit REV's CLI, alternately")
    parser.add_argument("--json", default="benchmarks/startup.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="symsim-startup-") as scratch:
        work = Path(scratch)
        script = work / "startup_rd.py"
        script.write_text(MODEL_SCRIPT.format(n=args.points))
        trees = {"this": REPOSITORY}
        try:
            if args.baseline:
                trees[args.baseline] = worktree(args.baseline, work / "baseline-tree")
            print(f"whole-process runs ({args.repeats} rounds, trees alternating) ...", flush=True)
            wall = whole_process(trees, script, work, args.repeats)
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force",
                                str(work / "baseline-tree")], capture_output=True)
        print("phases ...", flush=True)
        breakdown = phases(script, work, args.repeats)
        print("floors ...", flush=True)
        floor = floors(args.repeats)

    print(f"\ncached `symsim run` of a two-field model, {args.points}^2 points, 2 RK4 steps, --target numba "
          f"(median of {args.repeats} fresh processes)")
    print(f"{'':34}" + "".join(f"{name:>14}" for name in wall))
    for key, label in (("cached_no_plot", "cached, --no-plot"), ("cached_with_plot", "cached, with picture"),
                       ("picture_extra", "the picture's share"), ("first_run_compiling", "first run (compiles)")):
        print(f"{label:34}" + "".join(f"{runs[key]:>13.2f}s" for runs in wall.values()))
    print("\nphases of the cached run (this tree, one process, medians)")
    for name, seconds in breakdown:
        print(f"  {name:52}{seconds:8.3f} s")
    print(f"  {'sum (after Python start-up)':52}{sum(s for _, s in breakdown):8.3f} s")
    print("\nfloors (fresh processes, medians)")
    for name, seconds in floor.items():
        print(f"  {name:52}{seconds:8.3f} s")
    minimum = floor["python_start"] + floor["import_sympy"] + floor["import_numba"] + floor["numba_first_cached_call"]
    print(f"  {'python + sympy + numba + first cached kernel':52}{minimum:8.3f} s")

    record = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "points": args.points, "repeats": args.repeats, "arguments": RUN_ARGUMENTS,
              "whole_process": wall, "phases": dict(breakdown), "floors": floor, "floor_sum": minimum}
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
