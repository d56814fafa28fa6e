"""The Numba CPU backend: same answers as the NumPy reference, a cache that works, ODE ensembles.

Every example model and every method runs a few steps on both backends from the
same initial state; the fused passes (stage combinations inside the stencil loop)
must agree with the reference steppers to round-off. The MMS convergence tests
run on this backend too (tests/test_convergence.py).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from checks import imported_modules, relative_difference

from symsim import compile_model, load_model
from symsim.errors import BackendError, OptionError, ParameterError
from symsim.ensemble import solve_ensemble
from symsim.integrators import AdaptiveStepper, CompiledStepper, FixedStepper
from symsim.stability import suggest_dt

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if p.name != "__init__.py")
STEPS = 12
#: relative agreement with the reference (max over fields of max|a-b| / max|a|)
ROUND_OFF = 1e-12


@pytest.fixture(scope="module", params=EXAMPLES)
def pair(request):
    model = load_model(request.param)
    return compile_model(model, target="numpy"), compile_model(model, target="numba")


def reference_steps(compiled, method, state, params, dt, steps):
    stepper = FixedStepper(method, lambda t, y, out: compiled.rhs(t, y, out, params),
                           lambda t, y: compiled.apply_boundaries(t, y, params), state)
    for n in range(steps):
        state = stepper.step(n * dt, state, dt)
    return state


@pytest.mark.slow
@pytest.mark.parametrize("method", ["euler", "ssprk3", "rk4"])
def test_fused_steps_match_the_numpy_reference(pair, method):
    reference, numba_model = pair
    params = reference.resolve_params()
    start = reference.initial_state(params)
    dt = suggest_dt(reference, start, params, method) or 1e-3
    expected = reference_steps(reference, method, start.copy(), params, dt, STEPS)

    state = numba_model.initial_state(params)
    np.testing.assert_array_equal(numba_model.padded(state), start)
    stepper = CompiledStepper(numba_model.stepper_function(method), numba_model.module.new_work(state, method),
                              method, params)
    for n in range(STEPS):
        state = stepper.step(n * dt, state, dt)
    assert np.isfinite(state).all()
    assert relative_difference(reference.interior(expected), numba_model.interior(state)) < ROUND_OFF


@pytest.mark.slow
def test_rhs_and_boundaries_match_the_numpy_reference(pair):
    reference, numba_model = pair
    params = reference.resolve_params()
    state = reference.initial_state(params)
    rng = np.random.default_rng(1)
    state = state + 0.01 * rng.standard_normal(state.shape) * (np.abs(state).max() + 1)
    expected, got = np.zeros_like(state), np.zeros_like(state)
    reference.rhs(0.3, state, expected, params)
    numba_model.rhs(0.3, state, got, params)
    assert relative_difference(expected, got) < ROUND_OFF
    a, b = state.copy(), state.copy()
    reference.apply_boundaries(0.3, a, params)
    numba_model.apply_boundaries(0.3, b, params)
    assert relative_difference(a, b) < ROUND_OFF


@pytest.mark.slow
def test_adaptive_steps_on_the_numba_rhs_match_the_reference(pair):
    reference, numba_model = pair
    params = reference.resolve_params()
    results = []
    for compiled in pair:
        state = compiled.initial_state(params)
        stepper = AdaptiveStepper(lambda t, y, out, c=compiled: c.rhs(t, y, out, params),
                                  lambda t, y, c=compiled: c.apply_boundaries(t, y, params), state,
                                  interior=compiled.interior)
        stepper.advance(0.0, state, 1e-4, None)
        results.append(compiled.interior(state).copy())
    assert relative_difference(*results) < ROUND_OFF


def test_simulate_with_the_numba_target_matches_numpy():
    from symsim import simulate
    a = simulate("heat_2d", t_end=0.01, saves=2, target="numpy")
    b = simulate("heat_2d", t_end=0.01, saves=2, target="numba")
    assert b.stats["target"] == "numba" and b.stats["steps"] == a.stats["steps"]
    assert relative_difference(a["u"], b["u"]) < ROUND_OFF


# -- generated source ----------------------------------------------------------------------

def test_generated_module_imports_only_math_numba_and_numpy(tmp_path):
    from symsim.cli import main
    assert main(["compile", str(EXAMPLES_DIR / "gray_scott.py"), "--target", "numba", "-o", str(tmp_path / "out")]) == 0
    source = (tmp_path / "out" / "gray_scott_numba.py").read_text()
    assert imported_modules(source) == {"math", "numba", "numpy"}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["target"] == "numba" and report["ops_per_point"]["egraph"]["cost"] > 0


@pytest.mark.slow
def test_standalone_module_steps_the_model_without_symsim_or_sympy(tmp_path):
    """Imported in a fresh process where symsim and sympy cannot be imported, it steps the model."""
    compiled = compile_model(load_model("heat_2d"), target="numba")
    (tmp_path / "heat_standalone.py").write_text(compiled.source)
    params = compiled.resolve_params()
    state = compiled.initial_state(params)
    np.save(tmp_path / "state.npy", state)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["symsim"] = None; sys.modules["sympy"] = None   # any import of them now fails
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy, heat_standalone as m
        y = numpy.load({str(tmp_path / 'state.npy')!r})
        work = m.new_work(y, "rk4")
        for n in range(5):
            y = m.rk4_step(n * 1e-5, y, 1e-5, m.PARAMS, work)
        numpy.save({str(tmp_path / 'after.npy')!r}, y)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    stepper = CompiledStepper(compiled.module.rk4_step, compiled.module.new_work(state, "rk4"), "rk4", params)
    for n in range(5):
        state = stepper.step(n * 1e-5, state, 1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "after.npy"), state)


def test_a_name_the_kernels_use_is_refused_with_the_name():
    from sympy import Eq

    from symsim import Dt, Grid, Model, laplace
    model = Model("clash", Grid(x=(0.0, 1.0, 16), periodic=("x",)))
    u = model.fields("u")
    i_x = model.params(i_x=1.0)
    model.equations(Eq(Dt(u), i_x * laplace(u)))
    model.initial(u=0.0)
    with pytest.raises(BackendError, match="'i_x'"):
        compile_model(model, target="numba")


# -- kernel cache --------------------------------------------------------------------------

CACHE_SCRIPT = textwrap.dedent("""
    import json, sys, time
    started = time.perf_counter()
    from symsim import compile_model, load_model
    compiled = compile_model(load_model("lotka_volterra"), target="numba")
    params = compiled.resolve_params()
    y = compiled.initial_state(params)
    work = compiled.module.new_work(y, "rk4")
    for n in range(10):
        y = compiled.module.rk4_step(0.01 * n, y, 0.01, params, work)
    kernels = [getattr(compiled.module, name) for name in compiled.module.STEP_KERNELS["rk4"]]
    print(json.dumps({"hit": compiled.from_cache, "y": y.tolist(),
                      "compiled": sum(sum(k.stats.cache_misses.values()) for k in kernels),
                      "loaded": sum(sum(k.stats.cache_hits.values()) for k in kernels)}))
