"""What the e-graph pass buys: cost per grid point of every example kernel, four ways.

    python benchmarks/egraph.py [--json benchmarks/egraph.json] [--orders 2 4 8]

For each example model and space order: weighted cost (cycles: add/mul 1, div 16,
pow/call 50; hoisted invariants not counted) and operation counts per point for
(a) the raw lowered IR, (b) SymPy cse alone, (c) SymPy simplify + cse, (d) the
e-graph pass, with the wall time of each; then the geometric-mean ratio of (d) to
(b), and the NumPy-backend run time of gray_scott with and without the pass (with
glibc's allocator told to keep freed grid-sized blocks, as ``SYMSIM_TUNE_MALLOC=1``
does, so that page faults do not hide the kernels' cost).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import time
from pathlib import Path

import sympy

import symsim
from symsim.ir import Kernel
from symsim.simplify import cse_kernel, egraph_kernel, kernel_cost, lowered_kernel
from symsim.solve import keep_freed_arrays_mapped

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def simplify_then_cse(lowered) -> Kernel:
    simplified = [sympy.simplify(lowered.rhs[f]) for f in lowered.fields]
    replacements, reduced = sympy.cse(simplified, symbols=sympy.numbered_symbols("tmp"), order="none")
    return Kernel((), tuple(replacements), dict(zip(lowered.fields, reduced)))


def timed(function, *args):
    started = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - started


def measure(name: str, order: int) -> dict:
    lowered = symsim.lower_to_stencils(symsim.load_model(str(EXAMPLES / f"{name}.py")), space_order=order)
    row = {"grid": [a.points for a in lowered.axes]}
    for label, build in (("lowered", lowered_kernel), ("cse", cse_kernel), ("simplify+cse", simplify_then_cse),
                         ("egraph", lambda low: egraph_kernel(low)[0])):
        kernel, seconds = timed(build, lowered)
        row[label] = dict(kernel_cost(kernel, lowered), seconds=seconds)
    return row


def run_time(with_egraph: bool, t_end: float) -> float:
    model = symsim.load_model(str(EXAMPLES / "gray_scott.py"))
    result = symsim.simulate(model, t_end=t_end, saves=1, egraph=with_egraph)
    return result.stats["wall_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/egraph.json")
    parser.add_argument("--orders", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--t-end", type=float, default=200.0, help="gray_scott run length for the end-to-end timing")
    args = parser.parse_args()

    names = sorted(os.path.basename(p)[:-3] for p in glob.glob(str(EXAMPLES / "*.py")) if "__init__" not in p)
    results = {"cases": {}}
    header = f"{'model':<16}{'order':>6}" + "".join(f"{k:>16}" for k in ("lowered", "cse", "simplify+cse", "egraph"))
    print("cost per point in cycles (seconds to build)")
    print(header)
    ratios, pde_ratios, regressions = [], [], []
    for name in names:
        for order in args.orders:
            row = measure(name, order)
            results["cases"][f"{name}/order{order}"] = row
            print(f"{name:<16}{order:>6}" + "".join(f"{row[k]['cost']:>9} ({row[k]['seconds']:4.2f})"
                                                    for k in ("lowered", "cse", "simplify+cse", "egraph")))
            best_other = min(row[k]["cost"] for k in ("lowered", "cse", "simplify+cse"))
            if row["egraph"]["cost"] > best_other:
                regressions.append(f"{name}/order{order}")
            ratios.append(row["egraph"]["cost"] / row["cse"]["cost"])
            if row["grid"]:
                pde_ratios.append(ratios[-1])
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    pde_geomean = math.exp(sum(math.log(r) for r in pde_ratios) / len(pde_ratios))
    results["geomean_egraph_over_cse"] = geomean
    results["geomean_egraph_over_cse_pde_models"] = pde_geomean
    results["worse_than_best_alternative"] = regressions
    print(f"geometric mean of egraph/cse cost: {geomean:.3f} ({100 * (1 - geomean):.1f}% cheaper); "
          f"PDE models only: {pde_geomean:.3f} ({100 * (1 - pde_geomean):.1f}% cheaper)")
    print(f"cases where the e-graph is worse than the best of (a)-(c): {regressions or 'none'}")

    keep_freed_arrays_mapped()
    with_pass, without = run_time(True, args.t_end), run_time(False, args.t_end)
    results["gray_scott_numpy_seconds"] = {"egraph": with_pass, "cse": without, "t_end": args.t_end}
    print(f"gray_scott NumPy run to t={args.t_end:g}: {with_pass:.2f} s with the pass, {without:.2f} s without "
          f"({without / with_pass:.2f}x)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
