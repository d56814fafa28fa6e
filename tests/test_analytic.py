"""Simulations checked against exact solutions.

Where the semi-discrete problem has an exact eigenmode (a sine on a periodic
grid, or sin(pi x) between Dirichlet walls at space order 2), the test also
predicts the fully discrete answer -- the continuous decay/phase replaced by the
stencil's symbol and the Runge-Kutta stability polynomial R(z) -- and demands
agreement to round-off.  That separates "the scheme is implemented exactly as
designed" (tight) from "the scheme converges to the PDE" (truncation error,
checked with bounds and refinement ratios).
"""

import math
import re

import numpy as np
import pytest
import sympy
from scipy.integrate import solve_ivp
from sympy import Abs, Eq, cos, exp, pi, sin

import symsim
from symsim import Dt, Grid, Model, laplace

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


def rk4_factor(z):
    """Stability polynomial of classical RK4 (z = lambda * dt), written out independently."""
    return 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24


def steps_taken(result):
    """Number of fixed steps between consecutive saves and that step (simulate equalizes steps)."""
    dt = result.stats["dt"]
    per_save = (result.t[1] - result.t[0]) / dt
    assert abs(per_save - round(per_save)) < 1e-9
    return dt, np.round(result.t / dt)


# symbols of the centered second-derivative stencils, h^2 * (stencil applied to e^{i theta j})
SECOND_DERIVATIVE_SYMBOL = {
    2: lambda th: 2 * np.cos(th) - 2,
    4: lambda th: -np.cos(2 * th) / 6 + 8 * np.cos(th) / 3 - 5 / 2,
}
# modified wavenumbers of the centered first-derivative stencils, h * k_h
FIRST_DERIVATIVE_SYMBOL = {
    2: lambda th: np.sin(th),
    4: lambda th: (8 * np.sin(th) - np.sin(2 * th)) / 6,
}


# -- heat equation -------------------------------------------------------------------


def heat_1d(points, D=1.0):
    grid = Grid(x=(0.0, 1.0, points))
    model = Model("heat_1d", grid)
    u = model.fields("u")
    Dp = model.params(D=D)
    (x,) = grid.coords
    model.equations(Eq(Dt(u), Dp * u.diff(x, 2)))
    model.initial(u=sin(pi * x))
    model.dirichlet(u, x=0.0, value=0)
    model.dirichlet(u, x=1.0, value=0)
    return model


def test_heat_sine_mode_between_walls_decays_as_the_discrete_and_the_exact_prediction():
    # sin(pi x) is an exact eigenvector of the order-2 Dirichlet Laplacian, with
    # eigenvalue -(4/h^2) sin^2(pi h / 2); RK4 multiplies it by R(-lambda dt) per step
    for points in (17, 33):
        result = symsim.simulate(heat_1d(points), t_end=0.1, saves=4, method="rk4", space_order=2)
        x = result["x"]
        h = x[1] - x[0]
        assert result["u"].shape == (5, points)
        mode = np.sin(np.pi * x)
        lam_h = 4 / h**2 * np.sin(np.pi * h / 2) ** 2
        dt, n = steps_taken(result)
        discrete = rk4_factor(-lam_h * dt) ** n
        np.testing.assert_allclose(result["u"], discrete[:, None] * mode, rtol=0, atol=1e-13)

        exact = np.exp(-np.pi**2 * result.t)[:, None] * mode
        # the leading error is the eigenvalue error (pi h)^2/12 relative, times lambda t e^{-lambda t}
        bound = 1.2 * (np.pi * h) ** 2 / 12 * np.pi**2 * np.max(result.t * np.exp(-np.pi**2 * result.t))
        error = np.abs(result["u"] - exact).max()
        assert 0.5 * bound < error < bound, (points, error, bound)


