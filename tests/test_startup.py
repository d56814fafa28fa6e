"""What a cached run pays for: vectorized initial values, the output format, the picture, the imports.

The seconds themselves are measured by ``benchmarks/startup.py``; these tests pin the
behaviour that makes them small and check it gives the same numbers as the slow way.
"""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import sympy
from sympy import Eq

from symsim import Dt, Grid, Model, laplace
from symsim.compiler import compile_model
from symsim.plotting import _MAX_IMAGE_POINTS, _decimated
from symsim.result import Result
from symsim.vectorize import evaluate_on_grid, grid_axes_coordinates, numpy_function

x, y, z = sympy.symbols("x y z", real=True)
a = sympy.Symbol("a", real=True)


def dense(expression, axes, symbols, extra=()):
    """The slow reference: every point of the dense grid through plain SymPy evaluation."""
    grids = np.meshgrid(*[axis.coordinates for axis in axes], indexing="ij")
    function = sympy.lambdify([*symbols, *(s for s, _ in extra)], expression, modules="math")
    out = np.empty(grids[0].shape)
    for index in np.ndindex(out.shape):
        out[index] = function(*(g[index] for g in grids), *(v for _, v in extra))
    return out


@pytest.mark.parametrize("expression", [
    1 + sympy.Rational(1, 10) * sympy.cos(2 * sympy.pi * x) * sympy.cos(4 * sympy.pi * y),   # separable
    sympy.exp(-40 * ((x - 0.5) ** 2 + (y - 0.3) ** 2)),                                   # a sum inside
    sympy.Max(x, y) + sympy.Min(x, 0.5),                                                  # needs the dense grid
    sympy.Piecewise((1.0, x < 0.5), (y, True)),
    sympy.sqrt(x + 1) * a + sympy.tanh(y - a),                                            # a parameter
    sympy.Float(2.5),                                                                     # a constant
    sympy.sin(z * x),                                                                     # three axes
])
def test_values_on_open_coordinates_equal_point_by_point_evaluation(expression):
    grid = Grid(x=(0.0, 1.0, 9), y=(0.0, 2.0, 7), z=(-1.0, 1.0, 4))
    symbols = (x, y, z)
    values = evaluate_on_grid(expression, symbols, grid_axes_coordinates(grid.axes), [(a, 0.7)])
    assert values.shape == (9, 7, 4)
    np.testing.assert_allclose(values, dense(expression, grid.axes, symbols, [(a, 0.7)]), rtol=1e-14, atol=1e-15)


def test_open_coordinates_have_one_long_axis_each():
    grid = Grid(x=(0.0, 1.0, 5), y=(0.0, 1.0, 3))
    shapes = [c.shape for c in grid_axes_coordinates(grid.axes)]
    assert shapes == [(5, 1), (1, 3)]


def test_special_functions_evaluate_elementwise():
    pytest.importorskip("scipy")
    import math
    points = np.array([0.3, -0.2, 1.5])
    function = numpy_function([x], sympy.erf(x) + sympy.gamma(x + 3) + sympy.besselj(0, x))
    from scipy.special import j0
    np.testing.assert_allclose(function(points), [math.erf(p) + math.gamma(p + 3) + j0(p) for p in points], rtol=1e-14)


