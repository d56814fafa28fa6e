"""Run under an MPI launcher: each case of a JSON list as a decomposed run; rank 0 saves each Result.

    mpiexec -n 4 python tests/mpi_models/run_cases.py CASES.json OUT_DIR

A case is {"name", "model", "target", "method", "layout" (or null), "space_order", "t_end"} and, optionally,
"egraph" and "overlap".
"""
import json
import sys
from pathlib import Path

from symsim import simulate

cases = json.loads(Path(sys.argv[1]).read_text())
for case in cases:
    result = simulate(case["model"], t_end=case["t_end"], method=case["method"], target=case["target"], saves=3,
                      space_order=case["space_order"], decompose=case["layout"], egraph=case.get("egraph", False),
                      overlap=case.get("overlap", False))
    if result is not None:
        result.save(Path(sys.argv[2]) / f"{case['name']}.npz")