def heat_with_moving_wall_values(points, k=2.0, phase=0.5):
    """u = exp(-D k^2 t) sin(k x + phase): neither wall is a node of odd symmetry, so ghost
    extrapolation errors are not cancelled, and both wall values change in time."""
    grid = Grid(x=(0.0, 1.0, points))
    model = Model("heat_walls", grid)
    u = model.fields("u")
    D = model.params(D=1.0)
    (x,) = grid.coords
    exact = exp(-D * k**2 * symsim.t) * sin(k * x + phase)
    model.equations(Eq(Dt(u), D * u.diff(x, 2)))
    model.initial(u=exact)
    model.dirichlet(u, x=0.0, value=exact)
    model.dirichlet(u, x=1.0, value=exact)
    return model


@pytest.mark.parametrize("space_order, finest_error, ratio_range", [(2, 3e-5, (3.6, 4.4)), (4, 5e-9, (11.0, 20.0))])
def test_heat_with_time_dependent_walls_converges_at_the_space_order(space_order, finest_error, ratio_range):
    k, phase = 2.0, 0.5
    errors = []
    for points in (17, 33, 65):
        result = symsim.simulate(heat_with_moving_wall_values(points, k, phase), t_end=0.2, saves=2,
                                 space_order=space_order)
        exact = np.exp(-k**2 * result.t)[:, None] * np.sin(k * result["x"] + phase)
        np.testing.assert_allclose(result["u"][:, [0, -1]], exact[:, [0, -1]], rtol=0, atol=1e-14)
        errors.append(np.abs(result["u"] - exact).max())
    assert errors[-1] < finest_error, errors
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    low, high = ratio_range
    assert all(low < r < high for r in ratios), (errors, ratios)


def heat_2d_periodic(points, D=1.0):
    grid = Grid(x=(0.0, 1.0, points), y=(0.0, 1.0, points), periodic=True)
    model = Model("heat_2d_periodic", grid)
    u = model.fields("u")
    Dp = model.params(D=D)
    x, y = grid.coords
    model.equations(Eq(Dt(u), Dp * laplace(u)))
    model.initial(u=sin(2 * pi * x) * cos(4 * pi * y))
    return model


@pytest.mark.parametrize("space_order", [2, 4])
def test_heat_2d_periodic_mode_matches_the_stencil_symbol_and_the_exact_decay(space_order):
    points = 32
    result = symsim.simulate(heat_2d_periodic(points), t_end=0.02, saves=4, space_order=space_order)
    x, y = result["x"], result["y"]
    assert result["u"].shape == (5, points, points)
    h = x[1] - x[0]
    assert h == pytest.approx(1 / points)  # periodic: the end point is not a grid point
    mode = np.sin(2 * np.pi * x)[:, None] * np.cos(4 * np.pi * y)[None, :]
    symbol = SECOND_DERIVATIVE_SYMBOL[space_order]
    lam_h = -(symbol(2 * np.pi * h) + symbol(4 * np.pi * h)) / h**2
    dt, n = steps_taken(result)
    discrete = rk4_factor(-lam_h * dt) ** n
    np.testing.assert_allclose(result["u"], discrete[:, None, None] * mode, rtol=0, atol=1e-13)

    lam = 20 * np.pi**2
    exact = np.exp(-lam * result.t)[:, None, None] * mode
    # eigenvalue error of the stencil: lam * (k h)^p * c_p, with c_2 = 1/12, c_4 = 1/90
    rel_eig = {2: (4 * np.pi * h) ** 2 / 12, 4: (4 * np.pi * h) ** 4 / 90}[space_order]
    bound = rel_eig * lam * np.max(result.t * np.exp(-lam * (1 - rel_eig) * result.t))
    assert np.abs(result["u"] - exact).max() < bound


def test_heat_with_dopri5_follows_the_semi_discrete_decay_to_its_tolerance():
    points = 33
    result = symsim.simulate(heat_1d(points), t_end=0.1, saves=4, method="dopri5", rtol=1e-8, atol=1e-12)
    x = result["x"]
    h = x[1] - x[0]
    lam_h = 4 / h**2 * np.sin(np.pi * h / 2) ** 2
    semi_discrete = np.exp(-lam_h * result.t)[:, None] * np.sin(np.pi * x)
    assert np.abs(result["u"] - semi_discrete).max() < 1e-7
    np.testing.assert_array_equal(result["u"][:, [0, -1]], 0.0)  # walls stay pinned


