"""Two commits side by side: every example x every target x every method, the same numbers?

    python benchmarks/compare_commits.py OLD_REV [--new REV] [--json benchmarks/compare_commits.json]

Each commit is checked out in a temporary git worktree (``--new`` omitted: the working
tree itself) and runs every case in a fresh process of its own, with a private kernel
cache. Cases:

- ``numpy``, ``numba``: each shipped example's right-hand side and boundary step on a
  perturbed initial state (``rhs``), and runs with ``euler``, ``ssprk3``, ``rk4`` and
  ``dopri5``, about 20 steps of a stable dt (the new commit's suggestion, passed to both),
  two saves. dopri5 runs at rtol 1e-12: its step control turns any round-off difference in a
  kernel into a difference at the tolerance, so only a tight tolerance compares solutions;
- ``cuda`` (Numba's simulator unless ``NUMBA_ENABLE_CUDASIM=0``): each grid example on a
  12-point grid per axis, three steps of each fixed-step method;
- ``torch-operator``: the Euler and trapezoid residuals of the loss on the numpy rk4
  trajectory of each example, relative to the time difference they cancel against;
- ``torch-pinn``: the residual of a seeded network at seeded points, and the same through
  the hard-constraint wrapper.

Per case the table gives max over fields of max|old - new| / max|old|; a case passes at
1e-12. The table and JSON are what the redesign of the code-generation layer was checked with.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

TOLERANCE = 1e-12
REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (REPOSITORY / "examples").glob("*.py") if p.name != "__init__.py")

# Runs inside one commit's tree: every case, arrays into OUT/<case>.npz.
CASES_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from symsim import load_model, simulate
    from symsim.errors import SymsimError
    cases, out = json.loads(sys.argv[1]), sys.argv[2]

    def run(case):
        name, target, method = case["example"], case["target"], case["method"]
        model = load_model(name)
        if target == "cuda":
            model = model.with_points(**{a.name: 12 + (0 if a.periodic else 1) for a in model.grid.axes})
        if method == "rhs":
            from symsim import compile_model
            compiled = compile_model(model, target=target)
            params = compiled.resolve_params()
            state = compiled.initial_state(params)
            # the padded grid (a backend may allocate more) perturbed by the same numbers in both commits
            padded = (slice(None),) + tuple(slice(0, n) for n in compiled.lowered.padded_shape)
            noise = np.random.default_rng(1).standard_normal(state[padded].shape)
            state[padded] += 0.01 * noise * (np.abs(state).max() + 1)
            out, filled = np.zeros_like(state), state.copy()
            compiled.rhs(0.3, state, out, params)
            compiled.apply_boundaries(0.3, filled, params)
            arrays = {"rhs": out[padded], "boundaries": filled[padded]}
        elif target in ("numpy", "numba", "cuda"):
            tight = {"rtol": 1e-12, "atol": 1e-14} if method == "dopri5" else {}
            result = simulate(model, t_end=case["t_end"], dt=case["dt"], method=method, saves=2, target=target,
                              **tight)
            arrays = {f: np.asarray(result[f]) for f in result.fields}
        elif target == "torch-operator":
            import torch
            from symsim.losses import load_loss_module, loss_source
            result = simulate(model, t_end=case["t_end"], dt=case["dt"], method="rk4", saves=4)
            fields = list(result.fields)
            pred = torch.tensor(np.stack([result[f] for f in fields], axis=1)[None])
            loss = load_loss_module(loss_source(model, target)[0], name + "_operator").PhysicsLoss()
            # the residual cancels its terms: compare it on the scale of the time difference
            arrays = {"residual": loss.residual(pred, result.t[1], scheme=method).detach().numpy(),
                      "scale": ((pred[:, 1:] - pred[:, :-1]) / result.t[1]).numpy()}
        else:
            import torch
            from symsim.losses import load_loss_module, loss_source
            module = load_loss_module(loss_source(model, target)[0], name + "_pinn")
            torch.manual_seed(0)
            inputs = len(module.INPUTS)
            net = torch.nn.Sequential(torch.nn.Linear(inputs, 16), torch.nn.Tanh(),
                                      torch.nn.Linear(16, len(module.FIELDS))).double()
            points = [0.1 + 0.8 * torch.rand(64, 1, dtype=torch.float64) for _ in range(inputs)]
            call = lambda *args: net(torch.cat(args, dim=1))
            arrays = {"residual": module.Residual()(call, *points).detach().numpy(),
                      "hard": module.HardConstraints(call)(*points).detach().numpy()}
        return arrays

    for case in cases:
        try:
            arrays = run(case)
        except SymsimError as error:     # a case the target refuses (e.g. an array initial value for a PINN)
            arrays = {"refused": np.array(type(error).__name__)}
        np.savez(f"{out}/{case['id']}.npz", **arrays)
""")


