"""Implicit methods and the Jacobians they are driven by (issue: stiff systems).

Every generated Jacobian -- interior stencils, wall nodes, Neumann and ghost rows, periodic
wraps, time-dependent walls -- is checked against central differences of the right-hand
side on random states; Rodas4's order, A- and L-stability are measured; stiff problems run
at steps far above the explicit limit with the design accuracy.
"""

import math
import textwrap

import numpy as np
import pytest
import sympy
from scipy import integrate, linalg, sparse
from sympy import Eq

import symsim
from symsim import Dt, Grid, Model, load_model
from symsim.cli import main
from symsim.compiler import compile_model
from symsim.errors import SolverError, SymsimWarning
from symsim.implicit import IMPLICIT, Rodas4
from symsim.system import SemiDiscreteSystem
from symsim.tableaus import IMPLICIT_METHODS

from test_convergence import CASES, build_model

EXAMPLES = ["advection_1d", "allen_cahn", "burgers_1d", "gray_scott", "heat_1d", "heat_2d", "lorenz",
            "lotka_volterra", "sine_gordon_1d"]


def small(model, points=10):
    return model if model.grid is None else model.with_points(**{a.name: points for a in model.grid.axes})


def system_of(model, target="numpy", space_order=2, **params):
    compiled = compile_model(model, target=target, space_order=space_order, jacobian=True, egraph=False)
    return SemiDiscreteSystem(compiled, compiled.resolve_params(params))


def finite_difference_jacobian(system, t, y):
    """Central differences of f, column by column (dense)."""
    columns = []
    for j in range(system.size):
        step = 1e-6 * max(1.0, abs(y[j]))
        plus, minus = y.copy(), y.copy()
        plus[j] += step
        minus[j] -= step
        columns.append((system.f(t, plus) - system.f(t, minus)) / (2 * step))
    return np.array(columns).T


def assert_jacobian_matches(system, seed, t=0.37, spread=0.1):
    rng = np.random.default_rng(seed)
    y = system.initial_values()
    y = y + spread * (1 + np.abs(y)) * rng.standard_normal(system.size)
    analytic = system.jacobian(t, y).toarray()
    reference = finite_difference_jacobian(system, t, y)
    scale = np.abs(reference).max()
    assert np.abs(analytic - reference).max() <= 1e-7 * scale, np.abs(analytic - reference).max() / scale
    # the pattern holds every nonzero the differences find
    assert not np.any((np.abs(reference) > 1e-6 * scale) & (system.sparsity.toarray() == 0))


# -- generated Jacobians ------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("space_order", [2, 4])
@pytest.mark.parametrize("target", ["numpy", "numba"])
def test_jacobian_of_every_example_matches_finite_differences(name, space_order, target):
    system = system_of(small(load_model(name)), target, space_order)
    for seed in range(2):
        assert_jacobian_matches(system, seed)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("space_order", [2, 6])
def test_jacobian_rows_of_every_boundary_kind_match_finite_differences(case, space_order):
    """Dirichlet and Neumann walls with time-dependent values, ghost layers, periodic wraps, mixed
    derivatives and a nonlinear reaction: the boundary operator folds them into J's edge rows."""
    system = system_of(build_model(case, 12), space_order=space_order)
    assert_jacobian_matches(system, seed=space_order)


@pytest.mark.parametrize("name", ["gray_scott", "heat_2d", "burgers_1d", "lorenz"])
def test_grouped_finite_differences_over_a_column_colouring_agree_with_the_generated_jacobian(name):
    system = system_of(small(load_model(name), 12))
    y = system.initial_values() + 0.05
    groups = system.column_groups()
    assert sorted(np.concatenate(groups).tolist()) == list(range(system.size))
    if system.size > 100:
        assert len(groups) <= 16          # a few f evaluations, not one per column
    analytic = system.jacobian(0.2, y).toarray()
    grouped = system.colored_jacobian(0.2, y, groups).toarray()
    assert np.abs(grouped - analytic).max() <= 1e-6 * np.abs(analytic).max()