def test_evaluation_does_not_import_numpys_lazy_submodules():
    check = ("import sys, numpy, sympy; from symsim.vectorize import numpy_function; "
             "x = sympy.Symbol('x'); numpy_function([x], sympy.cos(x))(numpy.ones(3)); "
             "print(sorted(m for m in ('numpy.f2py', 'numpy.testing') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def reaction_model(points):
    grid = Grid(x=(0.0, 1.0, points), y=(0.0, 2.0, points + 3), periodic=True)
    model = Model("startup_check", grid)
    u, v = model.fields("u v")
    D, F = model.params(D=0.01, F=0.3)
    gx, gy = grid.coords
    model.equations(Eq(Dt(u), D * laplace(u) - u * v), Eq(Dt(v), D * laplace(v) + u * v - F * v))
    model.initial(u=1 + F * sympy.cos(2 * sympy.pi * gx) * sympy.sin(sympy.pi * gy), v=sympy.exp(-gx) + 0 * gy)
    return model



def test_initial_state_equals_point_by_point_values_with_the_run_parameter():
    compiled = compile_model(reaction_model(12), target="numpy", egraph=False)
    params = compiled.resolve_params({"F": 0.45})
    state = compiled.interior(compiled.initial_state(params))
    lowered = compiled.lowered
    gx, gy = lowered.coordinate_symbols
    expected_u = dense(1 + 0.45 * sympy.cos(2 * sympy.pi * gx) * sympy.sin(sympy.pi * gy), lowered.axes, (gx, gy))
    np.testing.assert_allclose(state[0], expected_u, rtol=1e-14)
    np.testing.assert_allclose(state[1], np.exp(-lowered.axes[0].coordinates)[:, None] * np.ones((1, 15)), rtol=1e-14)


def test_a_result_is_written_uncompressed_unless_asked(tmp_path):
    t = np.linspace(0, 1, 3)
    result = Result("m", t, coords={"x": np.linspace(0, 1, 50)}, fields={"u": np.ones((3, 50))})
    for compress, kind in ((False, zipfile.ZIP_STORED), (True, zipfile.ZIP_DEFLATED)):
        path = result.save(tmp_path / f"r{compress}.npz", compress=compress)
        with zipfile.ZipFile(path) as archive:
            assert {member.compress_type for member in archive.infolist()} == {kind}
        back = Result.load(path)
        assert np.array_equal(back["u"], result["u"]) and np.array_equal(back["x"], result["x"])
    assert (tmp_path / "rTrue.npz").stat().st_size < (tmp_path / "rFalse.npz").stat().st_size


@pytest.mark.parametrize("shape", [(1024, 1024), (401, 3), (5, 5), (2000, 900)])
def test_pictures_draw_at_most_a_panel_of_samples_and_keep_both_ends(shape):
    image = np.arange(np.prod(shape), dtype=float).reshape(shape)
    small = _decimated(image)
    assert all(n <= _MAX_IMAGE_POINTS + 1 for n in small.shape)
    assert all(min(n, _MAX_IMAGE_POINTS // 2) <= m for n, m in zip(shape, small.shape))   # no finer than needed
    assert small[0, 0] == image[0, 0] and small[-1, -1] == image[-1, -1]
    if max(shape) <= _MAX_IMAGE_POINTS:
        assert np.array_equal(small, image)


def test_help_imports_neither_numpy_nor_sympy():
    check = ("import sys; from symsim.cli import build_parser; build_parser().format_help(); "
             "print(sorted(m for m in ('numpy', 'sympy', 'matplotlib') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_cached_run_imports_no_egraph_engine_no_printer_and_no_plotting(tmp_path):
    """The second run of a model finds its kernels: no e-graph, no code printing, no matplotlib with --no-plot."""
    check = ("import sys; from symsim.cli import main; "
             f"code = main(['run', 'heat_1d', '--target', 'numba', '--t-end', '0.001', '--saves', '1', '--quiet', "
             f"'--no-plot', '-o', {str(tmp_path / 'r.npz')!r}]); "
             "print(code, sorted(m for m in ('egglog', 'symsim.rewrite_rules.polynomial_egraph', "
             "'symsim.rewrite_rules.term_egraph', 'symsim.codegen.numba_backend', 'matplotlib', 'torch', 'tqdm') "
             "if m in sys.modules))")
    environment = {**os.environ, "SYMSIM_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=environment)
    assert first.returncode == 0, first.stderr
    assert "egglog" in first.stdout          # the first run does run the pass
    second = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=environment)
    assert second.stdout.strip().splitlines()[-1] == "0 []", second.stdout + second.stderr