""")


def run_cache_script(cache_dir):
    environment = dict(os.environ, SYMSIM_CACHE_DIR=str(cache_dir))
    return subprocess.Popen([sys.executable, "-c", CACHE_SCRIPT], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process):
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_processes_compiling_at_once_then_a_third_starts_from_the_cache(tmp_path):
    first, second = run_cache_script(tmp_path), run_cache_script(tmp_path)
    a, b = finish(first), finish(second)
    assert a["y"] == b["y"]
    third = finish(run_cache_script(tmp_path))
    assert third["hit"] and third["compiled"] == 0 and third["loaded"] == 3
    assert third["y"] == a["y"]
    leftovers = [p.name for p in (tmp_path / "kernels").iterdir() if p.name.endswith(".tmp")]
    assert not leftovers


def test_the_cache_key_changes_with_the_ir_and_the_options():
    from symsim.kernel_cache import cache_key
    from symsim.lowering import lower_to_stencils
    model = load_model("heat_2d")
    order2, order4 = lower_to_stencils(model, 2), lower_to_stencils(model, 4)
    assert cache_key(order2, "numba", {"egraph": True}) == cache_key(lower_to_stencils(model, 2), "numba",
                                                                      {"egraph": True})
    assert cache_key(order2, "numba", {"egraph": True}) != cache_key(order4, "numba", {"egraph": True})
    assert cache_key(order2, "numba", {"egraph": True}) != cache_key(order2, "numba", {"egraph": False})


# -- ODE ensembles -------------------------------------------------------------------------

@pytest.mark.slow
def test_lorenz_ensemble_matches_scipy_per_trajectory():
    from scipy.integrate import solve_ivp
    rng = np.random.default_rng(3)
    y0 = rng.uniform(-2, 2, (6, 3))
    rho = rng.uniform(25.2, 30.8, 6)
    times = np.linspace(0.0, 1.0, 11)
    ensemble = solve_ensemble("lorenz", y0, times, params={"rho": rho}, rtol=1e-9, atol=1e-12)
    assert ensemble.states.shape == (6, 11, 3) and ensemble.ok.all()
    sigma, beta = 10.0, 8.0 / 3.0
    for b in range(6):
        def f(t, y, r=rho[b]):
            return [sigma * (y[1] - y[0]), y[0] * (r - y[2]) - y[1], y[0] * y[1] - beta * y[2]]
        exact = solve_ivp(f, (0, 1), y0[b], t_eval=times, method="DOP853", rtol=1e-12, atol=1e-12).y.T
        np.testing.assert_allclose(ensemble.states[b], exact, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_rk4_ensemble_matches_the_single_state_stepper():
    compiled = compile_model(load_model("lotka_volterra"), target="numpy")
    params = compiled.resolve_params()
    y0 = compiled.initial_state(params)
    times = np.linspace(0.0, 2.0, 5)
    ensemble = solve_ensemble("lotka_volterra", np.stack([y0, 2 * y0]), times, method="rk4", substeps=20)
    state = y0.copy()
    stepper = FixedStepper("rk4", lambda t, y, out: compiled.rhs(t, y, out, params),
                           lambda t, y: None, state)
    dt = 0.5 / 20
    for n in range(80):
        state = stepper.step(n * dt, state, dt)
    np.testing.assert_allclose(ensemble.states[0, -1], state, rtol=1e-12)


def test_trajectories_that_leave_the_bound_stop_with_their_save_index():
    y0 = np.array([[1.0, 1.0, 1.0], [1e4, 1e4, 1e4]])
    ensemble = solve_ensemble("lorenz", y0, np.linspace(0, 1, 5), bound=1e3)
    assert ensemble.status[0] == 0
    assert ensemble.status[1] == 1 and np.isnan(ensemble.states[1, 1:]).all()


def test_ensemble_input_errors_name_the_problem():
    with pytest.raises(ParameterError, match="'gamma'"):
        solve_ensemble("lorenz", np.ones((2, 3)), [0.0, 1.0], params={"gamma": 1.0})
    with pytest.raises(OptionError, match=r"\(batch, 3\)"):
        solve_ensemble("lorenz", np.ones((2, 4)), [0.0, 1.0])
    with pytest.raises(OptionError, match="increasing"):
        solve_ensemble("lorenz", np.ones((2, 3)), [1.0, 0.0])
    with pytest.raises(OptionError, match="space axes"):
        solve_ensemble("heat_2d", np.ones((2, 1)), [0.0, 1.0])


def test_small_grids_get_serial_kernels_and_large_ones_parallel():
    """Below PARALLEL_MIN_POINTS a parallel kernel compiles slower and its thread start costs more than it
    saves (heat_1d: 13.5 us per RK4 step against 4.6 serial; 129^2 even): the interior loop is serial."""
    from symsim.codegen import function_text
    from symsim.codegen.kernel_plan import plan_kernel
    from symsim.codegen.numba_backend import PARALLEL_MIN_POINTS, render_numba_module
    from symsim.lowering import lower_to_stencils

    def decorator(model):
        source = render_numba_module(plan_kernel(lower_to_stencils(model)))
        return source.splitlines()[source.splitlines().index(function_text(source, "_pass0").splitlines()[0]) - 1]

    assert decorator(load_model("heat_1d")) == "@numba.njit(cache=True)"
    assert decorator(load_model("heat_2d").with_points(x=64, y=64)) == "@numba.njit(cache=True)"
    side = int(PARALLEL_MIN_POINTS ** 0.5) + 1
    assert decorator(load_model("heat_2d").with_points(x=side, y=side)) == "@numba.njit(parallel=True, cache=True)"