def test_wall_nodes_are_not_unknowns_and_periodic_points_are():
    heat = system_of(load_model("heat_1d").with_points(x=11))          # Dirichlet at both ends
    assert heat.size == 9
    periodic = system_of(small(load_model("gray_scott"), 8))
    assert periodic.size == 2 * 64
    assert periodic.sparsity.nnz == 2 * 64 * 6       # 5-point Laplacian + the other field at the point


def test_step_functions_in_space_and_time_drive_the_jacobian_where_the_state_is():
    """Piecewise and Heaviside forcing compile; their derivatives (Dirac spikes) do not enter J."""
    grid = Grid(x=(0.0, 1.0, 16), periodic=True)
    model = Model("switched", grid)
    u = model.fields("u")
    (x,) = grid.coords
    switch = sympy.Piecewise((5.0, sympy.And(x > 0.3, symsim.t >= 0.2)), (0.0, True))
    model.equations(Eq(Dt(u), u.diff(x, 2) + switch * u + sympy.Heaviside(u - 0.5) * u ** 2))
    model.initial(u=sympy.sin(2 * sympy.pi * x) + 0.5)
    system = system_of(model)
    before, after = system.jacobian(0.1, system.initial_values(), copy=True), system.jacobian(0.3, system.initial_values())
    difference = (after - before).toarray()
    assert np.allclose(np.diag(difference)[[k for k in range(16) if k / 16 > 0.3]], 5.0)
    assert_jacobian_matches(system, seed=3, t=0.3)


def test_the_compiled_module_carries_the_jacobian_kernel(tmp_path, capsys):
    assert main(["compile", "heat_2d", "--target", "numba", "-o", str(tmp_path / "out")]) == 0
    source = (tmp_path / "out" / "heat_2d_numba.py").read_text()
    assert "def jacobian_coefficients(t, state, jac, p):" in source and "JACOBIAN_ENTRIES = " in source


# -- Rodas4 -------------------------------------------------------------------------------

class Scalar:
    """y' = lam*(y - sin t) + cos t (Prothero-Robinson): y = sin t + (y0 - sin 0) e^(lam t)."""

    def __init__(self, lam):
        self.lam, self.size = lam, 1
        self.rhs_evaluations = self.jacobian_evaluations = 0

    def f(self, t, y):
        self.rhs_evaluations += 1
        return self.lam * (y - np.sin(t)) + np.cos(t)

    def jacobian(self, t, y):
        self.jacobian_evaluations += 1
        return sparse.csr_matrix([[self.lam]])

    def time_derivative(self, t, y, fy):
        return np.array([-self.lam * np.cos(t) - np.sin(t)])


class Linear:
    """y' = A y with a constant (sparse) matrix."""

    def __init__(self, matrix):
        self.matrix, self.size = sparse.csr_matrix(matrix), matrix.shape[0]
        self.rhs_evaluations = self.jacobian_evaluations = 0

    def f(self, t, y):
        return self.matrix @ y

    def jacobian(self, t, y):
        return self.matrix

    def time_derivative(self, t, y, fy):
        return None


def fixed_steps(stepper, system, y, t_end, steps):
    y, t, h = np.array(y, dtype=float), 0.0, t_end / steps
    for _ in range(steps):
        fy = system.f(t, y)
        y, _ = stepper._step(t, y, h, fy, system.jacobian(t, y), system.time_derivative(t, y, fy))
        t += h
    return y


def observed_orders(errors):
    return [math.log2(a / b) for a, b in zip(errors, errors[1:])]


def test_rodas4_has_order_4_on_a_non_autonomous_problem():
    system = Scalar(-1.0)
    errors = [abs(fixed_steps(Rodas4(system), system, [1.0], 1.0, n)[0] - (math.sin(1) + math.exp(-1)))
              for n in (8, 16, 32, 64)]
    assert all(abs(p - 4) <= 0.25 for p in observed_orders(errors)), errors