# -- advection -----------------------------------------------------------------------


def advection(points, c=1.0):
    grid = Grid(x=(0.0, 1.0, points), periodic=True)
    model = Model("advection", grid)
    u = model.fields("u")
    cp = model.params(c=c)
    (x,) = grid.coords
    model.equations(Eq(Dt(u), -cp * u.diff(x)))
    model.initial(u=sin(2 * pi * x))
    return model


def test_advection_of_a_sine_over_one_period_returns_to_the_initial_profile():
    errors = {}
    for points in (32, 64):
        result = symsim.simulate(advection(points), t_end=1.0, saves=1, method="rk4", space_order=4)
        x = result["x"]
        h = x[1] - x[0]
        start, end = result["u"][0], result["u"][-1]
        np.testing.assert_allclose(start, np.sin(2 * np.pi * x), atol=1e-15)
        # the fully discrete solution: e^{ikx} times R(-i c k_h dt)^n
        k_h = FIRST_DERIVATIVE_SYMBOL[4](2 * np.pi * h) / h
        dt, n = steps_taken(result)
        predicted = np.imag(rk4_factor(-1j * k_h * dt) ** n[-1] * np.exp(2j * np.pi * x))
        np.testing.assert_allclose(end, predicted, rtol=0, atol=1e-12)
        errors[points] = np.abs(end - start).max()
    # spatial phase error ~ 2 pi (kh)^4/30 ~ 2e-5 at 64 points, RK4's about the same at its dt
    assert errors[64] < 1e-4, errors
    assert errors[32] / errors[64] > 12, errors  # dt shrinks with h, so both errors are O(h^4)


def test_advection_at_space_order_2_lags_by_the_modified_wavenumber():
    # a genuinely wrong phase, not just "small error": order 2 lags by (1 - sin(kh)/(kh)) per unit phase
    points = 32
    result = symsim.simulate(advection(points), t_end=1.0, saves=1, method="rk4", space_order=2, dt=1e-3)
    x = result["x"]
    h = x[1] - x[0]
    k = 2 * np.pi
    lag = k - np.sin(k * h) / h           # phase lag after one period, radians
    expected = np.sin(k * x + lag)        # u = sin(k x - k_h t) at t = 1, and k * 1 = 2 pi
    np.testing.assert_allclose(result["u"][-1], expected, atol=1e-6)
    assert np.abs(result["u"][-1] - result["u"][0]).max() > 0.03


# -- Lorenz --------------------------------------------------------------------------


def lorenz_reference(times):
    sigma, rho, beta = 10.0, 28.0, 8 / 3

    def f(t, y):
        return [sigma * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - beta * y[2]]

    solution = solve_ivp(f, (0.0, times[-1]), [1.0, 1.0, 1.0], method="DOP853",
                         rtol=1e-12, atol=1e-12, t_eval=times)
    assert solution.success
    return solution.y.T


def lorenz_state(result):
    return np.stack([result["x"], result["y"], result["z"]], axis=1)


def relative_error(y, ref):
    """Largest over saved times of |y - ref| / |ref| (Euclidean over the components)."""
    return float(np.max(np.linalg.norm(y - ref, axis=1) / np.linalg.norm(ref, axis=1)))


@pytest.fixture(scope="module")
def lorenz():
    return symsim.load_model(EXAMPLES / "lorenz.py")


def test_lorenz_dopri5_agrees_with_scipy_dop853_to_what_rtol_implies(lorenz):
    coarse = symsim.simulate(lorenz, t_end=1.0, saves=10, method="dopri5", rtol=1e-6, atol=1e-9)
    ref = lorenz_reference(coarse.t)
    assert coarse["x"].shape == (11,)
    np.testing.assert_allclose(lorenz_state(coarse)[0], [1.0, 1.0, 1.0])
    coarse_error = relative_error(lorenz_state(coarse), ref)
    # rtol bounds the local error per step; ~60 steps and the (mildly) unstable flow
    # over t = 1 amplify it to a global error of the order of rtol, not far above
    assert coarse_error < 5e-6, coarse_error

    fine = symsim.simulate(lorenz, t_end=1.0, saves=10, method="dopri5", rtol=1e-9, atol=1e-12)
    fine_error = relative_error(lorenz_state(fine), ref)
    assert fine_error < 5e-9, fine_error
    # tolerance proportionality: 1000x tighter rtol buys at least 100x accuracy
    assert coarse_error / fine_error > 100


