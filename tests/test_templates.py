"""The templates of generated code (codegen/templates/) run as the modules they are, on their stand-ins,
and every generated module carries their text verbatim."""

import numpy as np
import pytest

from symsim import compile_model, load_model
from symsim.codegen.templates import INLINED_FROM, inlined_text
from symsim.codegen.templates import ensemble, numba_arrays, stepping
from symsim.tableaus import TABLEAUS


def test_ensemble_solvers_follow_the_harmonic_oscillator_of_their_stand_in():
    omega = np.array([1.0, 2.0, 3.0, 0.5])
    times = np.linspace(0.0, 6.0, 40)
    y0 = np.tile([1.0, 0.0], (4, 1))
    exact = np.cos(omega[:, None] * times)
    out, status = ensemble.ensemble_dopri5(y0, {"omega": omega}, times, rtol=1e-10, atol=1e-12)
    assert (status == 0).all() and np.abs(out[:, :, 0] - exact).max() < 1e-8
    out, status = ensemble.ensemble_rk4(y0, {"omega": omega}, times, substeps=20)
    # RK4's global error ~ (omega*dt)**4 * omega*t / 120 with dt = 6/39/20
    assert (status == 0).all() and np.abs(out[:, :, 0] - exact).max() < 1e-6


def test_ensemble_rk4_converges_at_fourth_order():
    times = np.linspace(0.0, 2.0, 5)
    errors = []
    for substeps in (32, 64):
        out, _ = ensemble.ensemble_rk4(np.array([[1.0, 0.0]]), {"omega": 3.0}, times, substeps=substeps)
        errors.append(abs(out[0, -1, 0] - np.cos(6.0)))
    assert abs(np.log2(errors[0] / errors[1]) - 4) < 0.2


def test_ensemble_parameter_matrix_names_what_is_wrong():
    assert ensemble.parameter_matrix(None, 3).tolist() == [[1.0]] * 3
    with pytest.raises(ValueError, match="unknown parameter 'nu'"):
        ensemble.parameter_matrix({"nu": 1.0}, 2)
    with pytest.raises(ValueError, match="needs a scalar or 2 values"):
        ensemble.parameter_matrix({"omega": [1.0, 2.0, 3.0]}, 2)


def test_the_stage_functions_printed_from_the_tableaus_equal_the_templates_loops():
    module = compile_model(load_model("lorenz"), target="numba").module
    rng = np.random.default_rng(0)
    y, k = rng.standard_normal(3), rng.standard_normal((7, 3))
    for name in ("_rk4_solution", "_dopri5_solution"):
        got, expected = np.empty(3), np.empty(3)
        getattr(module, name)(y, 0.1, k[:4] if "rk4" in name else k, got)
        getattr(ensemble, name)(y, 0.1, k[:4] if "rk4" in name else k, expected)
        np.testing.assert_allclose(got, expected, rtol=1e-14)
    np.testing.assert_allclose([module._dopri5_error(k, m) for m in range(3)],
                               [ensemble._dopri5_error(k, m) for m in range(3)], rtol=1e-13)
    weights = np.array(TABLEAUS["dopri5"].error)
    np.testing.assert_allclose(module._dopri5_error(k, 0), weights @ k[:, 0], rtol=1e-13)


def test_new_state_starts_each_slot_at_its_page_offset_and_new_work_copies_the_state():
    state = numba_arrays.new_state()
    assert state.shape == numba_arrays.STORAGE_SHAPE and state.flags.c_contiguous and not state.any()
    state[...] = np.arange(state.size).reshape(state.shape)
    work = numba_arrays.new_work(state, "rk4")
    assert sorted(work) == ["s0", "s1", "s2"]
    for slot, name in enumerate(("s0", "s1", "s2"), start=1):
        assert work[name].ctypes.data % 4096 == numba_arrays._PAGE_OFFSETS[slot]
        np.testing.assert_array_equal(work[name], state)
    plain = np.ones((2, 5, 5))                   # a user's own array: plain copies
    assert all(w.shape == (2, 5, 5) and (w == 1).all() for w in numba_arrays.new_work(plain, "rk4").values())


def test_stepping_passes_parameters_in_kernel_order():
    state, out = np.ones(3), np.zeros(3)
    stepping.rhs(0.0, state, out, {"D": 2.0})
    np.testing.assert_array_equal(out, -2.0)


def test_physics_loss_residual_of_an_euler_trajectory_of_its_stand_in_is_zero():
    torch = pytest.importorskip("torch")
    from symsim.codegen.templates import physics_loss
    dt, a = 0.1, 1.0
    pred = torch.tensor([(1 - a * dt) ** n for n in range(5)], dtype=torch.float64).reshape(1, 5, 1)
    assert physics_loss.PhysicsLoss().residual(pred, dt).abs().max() < 1e-15
    assert physics_loss.PhysicsLoss({"a": 2.0}).residual(pred, dt).abs().min() > 0.5


def test_pinn_helpers_differentiate_once_and_keep_the_graph():
    torch = pytest.importorskip("torch")
    from symsim.codegen.templates import pinn
    x, = pinn._inputs(torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1))
    u_x, = pinn._grad(x ** 3, (x,))
    u_xx, = pinn._grad(u_x, (x,))
    torch.testing.assert_close(u_xx, 6 * x)
    assert pinn._Terms({"nu": 0.5}).params == {"nu": 0.5} and pinn._Terms().params == pinn.PARAMS


@pytest.mark.parametrize("target, names", [("numba", ("stepping", "numba_arrays", "ensemble")),
                                           ("numpy", ())])
def test_generated_modules_carry_the_templates_verbatim(target, names):
    source = compile_model(load_model("lorenz"), target=target, cache=False).source
    assert INLINED_FROM not in source
    for name in names:
        assert inlined_text(name) in source
