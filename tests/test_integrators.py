"""Tests of symsim.integrators: convergence orders, dopri5 control, constraints, allocation, stability."""

import math
import tracemalloc

import numpy as np
import pytest

from symsim.errors import SolverError
from symsim.integrators import AdaptiveStepper, FixedStepper, initial_step_guess
from symsim.tableaus import METHODS, ORDER, STABILITY, stability_polynomial

FIXED = ("euler", "ssprk3", "rk4")


def no_constraint(t, y):
    pass


# --- problems with exact solutions -------------------------------------------------


def forced_decay_rhs(t, y, out):
    """y' = -y + sin t: non-autonomous, so wrong stage times c_i show up as lost order."""
    np.negative(y, out=out)
    out += math.sin(t)


def forced_decay_exact(t, y0=1.0):
    return 0.5 * (math.sin(t) - math.cos(t)) + (y0 + 0.5) * math.exp(-t)


def twist_rhs(t, y, out):
    """x' = -r^2 y, y' = r^2 x: nonlinear, r is conserved, so it rotates at angular speed r0^2."""
    r2 = y[0] * y[0] + y[1] * y[1]
    out[0] = -r2 * y[1]
    out[1] = r2 * y[0]


def twist_exact(t, y0=(1.0, 0.5)):
    r2 = y0[0] ** 2 + y0[1] ** 2
    c, s = math.cos(r2 * t), math.sin(r2 * t)
    return np.array([c * y0[0] - s * y0[1], s * y0[0] + c * y0[1]])


def van_der_pol_rhs(t, y, out, mu=1.0):
    out[0] = y[1]
    out[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0]


def run_fixed(method, rhs, y0, t_end, n):
    y = np.array(y0, dtype=float)
    st = FixedStepper(method, rhs, no_constraint, y)
    dt = t_end / n
    for i in range(n):
        st.step(i * dt, y, dt)
    return y, st


def observed_orders(method, rhs, y0, exact, t_end, ns):
    errs = [np.max(np.abs(run_fixed(method, rhs, y0, t_end, n)[0] - exact)) for n in ns]
    return [math.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)]


# step counts in the asymptotic range, coarse enough to stay clear of round-off
NS = {"euler": [160, 320, 640, 1280], "ssprk3": [40, 80, 160, 320], "rk4": [20, 40, 80, 160]}


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_methods_reach_their_order_on_a_forced_scalar_ode(method):
    orders = observed_orders(method, forced_decay_rhs, [1.0], forced_decay_exact(1.0), 1.0, NS[method])
    assert all(abs(p - ORDER[method]) < 0.25 for p in orders), orders


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_methods_reach_their_order_on_a_nonlinear_2d_system(method):
    orders = observed_orders(method, twist_rhs, [1.0, 0.5], twist_exact(3.0), 3.0, NS[method])
    assert all(abs(p - ORDER[method]) < 0.25 for p in orders), orders


def test_ssprk3_matches_the_shu_osher_form():
    y0 = np.array([1.0, 0.5])
    dt = 0.3
    y, _ = run_fixed("ssprk3", twist_rhs, y0, dt, 1)

    def L(u):
        out = np.empty(2)
        twist_rhs(0.0, u, out)
        return out

    u1 = y0 + dt * L(y0)
    u2 = 0.75 * y0 + 0.25 * (u1 + dt * L(u1))
    expected = y0 / 3 + 2 / 3 * (u2 + dt * L(u2))
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("method", FIXED)
def test_fixed_stepper_counts_one_rhs_per_stage(method):
    _, st = run_fixed(method, forced_decay_rhs, [1.0], 1.0, 10)
    assert st.n_rhs == 10 * {"euler": 1, "ssprk3": 3, "rk4": 4}[method]


def test_fixed_stepper_works_on_multidimensional_state():
    y = np.full((2, 3, 4), 1.0)
    st = FixedStepper("rk4", forced_decay_rhs, no_constraint, y)
    for i in range(20):
        st.step(i * 0.1, y, 0.1)
    np.testing.assert_allclose(y, forced_decay_exact(2.0), rtol=1e-5)


