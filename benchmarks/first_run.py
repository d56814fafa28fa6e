"""First runs on the Numba target: what compiling costs a user on each example, and a rerun with the kernels cached.

    python benchmarks/first_run.py [--baseline REV] [--repeats 3] [--json benchmarks/first_run.json]

For every example on a grid, ``symsim run EXAMPLE --target numba --method rk4`` for 20 steps of the
stable step (so that the stepping itself costs milliseconds), as a fresh process: ``first`` into an
empty kernel cache (rendering, the e-graph pass, Numba compiling the kernels the run calls),
``cached`` again with the cache kept; ``compile`` is their difference. Each is the median of
``--repeats`` rounds (a first run gets a new empty cache each round). With ``--baseline REV`` commit
REV's CLI (a git worktree on ``PYTHONPATH``, its own caches) runs alternately with this tree's.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from startup import REPOSITORY, _seconds, child_environment, cli_command, worktree  # noqa: E402

EXAMPLES = ("advection_1d", "allen_cahn", "brusselator_2d", "burgers_1d", "gray_scott", "heat_1d", "heat_2d",
            "sine_gordon_1d")


def run_arguments(name: str) -> list[str]:
    """20 RK4 steps of the example's stable step at its initial state."""
    from symsim import load_model
    from symsim.compiler import compile_model
    from symsim.report import stable_steps

    compiled = compile_model(load_model(name), target="numpy", egraph=False)
    step = stable_steps(compiled, compiled.resolve_params())["steps"]["rk4"]
    return ["--target", "numba", "--method", "rk4", "--dt", repr(step), "--t-end", repr(20 * step), "--saves", "2",
            "--no-plot", "--quiet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="also time commit REV's CLI, alternately")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="benchmarks/first_run.json")
    args = parser.parse_args()
    arguments = {name: run_arguments(name) for name in EXAMPLES}
    with tempfile.TemporaryDirectory(prefix="symsim-first-run-") as scratch:
        work = Path(scratch)
        trees = {"this": REPOSITORY}
        if args.baseline:
            trees[args.baseline] = worktree(args.baseline, work / "baseline-tree")
        times = {tree: {name: {"first": [], "cached": []} for name in EXAMPLES} for tree in trees}
        try:
            for round_ in range(args.repeats):
                print(f"round {round_ + 1} of {args.repeats} ...", flush=True)
                for name in EXAMPLES:
                    for tree_name, tree in trees.items():
                        cache = work / f"cache-{tree_name}-{name}-{round_}"
                        environment = child_environment(SYMSIM_CACHE_DIR=str(cache), PYTHONPATH=str(tree))
                        command = cli_command(tree) + ["run", name, *arguments[name], "-o", str(work / "out.npz")]
                        times[tree_name][name]["first"].append(_seconds(command, environment))
                        times[tree_name][name]["cached"].append(_seconds(command, environment))
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force",
                                str(work / "baseline-tree")], capture_output=True)

    summary = {tree: {name: {"first_s": statistics.median(t["first"]), "cached_s": statistics.median(t["cached"]),
                             "compile_s": statistics.median(t["first"]) - statistics.median(t["cached"]),
                             "runs": t} for name, t in per_tree.items()} for tree, per_tree in times.items()}
    print(f"\nfirst run of `symsim run EXAMPLE --target numba` (20 RK4 steps), wall seconds, median of {args.repeats}")
    print(f"{'example':16}" + "".join(f"{tree + ' first':>16}{tree + ' cached':>16}" for tree in summary))
    for name in EXAMPLES:
        print(f"{name:16}" + "".join(f"{summary[tree][name]['first_s']:>15.2f}s{summary[tree][name]['cached_s']:>15.2f}s"
                                     for tree in summary))
    for tree in summary:
        total = sum(row["compile_s"] for row in summary[tree].values())
        print(f"compile time summed over the examples ({tree}): {total:.1f} s")
    record = {"machine": platform.platform(), "cpus": os.cpu_count(), "repeats": args.repeats,
              "arguments": arguments, "trees": summary}
    Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