def test_lorenz_rk4_with_small_dt_agrees_with_scipy_and_converges_at_fourth_order(lorenz):
    errors = []
    for dt in (2e-3, 1e-3):
        result = symsim.simulate(lorenz, t_end=1.0, saves=10, method="rk4", dt=dt)
        assert result.stats["dt"] == pytest.approx(dt)
        errors.append(relative_error(lorenz_state(result), lorenz_reference(result.t)))
    assert errors[1] < 1e-8, errors
    assert 12 < errors[0] / errors[1] < 20, errors


# -- dopri5 statistics ---------------------------------------------------------------


def test_dopri5_reports_plausible_accepted_and_rejected_counts(lorenz):
    saves = 10
    runs = {}
    for rtol in (1e-6, 1e-9):
        stats = symsim.simulate(lorenz, t_end=1.0, saves=saves, method="dopri5", rtol=rtol, atol=1e-12).stats
        assert stats["method"] == "dopri5"
        assert stats["rtol"] == rtol and stats["atol"] == 1e-12
        accepted, rejected = stats["accepted"], stats["rejected"]
        assert isinstance(accepted, int) and isinstance(rejected, int)
        assert accepted >= saves          # every save interval takes at least one step
        assert 0 <= rejected < accepted
        # six new stages per attempted step (FSAL), one fresh first stage per save interval,
        # and possibly one evaluation for a starting-step guess
        attempted = accepted + rejected
        assert stats["rhs_evaluations"] - (6 * attempted + saves) in (0, 1), stats
        assert "steps" not in stats or stats["steps"] == accepted
        runs[rtol] = accepted
    # a 5th-order error estimate: steps grow like rtol^(-1/5), i.e. ~4x for 1000x
    ratio = runs[1e-9] / runs[1e-6]
    assert 2.5 < ratio < 6.5, runs


def test_dopri5_on_a_stiff_decay_is_stability_limited_and_rejects_steps():
    # y' = -k (y - cos t) with k = 500 and a loose rtol: accuracy would allow long steps,
    # but dopri5's real stability interval (~3.3) caps dt near 3.3/k, so the controller
    # keeps hitting the limit, and some steps are rejected on the way
    k, t_end = 500.0, 2.0
    model = Model("stiff_decay")
    y = model.fields("y")
    kp = model.params(k=k)
    model.equations(Eq(Dt(y), -kp * (y - sympy.cos(symsim.t))))
    model.initial(y=1.0)
    result = symsim.simulate(model, t_end=t_end, saves=2, method="dopri5", rtol=1e-3, atol=1e-6)
    t = result.t
    exact = (k * k * np.cos(t) + k * np.sin(t)) / (k * k + 1) + np.exp(-k * t) / (k * k + 1)
    np.testing.assert_allclose(result["y"], exact, rtol=1e-3, atol=1e-6)
    stats = result.stats
    limit_steps = t_end * k / 3.3066
    assert 0.95 * limit_steps < stats["accepted"] < 1.5 * limit_steps, stats
    assert stats["rejected"] > 0, stats


# -- Burgers -------------------------------------------------------------------------

BURGERS_NU = 0.05


