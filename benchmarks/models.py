"""The benchmark problems (heat 2D and Gray-Scott on periodic n x n grids), and another commit's kernels.

    old = modules_of_commit("main~1", {"gs": "gray_scott_model(1024)"})    # the Numba module main~1 generates
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sympy import Eq, exp

from symsim import Dt, Grid, Model, laplace


def heat_model(n: int) -> Model:
    grid = Grid(x=(0.0, 1.0, n), y=(0.0, 1.0, n), periodic=True)
    model = Model("heat_2d", grid)
    u = model.fields("u")
    D = model.params(D=1.0)
    x, y = grid.coords
    model.equations(Eq(Dt(u), D * laplace(u)))
    model.initial(u=exp(-100 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)))
    return model


def gray_scott_model(n: int) -> Model:
    grid = Grid(x=(0.0, 1.0, n), y=(0.0, 1.0, n), periodic=True)
    model = Model("gray_scott", grid)
    u, v = model.fields("u v")
    Du, Dv, F, k = model.params(Du=2e-5, Dv=1e-5, F=0.04, k=0.06)
    x, y = grid.coords
    bump = exp(-400 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))
    model.equations(Eq(Dt(u), Du * laplace(u) - u * v ** 2 + F * (1 - u)),
                    Eq(Dt(v), Dv * laplace(v) + u * v ** 2 - (F + k) * v))
    model.initial(u=1 - bump / 2, v=bump / 4)
    return model


def modules_of_commit(revision: str, models: dict) -> dict:
    """name -> the Numba module that commit ``revision`` generates for the model ``models[name]`` (Python
    source run in that commit's tree with this module's builders and ``load_model`` in scope), loaded
    into this process: generated modules need only numpy and numba, so two commits run side by side."""
    repository = Path(__file__).resolve().parent.parent
    out = Path(tempfile.mkdtemp(prefix="symsim-baseline-"))
    tree = out / "tree"
    subprocess.run(["git", "-C", str(repository), "worktree", "add", "--detach", "-f", str(tree), revision],
                   check=True, capture_output=True)
    try:
        for name, model in models.items():
            script = (f"import sys; sys.path.insert(0, 'benchmarks'); from models import *; "
                      f"from symsim import compile_model, load_model; "
                      f"open({str(out / name)!r} + '.py', 'w').write(compile_model({model}, target='numba', "
                      f"cache=False).source)")
            subprocess.run([sys.executable, "-c", script], cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
                           check=True, capture_output=True)
    finally:
        subprocess.run(["git", "-C", str(repository), "worktree", "remove", "--force", str(tree)], capture_output=True)
    modules = {}
    for name in models:
        spec = importlib.util.spec_from_file_location(f"baseline_{name}", out / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[f"baseline_{name}"] = modules[name]      # Numba's parallel kernels look their module up by name
        spec.loader.exec_module(modules[name])
    return modules
