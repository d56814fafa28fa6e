"""The IMEX stages' linear solves, split by the coupling between fields (symsim.linear_solve).

Whatever way a group of fields is solved (a division, FFTs, SuperLU of its own block), the
answer must be the solution of the whole system (I - c L) x = r: checked against SciPy's sparse
direct solve on the linear parts of the examples and of random block-structured operators.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import sparse
from scipy.sparse.linalg import spsolve
from sympy import Eq

import symsim
from symsim import Dt, Grid, Model, laplace, load_model
from symsim.compiler import compile_model
from symsim.errors import SolverError
from symsim.linear_solve import ShiftedSolver
from symsim.system import SemiDiscreteSystem


def _system(model, **params):
    compiled = compile_model(model, jacobian=True, egraph=False)
    return SemiDiscreteSystem(compiled, compiled.resolve_params(params))


def _wall_coupled_model():
    """Periodic in x, walls in y (not circulant), a tracer c read from u, and u, v coupled both ways."""
    grid = Grid(x=(0.0, 1.0, 12), y=(0.0, 1.0, 9), periodic=("x",))
    model = Model("walls_and_coupling", grid)
    u, v, c = model.fields("u v c")
    model.equations(Eq(Dt(u), 0.1 * laplace(u) + 0.5 * v - u * v), Eq(Dt(v), 0.2 * laplace(v) - 0.3 * u),
                    Eq(Dt(c), 0.05 * laplace(c) + 2.0 * u - c))
    model.initial(u=0.0, v=0.0, c=0.0)
    model.dirichlet(u, y=0.0, value=0.0)
    model.dirichlet(u, y=1.0, value=0.0)
    for field in (v, c):
        model.neumann(field, y=0.0, value=0.0)
        model.neumann(field, y=1.0, value=0.0)
    return model


def _brusselator():
    """The shipped example on 12^2 points (found by name: tests run from the source tree, where the examples
    are no subpackage of symsim)."""
    return load_model("brusselator_2d").with_points(x=12, y=12)


CASES = {
    # model, how each group of fields is solved
    "brusselator (u then v, both periodic)": (_brusselator, ("circulant", "circulant")),
    "gray_scott (periodic 2-D)": (lambda: load_model("gray_scott").with_points(x=16, y=10), None),
    "sine_gordon (u and v coupled both ways)": (lambda: load_model("sine_gordon_1d").with_points(x=32),
                                                ("circulant",)),
    "heat_1d (Dirichlet walls)": (lambda: load_model("heat_1d").with_points(x=17), ("lu",)),
    "walls and one-way coupling": (_wall_coupled_model, ("lu", "lu")),
    "lotka_volterra (an ODE)": (lambda: load_model("lotka_volterra"), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_split_solve_equals_a_direct_solve_of_the_whole_system(case):
    build, kinds = CASES[case]
    system = _system(build())
    linear = system.linear_part().tocsr()
    solver = ShiftedSolver(linear, system.field_layout())
    if kinds is not None:
        assert solver.kinds == kinds
    rng = np.random.default_rng(3)
    identity = sparse.identity(system.size, format="csc")
    for c in (1e-3, 0.37, 25.0):
        right = rng.standard_normal(system.size)
        expected = spsolve((identity - c * linear).tocsc(), right)
        got = solver.factor(c).solve(right)
        assert np.abs(got - expected).max() <= 1e-10 * np.abs(expected).max(), (case, c)


def test_a_tracer_and_reactions_are_solved_after_the_fields_they_read():
    system = _system(_wall_coupled_model())
    solver = ShiftedSolver(system.linear_part(), system.field_layout())
    names = system.lowered.fields
    # u and v read each other (one group), c reads u: after them
    assert [[names[k] for k in group] for group in solver.groups] == [["u", "v"], ["c"]]
    assert solver.kinds == ("lu", "lu") and solver.describe() == f"{system.size} by LU"


def _random_operator(draw_shape, fields, coupling, seed, periodic_stencils):
    """L with one block per field pair: a random wrapping stencil on the grid (circulant) where ``coupling`` says
    so, or, for non-periodic stencils, a random sparse block."""
    rng = np.random.default_rng(seed)
    n = math.prod(draw_shape)
    index = np.arange(n).reshape(draw_shape)
    blocks = [[None] * fields for _ in range(fields)]
    for i in range(fields):
        for j in range(fields):
            if i != j and not coupling[i][j]:
                continue
            if periodic_stencils:
                block = sparse.csr_matrix((n, n))
                for _ in range(rng.integers(1, 4)):
                    offset = tuple(int(rng.integers(-2, 3)) for _ in draw_shape)
                    columns = np.roll(index, [-o for o in offset], axis=range(len(draw_shape))).reshape(-1)
                    block = block + sparse.csr_matrix((np.full(n, rng.normal()), (np.arange(n), columns)),
                                                      shape=(n, n))
            else:
                block = sparse.random(n, n, density=0.2, random_state=int(rng.integers(1 << 30)))
            blocks[i][j] = block
    return sparse.bmat(blocks, format="csr"), [(k * n, (k + 1) * n, draw_shape) for k in range(fields)]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
       fields=st.integers(1, 3),
       coupling=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=3, max_size=3),
       seed=st.integers(0, 2**16), periodic=st.booleans(), c=st.floats(1e-3, 2.0))
def test_random_block_operators_are_solved_exactly(shape, fields, coupling, seed, periodic, c):
    linear, layout = _random_operator(shape, fields, coupling, seed, periodic)
    solver = ShiftedSolver(linear, layout)
    matrix = (sparse.identity(linear.shape[0]) - c * linear).tocsc()
    if abs(np.linalg.det(matrix.toarray())) < 1e-8:
        return                                          # a singular draw: nothing to compare
    right = np.random.default_rng(seed + 1).standard_normal(linear.shape[0])
    expected = np.linalg.solve(matrix.toarray(), right)
    try:
        got = solver.factor(c).solve(right)
    except SolverError:                                 # a block singular though the whole is not: impossible
        raise AssertionError("a block of a non-singular block-triangular matrix was called singular")
    assert np.abs(got - expected).max() <= 1e-8 * max(1.0, np.abs(expected).max())
    if periodic:
        assert set(solver.kinds) <= {"circulant", "diagonal"}


def test_a_singular_implicit_matrix_is_one_clear_error():
    solver = ShiftedSolver(sparse.identity(4, format="csr"), [(0, 4, None)])
    with pytest.raises(SolverError, match="singular"):
        solver.factor(1.0)


def test_imex_on_a_periodic_model_factors_nothing_and_matches_dopri5():
    model = load_model("gray_scott").with_points(x=24, y=24)
    reference = symsim.simulate(model, t_end=200.0, method="dopri5", saves=2, rtol=1e-10, atol=1e-12)
    result = symsim.simulate(model, t_end=200.0, method="imex-ark", saves=2, rtol=1e-8, atol=1e-10)
    assert result.stats["lu_factorizations"] == 0 and result.stats["implicit_solve"] == f"{2 * 24 * 24} by FFT"
    for field in ("u", "v"):
        assert np.abs(result[field] - reference[field]).max() < 1e-5


# -- the Krylov path: GMRES with an algebraic-multigrid preconditioner ---------------------------

@pytest.mark.parametrize("method", ["rodas", "imex-ark", "bdf"])
def test_the_krylov_path_gives_the_lu_path_result(method):
    model = load_model("reaction_diffusion_3d").with_points(x=10, y=10, z=10)
    runs = {solver: symsim.simulate(model, t_end=0.02, saves=2, method=method, linear_solver=solver,
                                    rtol=1e-7, atol=1e-10) for solver in ("lu", "krylov")}
    assert runs["krylov"].stats["linear_solver"] == "krylov" and runs["lu"].stats["linear_solver"] == "lu"
    for field in ("u", "v"):
        scale = np.abs(runs["lu"][field]).max()
        assert np.abs(runs["krylov"][field] - runs["lu"][field]).max() <= 1e-6 * scale
    if method != "imex-ark":
        assert runs["krylov"].stats["linear_iterations"] > 0 and runs["krylov"].stats["preconditioner_setups"] >= 1
        # the preconditioner is kept from step to step while GMRES stays short
        assert runs["krylov"].stats["preconditioner_setups"] < runs["lu"].stats["factorizations"]
    else:
        assert "by GMRES" in runs["krylov"].stats["implicit_solve"]


def test_auto_takes_krylov_for_large_3d_grids_only():
    from symsim.implicit import KRYLOV_3D_UNKNOWNS, choose_linear_solver

    class Sized:
        def __init__(self, size, ndim):
            self.size = size
            self.lowered = type("Lowered", (), {"axes": (None,) * ndim})()
    assert choose_linear_solver(Sized(KRYLOV_3D_UNKNOWNS, 3)) == "krylov"
    assert choose_linear_solver(Sized(KRYLOV_3D_UNKNOWNS - 1, 3)) == "lu"
    assert choose_linear_solver(Sized(10 * KRYLOV_3D_UNKNOWNS, 2)) == "lu"
    assert choose_linear_solver(Sized(10 * KRYLOV_3D_UNKNOWNS, 2), "krylov") == "krylov"


def test_gmres_that_cannot_converge_is_one_clear_error(monkeypatch):
    from symsim import linear_solve
    from symsim.linear_solve import KrylovSolver
    monkeypatch.setattr(linear_solve, "MAX_RESTARTS", 1)
    monkeypatch.setattr(linear_solve, "RESTART", 2)
    rng = np.random.default_rng(0)
    line = sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(60, 60))
    matrix = sparse.kronsum(line, line) + 1e-3 * sparse.identity(3600)   # 2 iterations cannot reach 1e-12
    solver = KrylovSolver(rtol=1e-12)
    solver.set_matrix(matrix.tocsr())
    with pytest.raises(SolverError, match="GMRES did not reach.*--linear-solver lu"):
        solver.solve(rng.standard_normal(3600))


def test_the_cli_takes_a_linear_solver_and_reports_gmres(tmp_path, capsys):
    from symsim.cli import main
    code = main(["run", "heat_2d", "--method", "rodas", "--linear-solver", "krylov", "--t-end", "0.01", "--quiet",
                 "--no-plot", "-o", str(tmp_path / "h.npz")])
    out = capsys.readouterr().out
    assert code == 0 and "GMRES iterations" in out
    code = main(["run", "heat_2d", "--method", "radau", "--linear-solver", "krylov", "--t-end", "0.01", "--quiet",
                 "--no-plot", "-o", str(tmp_path / "r.npz")])
    err = capsys.readouterr().err
    assert code == 1 and "radau" in err and len(err.strip().splitlines()) == 1


# -- the user's IMEX split (model.imex_split) -------------------------------------------------

def test_a_split_of_diffusion_alone_leaves_the_linear_reaction_explicit():
    automatic = _system(_brusselator())
    model = _brusselator()
    u, v = model.field_functions["u"], model.field_functions["v"]
    alpha = model.parameters["alpha"][0]
    model.imex_split(u=alpha * laplace(u), v=alpha * laplace(v))
    split = _system(model)
    n = automatic.size // 2
    full, diffusion = automatic.linear_part().toarray(), split.linear_part().toarray()
    assert np.abs(full[n:, :n]).max() > 0 and np.abs(diffusion[n:, :n]).max() == 0     # 3.4 u: now explicit
    assert np.allclose(diffusion[:n, :n] - full[:n, :n], 4.4 * np.eye(n))                # -4.4 u: explicit
    reference = symsim.simulate(_brusselator(), t_end=1.5, method="radau", saves=1, rtol=1e-10, atol=1e-12)
    result = symsim.simulate(model, t_end=1.5, method="imex-ark", saves=1, rtol=1e-8, atol=1e-11)
    assert result.stats["implicit_solve"] == f"{2 * n} by FFT"
    for field in ("u", "v"):
        assert np.abs(result[field] - reference[field]).max() < 1e-5 * np.abs(reference[field]).max()


def test_a_field_left_out_of_the_split_is_explicit():
    model = load_model("gray_scott").with_points(x=12, y=12)
    u = model.field_functions["u"]
    model.imex_split(u=model.parameters["Du"][0] * laplace(u))
    linear = _system(model).linear_part()
    n = linear.shape[0] // 2
    assert linear[n:].nnz == 0 and linear[:n].nnz > 0


def test_a_nonlinear_or_time_dependent_implicit_part_is_one_clear_error():
    import sympy
    model = load_model("gray_scott").with_points(x=12, y=12)
    u, v = model.field_functions["u"], model.field_functions["v"]
    model.imex_split(u=-u * v ** 2)
    with pytest.raises(SolverError, match=r"implicit part of Dt\(u\).*not linear.*--method rodas"):
        symsim.simulate(model, t_end=1.0, method="imex-ark", saves=1)
    model.imex_split(u=sympy.sin(symsim.model.t) * u)
    with pytest.raises(SolverError, match="constant in time"):
        symsim.simulate(model, t_end=1.0, method="imex-ark", saves=1)


def test_imex_split_mistakes_name_the_script_line():
    from symsim.errors import ModelDefinitionError
    model = load_model("heat_1d")
    u = model.field_functions["u"]
    with pytest.raises(ModelDefinitionError, match=r"test_linear_solve.py:\d+: imex_split for unknown field 'w'"):
        model.imex_split(w=u)
    x = model.grid.coords[0]
    model.imex_split(u=u.diff(x, 4))
    with pytest.raises(ModelDefinitionError, match="higher order than the equations"):
        symsim.simulate(model, t_end=0.01, method="imex-ark", saves=1)