def cole_hopf_burgers_solution():
    """u = -2 nu phi_x / phi with phi a sum of heat-equation exponentials (Cole-Hopf).

    Three states 0.8 | 0.2 | -0.4 separated by two viscous shocks (at x = -0.5 and
    x = 0.2 at t = 0) moving at 0.5 and -0.1: they approach and nearly merge by t = 1.
    Returns the SymPy expression in the symbols x and t.
    """
    x, t = sympy.symbols("x t")
    nu = BURGERS_NU
    states, shocks = (0.8, 0.2, -0.4), (-0.5, 0.2)
    shifts = [0.0]
    for i, position in enumerate(shocks):   # neighbouring exponents equal at each shock
        shifts.append(shifts[-1] + (states[i + 1] - states[i]) * position / (2 * nu))
    phi = sum(exp(-a * x / (2 * nu) + a**2 * t / (4 * nu) + s) for a, s in zip(states, shifts))
    return -2 * nu * sympy.diff(phi, x) / phi, x, t


def test_cole_hopf_expression_solves_burgers():
    # the test's own exact solution, checked symbolically-numerically before it judges symsim
    u, x, t = cole_hopf_burgers_solution()
    residual = sympy.diff(u, t) + u * sympy.diff(u, x) - BURGERS_NU * sympy.diff(u, x, 2)
    f = sympy.lambdify((x, t), residual)
    xs, ts = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(0, 1, 5))
    assert np.abs(f(xs, ts)).max() < 1e-10


def burgers_model(points):
    u_exact, X, T = cole_hopf_burgers_solution()
    grid = Grid(x=(-1.0, 1.0, points))
    model = Model("burgers_cole_hopf", grid)
    u = model.fields("u")
    nu = model.params(nu=BURGERS_NU)
    (x,) = grid.coords
    exact = u_exact.subs({X: x, T: symsim.t})
    model.equations(Eq(Dt(u), -u * u.diff(x) + nu * u.diff(x, 2)))
    model.initial(u=exact)
    model.dirichlet(u, x=-1.0, value=exact)   # time-dependent wall values from the exact solution
    model.dirichlet(u, x=1.0, value=exact)
    return model


@pytest.mark.parametrize("space_order, sizes, max_error, min_ratio", [
    (2, (41, 81, 161), 2e-4, 3.5),
    (4, (41, 81), 1e-5, 12.0),
])
def test_burgers_matches_cole_hopf_and_the_error_shrinks_with_refinement(space_order, sizes, max_error, min_ratio):
    u_exact, X, T = cole_hopf_burgers_solution()
    exact = sympy.lambdify((X, T), u_exact)
    errors = []
    for points in sizes:
        result = symsim.simulate(burgers_model(points), t_end=1.0, saves=4, space_order=space_order)
        x, t = result["x"], result.t
        reference = exact(x[None, :], t[:, None])
        # the walls follow the exact time-dependent values
        np.testing.assert_allclose(result["u"][:, [0, -1]], reference[:, [0, -1]], rtol=0, atol=1e-12)
        errors.append(np.abs(result["u"] - reference).max())
    assert errors[-1] < max_error, errors
    ratios = [errors[i] / errors[i + 1] for i in range(len(errors) - 1)]
    assert all(r > min_ratio for r in ratios), (errors, ratios)
    # the shocks really did move: the final state is far from the initial one
    assert np.abs(result["u"][-1] - result["u"][0]).max() > 0.3


def test_the_burgers_example_converges_to_the_quadrature_cole_hopf_solution():
    """burgers_1d (-sin(pi x), nu = 0.01/pi: Raissi's PINN problem) against Cole-Hopf by Gauss-Hermite
    quadrature, the reference the PINN benchmark measures against: 4th-order convergence to it."""
    pytest.importorskip("torch")
    import runpy
    cole_hopf = runpy.run_path(str(EXAMPLES.parent / "benchmarks" / "pinn_accuracy.py"))["cole_hopf"]
    model = symsim.load_model(EXAMPLES / "burgers_1d.py")
    errors = []
    for points in (513, 1025):
        result = symsim.simulate(model.with_points(x=points), saves=4, method="rk4", space_order=4)
        exact = cole_hopf(np.asarray(result["x"]), np.asarray(result.t), model.parameters["nu"][1])
        errors.append(np.linalg.norm(result["u"] - exact) / np.linalg.norm(exact))
    assert errors[1] < 1e-4 and errors[0] / errors[1] > 10, errors