def test_unknown_method_raises_solver_error_naming_it_and_the_valid_ones():
    with pytest.raises(SolverError, match="'rk5'") as info:
        FixedStepper("rk5", forced_decay_rhs, no_constraint, np.zeros(3))
    for m in FIXED:
        assert repr(m) in str(info.value)


def test_dopri5_as_fixed_stepper_points_to_adaptive_stepper():
    with pytest.raises(SolverError, match="AdaptiveStepper"):
        FixedStepper("dopri5", forced_decay_rhs, no_constraint, np.zeros(3))


# --- dopri5 ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def van_der_pol_reference():
    solve_ivp = pytest.importorskip("scipy.integrate").solve_ivp
    sol = solve_ivp(
        lambda t, y: [y[1], (1 - y[0] ** 2) * y[1] - y[0]],
        (0.0, 5.0), [2.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-12,
    )
    return sol.y[:, -1]


def dopri5_van_der_pol(rtol):
    y = np.array([2.0, 0.0])
    st = AdaptiveStepper(van_der_pol_rhs, no_constraint, y, rtol=rtol, atol=rtol * 1e-3)
    st.advance(0.0, y, 5.0, 1e-3)
    return y, st


def test_dopri5_error_shrinks_at_least_100x_from_rtol_1e_4_to_1e_8(van_der_pol_reference):
    coarse = np.max(np.abs(dopri5_van_der_pol(1e-4)[0] - van_der_pol_reference))
    fine = np.max(np.abs(dopri5_van_der_pol(1e-8)[0] - van_der_pol_reference))
    assert fine * 100 <= coarse, (coarse, fine)
    assert fine < 1e-6


def test_dopri5_lands_exactly_on_each_target_time(van_der_pol_reference):
    y = np.array([2.0, 0.0])
    seen = []
    st = AdaptiveStepper(van_der_pol_rhs, lambda t, y: seen.append(t), y, rtol=1e-9, atol=1e-12)
    t, dt = 0.0, 0.1
    for target in np.linspace(0.0, 5.0, 8)[1:]:  # targets not on any step grid
        dt = st.advance(t, y, target, dt)
        assert seen[-1] == target  # final state constrained at exactly t_target
        t = target
    np.testing.assert_allclose(y, van_der_pol_reference, atol=1e-7)


def test_dopri5_uses_fsal_one_fresh_rhs_per_advance_then_six_per_step():
    y = np.array([2.0, 0.0])
    st = AdaptiveStepper(van_der_pol_rhs, no_constraint, y, rtol=1e-6)
    st.advance(0.0, y, 2.0, 0.5)
    st.advance(2.0, y, 3.0, 0.5)
    assert st.accepted > 0
    assert st.n_rhs == 2 + 6 * (st.accepted + st.rejected)


def test_dopri5_rejects_a_too_large_first_step_on_a_sharp_transient():
    # y' = -50 (y - sin t): a fast decay from y=1 onto a slow manifold
    def rhs(t, y, out):
        np.subtract(y, math.sin(t), out=out)
        out *= -50.0

    y = np.array([1.0])
    st = AdaptiveStepper(rhs, no_constraint, y, rtol=1e-8, atol=1e-10)
    st.advance(0.0, y, 1.0, 1.0)
    assert st.rejected >= 1
    lam = 50.0
    exact = (lam**2 * math.sin(1) - lam * math.cos(1)) / (lam**2 + 1) + (1 + lam / (lam**2 + 1)) * math.exp(-lam)
    assert abs(y[0] - exact) < 1e-7


def test_dopri5_returns_the_unclamped_step_after_landing_on_a_close_target():
    y = np.array([1.0])
    st = AdaptiveStepper(forced_decay_rhs, no_constraint, y, rtol=1e-6)
    dt = st.advance(0.0, y, 1e-6, 0.1)
    assert dt >= 0.1
    assert st.accepted == 1


def test_dopri5_recovers_from_non_finite_stages_by_shrinking_the_step():
    # rhs is undefined (NaN) above y=3, e.g. a sqrt of a negative; exact path stays below e
    def rhs(t, y, out):
        out[:] = y
        if y[0] > 3.0:
            out[:] = np.nan

    y = np.array([1.0])
    st = AdaptiveStepper(rhs, no_constraint, y, rtol=1e-9, atol=1e-12)
    st.advance(0.0, y, 1.0, 5.0)
    assert st.rejected >= 1
    assert abs(y[0] - math.e) < 1e-7


def test_dopri5_raises_step_size_underflow_on_blow_up():
    def rhs(t, y, out):  # y' = y^2 from y=1 blows up at t=1
        np.multiply(y, y, out=out)

    y = np.array([1.0])
    st = AdaptiveStepper(rhs, no_constraint, y)
    with np.errstate(all="ignore"), pytest.raises(SolverError, match="step size underflow at t="):
        st.advance(0.0, y, 2.0, 0.1)


def test_dopri5_raises_when_max_steps_is_exceeded():
    y = np.array([2.0, 0.0])
    st = AdaptiveStepper(van_der_pol_rhs, no_constraint, y, rtol=1e-10, max_steps=5)
    with pytest.raises(SolverError, match="maximum number of steps"):
        st.advance(0.0, y, 5.0, 0.01)


def ghost_problem():
    """Element 0 is a ghost cell: its derivative is garbage (NaN), constrain resets it to 0."""

    def rhs(t, y, out):
        out[0] = np.nan
        np.negative(y[1:], out=out[1:])

    def constrain(t, y):
        y[0] = 0.0

    return rhs, constrain


def test_dopri5_error_norm_only_looks_at_interior_points():
    rhs, constrain = ghost_problem()
    y = np.array([0.0, 1.0, 2.0])
    st = AdaptiveStepper(rhs, constrain, y, rtol=1e-9, atol=1e-12, interior=lambda a: a[1:])
    st.advance(0.0, y, 1.0, 0.1)
    np.testing.assert_allclose(y, [0.0, math.exp(-1), 2 * math.exp(-1)], rtol=1e-8)


def test_dopri5_accepts_an_interior_that_returns_copies():
    results = []
    for interior in (lambda a: a[1:], lambda a: a[[1, 2]]):  # view, then fancy-index copy
        rhs, constrain = ghost_problem()
        y = np.array([0.0, 1.0, 2.0])
        st = AdaptiveStepper(rhs, constrain, y, rtol=1e-9, atol=1e-12, interior=interior)
        st.advance(0.0, y, 1.0, 0.1)
        results.append((y.tolist(), st.accepted, st.rejected))
    assert results[0] == results[1]


def test_dopri5_error_norm_defaults_to_every_point():
    rhs, constrain = ghost_problem()
    y = np.array([0.0, 1.0, 2.0])
    st = AdaptiveStepper(rhs, constrain, y)
    with np.errstate(invalid="ignore"), pytest.raises(SolverError, match="step size underflow"):
        st.advance(0.0, y, 1.0, 0.1)


def test_dopri5_without_initial_step_uses_the_starting_step_heuristic():
    y = np.array([1.0, 0.5])
    st = AdaptiveStepper(twist_rhs, no_constraint, y, rtol=1e-10, atol=1e-12)
    st.advance(0.0, y, 3.0, None)
    np.testing.assert_allclose(y, twist_exact(3.0), atol=1e-8)
    h = initial_step_guess(twist_rhs, no_constraint, 0.0, np.array([1.0, 0.5]), 1e-6, 1e-9)
    assert 1e-4 < h < 1.0


# --- constraints ----------------------------------------------------------------------


def pinned_problem():
    """y[0] is pinned to sin t by constrain; y[1]' = y[0], so y[1] = 1 - cos t."""
    bad_inputs = []

    def rhs(t, y, out):
        if y[0] != math.sin(t):
            bad_inputs.append((t, y[0]))
        out[0] = 0.0  # the pin is not evolved: only constrain can move it
        out[1] = y[0]

    def constrain(t, y):
        y[0] = math.sin(t)

    return rhs, constrain, bad_inputs


@pytest.mark.parametrize("method", FIXED)
def test_fixed_stepper_constrains_every_stage_input_and_the_final_state(method):
    rhs, constrain, bad_inputs = pinned_problem()
    y = np.array([0.0, 0.0])
    st = FixedStepper(method, rhs, constrain, y)
    t, dt = 0.0, 0.026
    for _ in range(50):
        st.step(t, y, dt)
        t += dt  # the stepper constrained y at exactly this t + dt
    assert y[0] == math.sin(t)
    assert bad_inputs == []
    assert abs(y[1] - (1 - math.cos(t))) < (2e-2 if method == "euler" else 1e-5)


def test_adaptive_stepper_constrains_every_stage_input_and_the_final_state():
    rhs, constrain, bad_inputs = pinned_problem()
    y = np.array([0.0, 0.0])
    st = AdaptiveStepper(rhs, constrain, y, rtol=1e-10, atol=1e-12)
    st.advance(0.0, y, 1.3, 0.1)
    assert y[0] == math.sin(1.3)
    assert bad_inputs == []
    assert abs(y[1] - (1 - math.cos(1.3))) < 1e-8


# --- allocations ----------------------------------------------------------------------


def decay_rhs(t, y, out):
    np.negative(y, out=out)


def pin_first(t, y):
    y[0] = 0.0


def peak_growth(fn):
    tracemalloc.start()
    try:
        fn()  # warm-up: first-call caches are not per-step allocations
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_does_not_allocate_arrays(method):
    y = np.ones(100_000)
    st = FixedStepper(method, decay_rhs, pin_first, y)

    def hundred_steps():
        for i in range(100):
            st.step(i * 1e-3, y, 1e-3)

    assert peak_growth(hundred_steps) < y.nbytes / 50


def test_adaptive_advance_does_not_allocate_arrays():
    y = np.ones(100_000)
    st = AdaptiveStepper(decay_rhs, pin_first, y, rtol=1e-12, atol=1e-12, interior=lambda a: a[1:])
    t = [0.0]

    def some_steps():
        st.advance(t[0], y, t[0] + 0.05, 1e-3)
        t[0] += 0.05

    assert peak_growth(some_steps) < y.nbytes / 50
    assert st.accepted >= 10


# --- stability extents ----------------------------------------------------------------


def amplification_by_stepping(method, z):
    """R(z) measured by one stepper step on y' = z y written as a real 2-D system (dt = 1)."""
    a, b = z.real, z.imag

    def rhs(t, y, out):
        out[0] = a * y[0] - b * y[1]
        out[1] = b * y[0] + a * y[1]

    y = np.array([1.0, 0.0])
    FixedStepper(method, rhs, no_constraint, y).step(0.0, y, 1.0)
    return complex(y[0], y[1])


@pytest.mark.parametrize("method", FIXED)
def test_stability_polynomial_matches_one_step_of_the_stepper(method):
    R = stability_polynomial(method)
    for z in (-1.0, 0.5j, -2.0 + 1.5j, 2.5j):
        assert abs(R(z) - amplification_by_stepping(method, complex(z))) < 1e-12


def test_dopri5_stability_polynomial_is_the_known_one():
    R = stability_polynomial("dopri5")
    for z in (-1.0, 0.5j, -2.0 + 1.5j, -3.3):
        known = sum(z**k / math.factorial(k) for k in range(6)) + z**6 / 600
        assert abs(R(z) - known) < 1e-12


def first_exit(R, direction, upto=6.0, n=60_001):
    """Smallest |z| along ``direction`` where |R(z)| > 1 (scan, then bisect)."""
    xs = np.linspace(0.0, upto, n)[1:]
    hi = xs[np.argmax(np.abs(R(direction * xs)) > 1 + 1e-13)]
    lo = hi - upto / (n - 1)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if abs(R(direction * mid)) <= 1 + 1e-13 else (lo, mid)
    return hi


@pytest.mark.parametrize("method", METHODS)
def test_stability_extents_are_within_1_percent_below_the_true_boundary(method):
    R = stability_polynomial(method)
    real, imag = STABILITY[method]
    true_real, true_imag = first_exit(R, -1.0), first_exit(R, 1j)
    assert true_real * 0.99 <= real <= true_real
    if true_imag < 1e-3:  # forward Euler: no imaginary-axis interval at all
        assert imag == 0.0
    else:
        assert true_imag * 0.99 <= imag <= true_imag
    # the stated extents themselves are inside the region
    assert abs(R(-real)) <= 1.0
    assert abs(R(1j * imag)) <= 1.0