def cases() -> list[dict]:
    """Every case, with the new commit's stable dt for it (passed to both commits)."""
    from symsim import load_model, simulate
    found = []
    for name in EXAMPLES:
        model = load_model(name)
        dt = simulate(model, t_end=1e-9, saves=1).stats["suggested_dt"] or 1e-3
        small = model.with_points(**{a.name: 12 + (0 if a.periodic else 1) for a in model.grid.axes}) \
            if model.grid is not None else None
        for target in ("numpy", "numba"):
            found.append({"example": name, "target": target, "method": "rhs", "t_end": 0, "dt": 0})
            for method in ("euler", "ssprk3", "rk4", "dopri5"):
                step = dt * (0.5 if method == "euler" else 1.0)
                found.append({"example": name, "target": target, "method": method, "t_end": 20 * step, "dt": step})
        if small is not None:
            small_dt = simulate(small, t_end=1e-9, saves=1, method="euler").stats["suggested_dt"] or 1e-3
            for method in ("euler", "ssprk3", "rk4"):
                found.append({"example": name, "target": "cuda", "method": method, "t_end": 6 * small_dt,
                              "dt": small_dt})
        for scheme in ("euler", "trapezoid"):
            found.append({"example": name, "target": "torch-operator", "method": scheme, "t_end": 4 * dt, "dt": dt})
        found.append({"example": name, "target": "torch-pinn", "method": "-", "t_end": 0, "dt": 0})
    for number, case in enumerate(found):
        case["id"] = f"{number:03d}_{case['example']}_{case['target']}_{case['method']}"
    return found


def run_tree(tree: Path, todo: list[dict], out: Path) -> str:
    """Run the cases in ``tree`` (its own interpreter path and kernel cache); returns stderr's tail."""
    environment = dict(os.environ, PYTHONPATH=str(tree), SYMSIM_CACHE_DIR=str(out / "cache"))
    environment.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    run = subprocess.run([sys.executable, "-c", CASES_SCRIPT, json.dumps(todo), str(out)], cwd=tree,
                         env=environment, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"cases failed in {tree}:\n{run.stderr[-3000:]}")
    return run.stderr[-500:]


def worktree(revision: str, directory: Path) -> Path:
    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", "-f", str(directory), revision],
                   check=True, capture_output=True)
    return directory


def difference(old: Path, new: Path) -> float:
    """max over arrays of max|old - new| / max|old| (or over the case's ``scale`` array, for a residual);
    0 when both commits refused the case alike."""
    with np.load(old) as a, np.load(new) as b:
        if sorted(a.files) != sorted(b.files):
            return float("inf")
        if "refused" in a.files:
            return 0.0 if a["refused"] == b["refused"] else float("inf")
        scale = {k: max(np.abs(a[k]).max(), np.abs(a["scale"]).max() if "scale" in a.files else 0, 1e-300)
                 for k in a.files}
        return max(float(np.abs(a[k] - b[k]).max() / scale[k]) for k in a.files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the commit to compare against (e.g. main~3)")
    parser.add_argument("--new", help="the other commit (default: the working tree)")
    parser.add_argument("--json", default="benchmarks/compare_commits.json")
    args = parser.parse_args()
    todo = cases()
    with tempfile.TemporaryDirectory(prefix="symsim-compare-") as scratch:
        scratch = Path(scratch)
        trees = {"old": worktree(args.old, scratch / "old-tree"),
                 "new": worktree(args.new, scratch / "new-tree") if args.new else REPOSITORY}
        try:
            for label, tree in trees.items():
                (scratch / label).mkdir()
                print(f"running {len(todo)} cases in {label} ({tree}) ...", flush=True)
                run_tree(tree, todo, scratch / label)
            rows = [dict(case, relative_difference=difference(scratch / "old" / f"{case['id']}.npz",
                                                              scratch / "new" / f"{case['id']}.npz")) for case in todo]
        finally:
            for label, tree in trees.items():
                if tree != REPOSITORY:
                    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(tree)],
                                   capture_output=True)
    print(f"{'example':<16}{'target':<16}{'method':<11}{'max rel. difference':>20}")
    for row in rows:
        flag = "" if row["relative_difference"] <= TOLERANCE else "   <-- above 1e-12"
        print(f"{row['example']:<16}{row['target']:<16}{row['method']:<11}{row['relative_difference']:>20.2e}{flag}")
    worst = max(r["relative_difference"] for r in rows)
    failed = sum(r["relative_difference"] > TOLERANCE for r in rows)
    print(f"{len(rows)} cases, worst {worst:.2e}, {failed} above {TOLERANCE:g}")
    revision = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", args.old], capture_output=True,
                              text=True).stdout.strip()
    Path(args.json).write_text(json.dumps({"old": revision, "new": args.new or "working tree", "tolerance": TOLERANCE,
                                           "worst": worst, "failed": failed, "cases": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