# -- sine-Gordon breather -------------------------------------------------------------


@pytest.fixture(scope="module")
def breather_run():
    return symsim.simulate(symsim.load_model(EXAMPLES / "sine_gordon_1d.py"))


def breather(x, t, omega=0.5):
    k = math.sqrt(1 - omega**2)
    return 4 * np.arctan(k * np.sin(omega * t) / (omega * np.cosh(k * x)))


def sine_gordon_energy(u, u_t, h):
    """sum h (u_t^2/2 + u_x^2/2 + 1 - cos u), with a 4th-order periodic u_x."""
    u_x = (8 * (np.roll(u, -1, -1) - np.roll(u, 1, -1)) - (np.roll(u, -2, -1) - np.roll(u, 2, -1))) / (12 * h)
    return h * np.sum(u_t**2 / 2 + u_x**2 / 2 + 1 - np.cos(u), axis=-1)


def test_sine_gordon_breather_energy_is_conserved(breather_run):
    result = breather_run
    assert set(result.fields) == {"u", "u_t"}
    assert result.t[-1] == pytest.approx(30.0)
    x = result["x"]
    h = x[1] - x[0]
    energy = sine_gordon_energy(result["u"], result["u_t"], h)
    k = math.sqrt(1 - 0.5**2)
    # the breather's energy is 16 k; at t = 0 (u = 0) the sum is spectrally accurate
    assert energy[0] == pytest.approx(16 * k, rel=1e-10)
    drift = np.abs(energy - energy[0]).max() / energy[0]
    assert drift < 1e-4, drift


def test_sine_gordon_breather_matches_the_exact_solution(breather_run):
    result = breather_run
    x = result["x"]
    for i in (10, 25, 37, 60):
        t = result.t[i]
        error = np.abs(result["u"][i] - breather(x, t)).max()
        assert error < 5e-4, (t, error)
    # u_t is the time derivative of u, not a separate field that merely looks right
    t = result.t[25]
    dt = 1e-6
    velocity = (breather(x, t + dt) - breather(x, t - dt)) / (2 * dt)
    assert np.abs(result["u_t"][25] - velocity).max() < 1e-3
    # the breather oscillates (period 4 pi): it is not at rest at the saves checked
    assert np.abs(result["u"][10]).max() > 1.0


# -- wave equation -------------------------------------------------------------------


def wave_model(points, c=1.5):
    grid = Grid(x=(0.0, 1.0, points))
    model = Model("wave", grid)
    u = model.fields("u")
    cp = model.params(c=c)
    (x,) = grid.coords
    model.equations(Eq(Dt(u, 2), cp**2 * u.diff(x, 2)))
    model.initial({u: sin(pi * x), Dt(u): sin(2 * pi * x)})
    model.dirichlet(u, x=0.0, value=0)
    model.dirichlet(u, x=1.0, value=0)
    return model


def test_wave_equation_standing_waves_match_the_fully_discrete_reduction():
    # Dt(u, 2) = c^2 u_xx becomes u' = u_t, u_t' = c^2 u_xx; for the mode sin(m pi x) at
    # space order 2 that is the 2x2 system [[0, 1], [-w_m^2, 0]], w_m = (2c/h) sin(m pi h / 2),
    # and one RK4 step multiplies it by sum_{j<=4} (dt A)^j / j!
    c, points = 1.5, 41
    result = symsim.simulate(wave_model(points, c), t_end=2.0, saves=8, space_order=2)
    assert set(result.fields) == {"u", "u_t"}
    x = result["x"]
    h = x[1] - x[0]
    dt, n = steps_taken(result)
    predicted_u = np.zeros_like(result["u"])
    predicted_ut = np.zeros_like(result["u_t"])
    for m, (a0, b0) in ((1, (1.0, 0.0)), (2, (0.0, 1.0))):
        w = 2 * c / h * np.sin(m * np.pi * h / 2)
        step = sum(np.linalg.matrix_power(dt * np.array([[0.0, 1.0], [-w * w, 0.0]]), j) / math.factorial(j)
                   for j in range(5))
        for i, count in enumerate(n):
            a, b = np.linalg.matrix_power(step, int(count)) @ [a0, b0]
            predicted_u[i] += a * np.sin(m * np.pi * x)
            predicted_ut[i] += b * np.sin(m * np.pi * x)
    np.testing.assert_allclose(result["u"], predicted_u, rtol=0, atol=1e-12)
    # u_t on the wall nodes is excluded: u is pinned there by its Dirichlet value, and
    # symsim evolves u_t there from extrapolated ghosts (it never feeds back into u)
    np.testing.assert_allclose(result["u_t"][:, 1:-1], predicted_ut[:, 1:-1], rtol=0, atol=1e-11)