def test_rodas4_is_a_and_l_stable():
    """|R(z)| <= 1 on the closed left half-plane out to |z| = 1e8, and R(z) -> 0 as z -> -inf."""
    def amplification(z):
        # y' = (a + ib) y as a real 2x2 system, one step of h = 1 from y = 1
        system = Linear(np.array([[z.real, -z.imag], [z.imag, z.real]]))
        return np.linalg.norm(fixed_steps(Rodas4(system), system, [1.0, 0.0], 1.0, 1))

    radii = np.logspace(-2, 8, 31)
    angles = np.linspace(math.pi / 2, math.pi, 13)
    worst = max(amplification(r * complex(math.cos(a), math.sin(a))) for r in radii for a in angles)
    assert worst <= 1 + 1e-12
    assert amplification(-1e8) < 1e-6 and amplification(-1e12) < 1e-10


def test_stiff_heat_at_steps_1000x_the_explicit_limit_keeps_order_4():
    system = system_of(load_model("heat_1d").with_points(x=401), space_order=2, D=1.0)
    x = np.linspace(0, 1, 401)[1:-1]
    y0 = x * (1 - x) * np.exp(x)                       # every mode, not one eigenvector
    J = system.jacobian(0.0, y0).toarray()
    exact = linalg.expm(0.2 * J) @ y0
    explicit_limit = 2.78 / np.abs(np.linalg.eigvalsh(J)).max()       # RK4 on the real axis
    steps = (5, 10, 20, 40)
    assert 0.2 / steps[-2] > 1000 * explicit_limit
    errors = [np.abs(fixed_steps(Rodas4(system), system, y0, 0.2, n) - exact).max() for n in steps]
    assert min(observed_orders(errors)) >= 3.75, errors
    assert errors[-1] < 1e-7


def test_adaptive_rodas_meets_its_tolerance_on_a_stiff_problem():
    system = system_of(load_model("heat_1d").with_points(x=201), space_order=2, D=1.0)
    x = np.linspace(0, 1, 201)[1:-1]
    y = x * (1 - x) * np.exp(x)
    exact = linalg.expm(0.2 * system.jacobian(0.0, y).toarray()) @ y
    stepper = Rodas4(system, rtol=1e-8, atol=1e-10)
    stepper.advance(0.0, y, 0.2, None)
    assert np.abs(y - exact).max() < 1e-7
    assert stepper.stats()["steps"] < 200 and stepper.stats()["factorizations"] == (
        stepper.stats()["steps"] + stepper.stats()["rejected"])


# -- runs -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", IMPLICIT_METHODS)
def test_implicit_runs_agree_with_a_tight_explicit_run(method):
    model = small(load_model("gray_scott"), 24)
    reference = symsim.simulate(model, t_end=200.0, method="dopri5", saves=4, rtol=1e-10, atol=1e-12)
    result = symsim.simulate(model, t_end=200.0, method=method, saves=4, rtol=1e-8, atol=1e-10)
    for field in ("u", "v"):
        assert np.abs(result[field] - reference[field]).max() < 1e-5
    for key in ("steps", "rhs_evaluations", "factorizations"):
        assert result.stats[key] > 0
    assert result.stats["jacobian_evaluations"] > 0 or method == "imex-ark"   # IMEX: L, assembled once


def test_rodas_runs_on_numba_as_on_numpy():
    model = small(load_model("allen_cahn"), 16)
    results = [symsim.simulate(model, t_end=0.5, method="rodas", saves=2, target=target) for target in ("numpy", "numba")]
    assert np.abs(results[0]["u"] - results[1]["u"]).max() < 1e-10
    assert results[0].stats["steps"] == results[1].stats["steps"]


