"""The Numba CUDA backend against the NumPy reference (in the CUDA simulator without a GPU).

The simulator runs every GPU thread as a Python thread, so the example models run
on small grids (``Model.with_points``) for a few steps. On a machine with a GPU,
``NUMBA_ENABLE_CUDASIM=0`` runs the same tests on the device.
"""

from pathlib import Path

import numpy as np
import pytest

from checks import imported_modules, relative_difference

from symsim import compile_model, load_model, simulate
from symsim.errors import BackendError, OptionError
from symsim.integrators import CompiledStepper, FixedStepper
from symsim.stability import suggest_dt

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if p.name != "__init__.py")
SMALL = 12
STEPS = 3
ROUND_OFF = 1e-12

#: Numba's CUDA simulator runs every GPU thread as a Python thread
pytestmark = pytest.mark.slow


def small(name):
    model = load_model(name)
    if model.grid is None:
        return model
    return model.with_points(**{a.name: SMALL + (0 if a.periodic else 1) for a in model.grid.axes})


GRID_EXAMPLES = [n for n in EXAMPLES if load_model(n).grid is not None]
ODE_EXAMPLES = [n for n in EXAMPLES if load_model(n).grid is None]


@pytest.fixture(scope="module", params=GRID_EXAMPLES)
def pair(request):
    model = small(request.param)
    return compile_model(model, target="numpy"), compile_model(model, target="cuda")


@pytest.mark.parametrize("method", ["euler", "ssprk3", "rk4"])
def test_device_steps_match_the_numpy_reference(pair, method):
    reference, gpu = pair
    params = reference.resolve_params()
    state = reference.initial_state(params)
    dt = suggest_dt(reference, state, params, method) or 1e-3
    stepper = FixedStepper(method, lambda t, y, out: reference.rhs(t, y, out, params),
                           lambda t, y: reference.apply_boundaries(t, y, params), state)
    device_state = gpu.module.to_device(state)
    device_stepper = CompiledStepper(gpu.stepper_function(method), gpu.module.new_work(device_state, method),
                                     method, params)
    for n in range(STEPS):
        state = stepper.step(n * dt, state, dt)
        device_state = device_stepper.step(n * dt, device_state, dt)
    got = gpu.module.to_host(device_state)
    assert relative_difference(reference.interior(state), gpu.interior(got)) < ROUND_OFF


def test_rhs_and_boundaries_match_the_numpy_reference(pair):
    reference, gpu = pair
    params = reference.resolve_params()
    state = reference.initial_state(params)
    state = state + 0.01 * np.random.default_rng(2).standard_normal(state.shape) * (np.abs(state).max() + 1)
    expected = np.zeros_like(state)
    reference.rhs(0.3, state, expected, params)
    out = gpu.module.to_device(np.zeros_like(state))
    gpu.rhs(0.3, gpu.module.to_device(state), out, params)
    assert relative_difference(expected, gpu.module.to_host(out)) < ROUND_OFF
    a = state.copy()
    reference.apply_boundaries(0.3, a, params)
    b = gpu.module.to_device(state)
    gpu.apply_boundaries(0.3, b, params)
    assert relative_difference(a, gpu.module.to_host(b)) < ROUND_OFF


def test_a_run_keeps_the_state_on_the_device_and_copies_only_at_save_points(monkeypatch):
    model = small("heat_2d")
    compiled = compile_model(model, target="cuda")
    copies = []
    original = compiled.module.to_host
    monkeypatch.setattr(compiled.module, "to_host", lambda y: copies.append(1) or original(y))
    from symsim.solve import integrate, run_options
    result = integrate(compiled, run_options(model, t_end=0.004, saves=2, method="rk4", dt=0.0005))
    reference = simulate(model, t_end=0.004, saves=2, method="rk4", target="numpy", dt=0.0005)
    assert result.stats["steps"] == reference.stats["steps"] > 2
    # one copy for the initial save, and two per save point (finite check, then the saved state)
    assert len(copies) == 1 + 2 * 2
    assert relative_difference(reference["u"], result["u"]) < ROUND_OFF


@pytest.mark.parametrize("name", ODE_EXAMPLES)
def test_an_ode_model_on_the_cuda_target_is_refused_with_a_pointer_to_numba(name):
    with pytest.raises(BackendError, match="numba"):
        compile_model(load_model(name), target="cuda")


def test_dopri5_on_the_cuda_target_is_refused_with_a_clear_error():
    with pytest.raises(OptionError, match="dopri5"):
        simulate(small("heat_2d"), t_end=0.001, method="dopri5", target="cuda")


def test_generated_cuda_module_imports_only_math_numba_and_numpy():
    source = compile_model(small("gray_scott"), target="cuda").source
    assert imported_modules(source) == {"math", "numba", "numpy"}


def test_without_a_gpu_or_the_simulator_the_cli_says_so_in_one_line(tmp_path):
    import os
    import subprocess
    import sys
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    probe = subprocess.run([sys.executable, "-c", "from numba import cuda; print(cuda.is_available())"],
                           env=environment, capture_output=True, text=True)
    if probe.stdout.strip() == "True":
        pytest.skip("this machine has a GPU")
    run = subprocess.run([sys.executable, "-m", "symsim.cli", "run", "heat_2d", "--target", "cuda",
                          "-o", str(tmp_path / "out.npz")], env=environment, capture_output=True, text=True)
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1 and "NUMBA_ENABLE_CUDASIM" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.npz").exists()