@pytest.mark.parametrize("space_order, tolerance", [(2, 4e-3), (4, 3e-5)])
def test_wave_equation_standing_waves_match_the_exact_solution(space_order, tolerance):
    c = 1.5
    result = symsim.simulate(wave_model(41, c), t_end=2.0, saves=8, space_order=space_order)
    x, T = result["x"], result.t[:, None]
    exact = (np.sin(np.pi * x) * np.cos(c * np.pi * T)
             + np.sin(2 * np.pi * x) * np.sin(2 * c * np.pi * T) / (2 * c * np.pi))
    assert np.abs(result["u"] - exact).max() < tolerance
    np.testing.assert_array_equal(result["u"][:, [0, -1]], 0.0)


# -- failures ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_unstable_explicit_step_raises_solver_error_naming_the_field_and_a_time():
    # two fields: 'a' decays harmlessly, 'b' diffuses with dt ten times the Euler limit h^2/(2D)
    grid = Grid(x=(0.0, 1.0, 21))
    model = Model("unstable", grid)
    a, b = model.fields("a b")
    D = model.params(D=1.0)
    (x,) = grid.coords
    model.equations(Eq(Dt(a), -a), Eq(Dt(b), D * b.diff(x, 2)))
    model.initial(a=1.0, b=1 - Abs(2 * x - 1))
    model.dirichlet(b, x=0.0, value=0)
    model.dirichlet(b, x=1.0, value=0)
    h = 1 / 20
    dt = 10 * h * h / 2
    t_end = 1000 * dt
    with pytest.raises(symsim.SolverError) as info, pytest.warns(symsim.SymsimWarning, match="x the stable step"):
        symsim.simulate(model, t_end=t_end, dt=dt, method="euler", saves=4)
    message = str(info.value)
    assert "'b'" in message and "'a'" not in message
    found = re.search(r"t\s*[≈=~]\s*([0-9.eE+-]+)", message)
    assert found, message
    when = float(found.group(1))
    # the worst mode grows ~19x per step from O(1): past GROWTH_LIMIT within a few steps, reported at
    # the first check (every FINITE_CHECK_INTERVAL steps), long before it would overflow to NaN
    assert 0 < when <= symsim.solve.FINITE_CHECK_INTERVAL * dt * (1 + 1e-9), (when, message)
    assert "grew to" in message and "unstable" in message


def test_params_override_changes_the_decay_rate():
    model = heat_1d(33)
    default = symsim.simulate(model, t_end=0.05, saves=2)
    quarter = symsim.simulate(model, t_end=0.05, saves=2, params={"D": 0.25})
    assert default.params["D"] == 1.0 and quarter.params["D"] == 0.25
    middle = 16  # x = 0.5, where sin(pi x) = 1
    rate_default = -np.log(default["u"][-1, middle]) / 0.05
    rate_quarter = -np.log(quarter["u"][-1, middle]) / 0.05
    assert rate_default == pytest.approx(np.pi**2, rel=2e-3)
    assert rate_quarter == pytest.approx(np.pi**2 / 4, rel=2e-3)
    # and the model's own default is left alone
    assert model.parameters["D"][1] == 1.0


def test_unknown_param_name_raises_parameter_error_naming_it():
    with pytest.raises(symsim.ParameterError, match="'Dx'"):
        symsim.simulate(heat_1d(17), t_end=0.01, params={"Dx": 2.0})