def test_mms_with_time_dependent_walls_keeps_its_space_order_under_rodas():
    case = next(c for c in CASES if c.name == "1d-walls-dirichlet-neumann")
    errors = []
    for intervals in (32, 64):
        result = symsim.simulate(build_model(case, intervals), t_end=case.t_end, method="rodas", saves=1,
                                 space_order=4, rtol=1e-10, atol=1e-12)
        exact = sympy.lambdify((symsim.t, sympy.Symbol("x")), case.exact)(case.t_end, result["x"])
        errors.append(np.abs(result["u"][-1] - exact).max())
    assert observed_orders(errors)[0] > 3.5, errors


def test_an_explicit_run_of_a_stiff_model_names_the_implicit_methods():
    model = load_model("heat_1d").with_points(x=1001)
    with pytest.warns(SymsimWarning, match=r"stiff for rk4.*--method imex-ark.*rodas"):
        symsim.simulate(model, t_end=0.01, saves=1, method="rk4")


def test_the_cli_reports_what_a_cvode_user_expects(tmp_path, capsys):
    code = main(["run", "heat_1d", "--method", "rodas", "--quiet", "--no-plot", "-o", str(tmp_path / "h.npz")])
    out = capsys.readouterr().out
    assert code == 0 and "LU factorizations" in out and "Jacobian evaluations" in out and "rejected" in out


BLOW_UP = textwrap.dedent("""
    from sympy import Eq
    from symsim import Model, Dt
    model = Model("blow_up")
    y = model.fields("y")
    model.equations(Eq(Dt(y), y**2))
    model.initial(y=1.0)
    model.defaults(t_end=2.0, saves=4)
""")


@pytest.mark.parametrize("method", ["rodas", "bdf"])
def test_a_solution_that_blows_up_is_one_line_naming_the_time_and_nothing_is_written(tmp_path, capsys, method):
    script = tmp_path / "blow_up.py"
    script.write_text(BLOW_UP)
    code = main(["run", str(script), "--method", method, "--quiet", "--no-plot", "-o", str(tmp_path / "b.npz")])
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "t=0.99" in err or "t=1" in err, err
    assert not (tmp_path / "b.npz").exists()


def test_a_singular_rosenbrock_matrix_is_a_clear_error():
    system = Linear(np.eye(2) * 4.0)                  # I/(h*gamma) - J vanishes at h = 1
    with pytest.raises(SolverError, match="singular at t=0"):
        fixed_steps(Rodas4(system), system, [1.0, 1.0], 1.0, 1)


def test_every_implicit_method_is_described():
    assert set(IMPLICIT) == set(IMPLICIT_METHODS)


# -- IMEX ---------------------------------------------------------------------------------

def test_the_imex_pair_meets_its_order_conditions():
    """ARK4(3)6L[2]SA: both tableaus and every coupling between them to order 4 (b), order 3 (b_hat), in
    exact arithmetic on the published coefficients (the explicit ones are rational approximations good
    to about 1e-13)."""
    from fractions import Fraction
    from symsim import implicit
    s = 6
    c = [Fraction(x) for x in implicit._ARK_C]

    def square(rows, diagonal=0):
        matrix = [[Fraction(0)] * s for _ in range(s)]
        for i, row in enumerate(rows):
            for j, a in enumerate(row):
                matrix[i][j] = Fraction(a)
            if i:
                matrix[i][i] = Fraction(diagonal)
        return matrix

    explicit, implicit_ = square(implicit._ARK_EXPLICIT), square(implicit._ARK_IMPLICIT, implicit._ARK_GAMMA)

    def times(matrix, vector):
        return [sum(matrix[i][j] * vector[j] for j in range(s)) for i in range(s)]

    def dot(u, v):
        return sum(a * b for a, b in zip(u, v))

    for matrix in (explicit, implicit_):
        assert max(abs(sum(row) - ci) for row, ci in zip(matrix, c)) < Fraction(1, 10 ** 12)
    for weights, order in ((implicit._ARK_B, 4), (implicit._ARK_B_HAT, 3)):
        w = [Fraction(x) for x in weights]
        conditions = [dot(w, [1] * s) - 1, dot(w, c) - Fraction(1, 2), dot(w, [x * x for x in c]) - Fraction(1, 3)]
        conditions += [dot(w, times(a, c)) - Fraction(1, 6) for a in (explicit, implicit_)]
        if order == 4:
            conditions.append(dot(w, [x ** 3 for x in c]) - Fraction(1, 4))
            for a in (explicit, implicit_):
                conditions += [dot([wi * ci for wi, ci in zip(w, c)], times(a, c)) - Fraction(1, 8),
                               dot(w, times(a, [x * x for x in c])) - Fraction(1, 12)]
                conditions += [dot(w, times(a, times(b, c))) - Fraction(1, 24) for b in (explicit, implicit_)]
        assert max(abs(x) for x in conditions) < Fraction(1, 10 ** 12), conditions


def reaction_diffusion_1d(points=101):
    """u_t = u_xx + u - u**3 between cold walls: stiff diffusion, non-stiff reaction."""
    grid = Grid(x=(0.0, 1.0, points))
    model = Model("bistable", grid)
    u = model.fields("u")
    (x,) = grid.coords
    model.equations(Eq(Dt(u), u.diff(x, 2) + 10 * (u - u ** 3)))
    model.initial(u=sympy.sin(sympy.pi * x) + sympy.Rational(1, 2) * sympy.sin(3 * sympy.pi * x))
    model.dirichlet(u, x=0.0, value=0)
    model.dirichlet(u, x=1.0, value=0)
    return model


def test_the_linear_part_is_the_state_independent_jacobian():
    heat = system_of(load_model("heat_1d").with_points(x=21))
    y = heat.initial_values()
    J = heat.jacobian(0.0, y)
    assert np.abs((heat.linear_part() - J).toarray()).max() <= 1e-14 * np.abs(J).max()    # a linear model
    system = system_of(reaction_diffusion_1d(21))
    y = system.initial_values()
    rest = (system.jacobian(0.0, y) - system.linear_part()).toarray()
    off_diagonal = rest - np.diag(np.diag(rest))                         # only -30 u**2 on the diagonal
    assert np.abs(off_diagonal).max() <= 1e-14 * np.abs(system.linear_part()).max()
    assert np.allclose(np.diag(rest), -30 * y ** 2)


def test_imex_has_order_4_at_steps_far_above_the_explicit_limit():
    from symsim.implicit import ImexArk
    system = system_of(reaction_diffusion_1d(101))
    y0 = system.initial_values()
    reference = integrate.solve_ivp(system.f, (0, 0.2), y0, method="Radau", rtol=1e-12, atol=1e-14,
                                    jac=lambda t, y: system.jacobian(t, y, copy=True)).y[:, -1]
    errors = []
    for steps in (5, 10, 20, 40):
        stepper, y = ImexArk(system), y0.copy()
        for n in range(steps):
            y, _ = stepper._step(n * 0.2 / steps, y, 0.2 / steps)
        errors.append(np.abs(y - reference).max())
    assert 0.2 / 40 > 50 * 2.78 / 4e4            # RK4 is stable to 7e-5 at h = 1/100
    assert min(observed_orders(errors[1:])) >= 3.5, errors


def test_imex_saves_between_steps_are_interpolated_to_the_methods_accuracy():
    model = reaction_diffusion_1d(51)
    dense = symsim.simulate(model, t_end=0.3, method="imex-ark", saves=30, rtol=1e-8, atol=1e-10)
    reference = symsim.simulate(model, t_end=0.3, method="radau", saves=30, rtol=1e-11, atol=1e-13)
    assert np.abs(dense["u"] - reference["u"]).max() < 1e-6
    sparse_saves = symsim.simulate(model, t_end=0.3, method="imex-ark", saves=3, rtol=1e-8, atol=1e-10)
    assert dense.stats["steps"] == sparse_saves.stats["steps"]      # saves do not cut steps
