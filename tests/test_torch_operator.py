"""The torch-operator physics loss (codegen/torch_operator.py): the residual of the model's own
discretization on predicted trajectories, checked against symsim's simulator.

A forward-Euler trajectory of the simulator has a zero Euler residual (the loss pads each
state exactly as the simulator's boundary steps do and evaluates the same kernel); the
trapezoid residual of an accurate trajectory is second order in dt; gradients reach the
prediction; the generated source needs only math and torch.
"""

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from checks import imported_modules  # noqa: E402

from symsim import load_model, simulate  # noqa: E402
from symsim.cli import main  # noqa: E402
from symsim.losses import load_loss_module, loss_source  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Dirichlet and Neumann walls whose values depend on t and the other coordinate, a periodic
#: axis, forcing in x and t, a mixed-derivative product: every boundary step with a value
DRIVEN_WALLS = """
from sympy import Eq, exp, sin, cos
from symsim import Model, Grid, Dt, laplace, t

grid = Grid(x=(0.0, 1.0, 7), y=(0.0, 2.0, 6), periodic=("y",))
model = Model("driven_walls", grid)
u, v = model.fields("u v")
D, a = model.params(D=0.05, a=0.7)
x, y = grid.coords
model.equations(Eq(Dt(u), D * laplace(u) + a * sin(3 * t) * x - u * v + u.diff(x) * u.diff(y)),
                Eq(Dt(v), D * v.diff(x, 2) + u - v))
model.initial(u=exp(-(x - 0.5)**2) * cos(3.14159 * y), v=x * (1 - x))
model.dirichlet(u, x=0.0, value=sin(2 * t) * cos(3.14159 * y))
model.neumann(u, x=1.0, value=a * t + y / 4)
model.neumann(v, x=0.0, value=0)
model.dirichlet(v, x=1.0, value=t**2)
model.defaults(t_end=0.1)
"""

#: (example, small grid, space order): walls, periodic axes, second order in time
EXAMPLES = [("heat_2d", dict(x=8, y=7), 2), ("burgers_1d", dict(x=17), 2), ("sine_gordon_1d", dict(x=24), 4),
            ("gray_scott", dict(x=8, y=8), 2), ("allen_cahn", dict(x=8, y=8), 2), ("advection_1d", dict(x=20), 4)]


@pytest.fixture(scope="module")
def driven_walls(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "driven_walls.py"
    path.write_text(DRIVEN_WALLS)
    return load_model(path)


def loss_module(model, space_order=2):
    source, _ = loss_source(model, "torch-operator", space_order=space_order)
    return load_loss_module(source, f"{model.name}_torch_operator")


def trajectory(result, fields) -> torch.Tensor:
    """One trajectory of a Result in the loss's layout (1, time, field, *grid)."""
    return torch.tensor(np.stack([result[f] for f in fields], axis=1)[None])


def euler_run(model, space_order, steps=4, params=None):
    """A forward-Euler run that saves after every step, at the suggested stable dt; (result, dt)."""
    dt = simulate(model, t_end=1e-9, saves=1, space_order=space_order, params=params,
                  method="euler").stats["suggested_dt"]
    result = simulate(model, t_end=steps * dt, dt=dt, saves=steps, method="euler", space_order=space_order,
                      params=params)
    assert result.stats["steps"] == steps
    return result, dt


def assert_zero_residual(module, pred, dt, params=None):
    residual = module.PhysicsLoss().residual(pred, dt, params)
    scale = ((pred[:, 1:] - pred[:, :-1]) / dt).abs().max()
    assert residual.shape == (pred.shape[0], pred.shape[1] - 1) + pred.shape[2:]
    assert residual.abs().max() <= 1e-11 * scale, float(residual.abs().max() / scale)
    # and it is not zero for any trajectory: one point of one later state moved
    moved = pred.clone()
    moved[(0, 2, 0) + tuple(n // 2 for n in pred.shape[3:])] += 1e-3
    assert module.PhysicsLoss().residual(moved, dt, params).abs().max() >= 0.5e-3 / dt


@pytest.mark.parametrize("name, points, space_order", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_euler_residual_of_the_simulators_euler_trajectory_is_round_off(name, points, space_order):
    model = load_model(name).with_points(**points)
    result, dt = euler_run(model, space_order)
    module = loss_module(model, space_order)
    assert_zero_residual(module, trajectory(result, module.FIELDS), dt)


def test_sine_gordon_state_holds_the_field_and_its_velocity():
    module = loss_module(load_model("sine_gordon_1d").with_points(x=24), 4)
    assert module.FIELDS == ("u", "u_t")


@pytest.mark.parametrize("space_order", [2, 4])
def test_time_dependent_wall_values_and_forcing_are_taken_at_each_states_time(driven_walls, space_order):
    params = {"D": 0.08}
    result, dt = euler_run(driven_walls, space_order, steps=5, params=params)
    module = loss_module(driven_walls, space_order)
    pred = trajectory(result, module.FIELDS)
    assert_zero_residual(module, pred, dt, params)
    loss = module.PhysicsLoss()
    # the simulator's wall nodes hold their conditions; shifting the clock breaks that
    assert loss.boundary_residual(pred, dt, params).abs().max() < 1e-12
    assert loss.boundary_residual(pred, dt, params, t0=0.3).abs().max() > 0.1
    assert loss(pred, dt, params, t0=0.3) > 1e-3


def test_ode_models_have_a_loss_too():
    model = load_model("lorenz")
    dt = 0.002
    result = simulate(model, t_end=5 * dt, dt=dt, saves=5, method="euler")
    module = loss_module(model)
    assert_zero_residual(module, trajectory(result, module.FIELDS), dt)


def test_trapezoid_residual_of_an_rk4_trajectory_is_second_order_in_dt():
    model = load_model("burgers_1d").with_points(x=33)
    params = {"nu": 0.05}
    module = loss_module(model)
    t_end = 0.2
    maxima = []
    for saves in (10, 20, 40):
        result = simulate(model, t_end=t_end, saves=saves, method="rk4", dt=t_end / saves / 4, params=params)
        pred = trajectory(result, module.FIELDS)
        maxima.append(float(module.PhysicsLoss(params).residual(pred, t_end / saves, scheme="trapezoid").abs().max()))
    ratios = [maxima[0] / maxima[1], maxima[1] / maxima[2]]
    assert all(3.6 < r < 4.4 for r in ratios), (maxima, ratios)
    # forward Euler on the same trajectories is only first order
    euler = [float(module.PhysicsLoss(params).residual(trajectory(
        simulate(model, t_end=t_end, saves=s, method="rk4", dt=t_end / s / 4, params=params), module.FIELDS),
        t_end / s).abs().max()) for s in (20, 40)]
    assert 1.7 < euler[0] / euler[1] < 2.3, euler


@pytest.mark.slow
def test_gradients_reach_the_prediction_and_tensor_parameters(driven_walls):
    module = loss_module(driven_walls)
    loss = module.PhysicsLoss()
    generator = torch.Generator().manual_seed(0)
    pred = torch.rand((2, 3, 2, 7, 6), dtype=torch.float64, generator=generator, requires_grad=True)
    D = torch.tensor([0.05, 0.09], dtype=torch.float64, requires_grad=True)   # one value per trajectory
    for scheme in ("euler", "trapezoid"):
        assert torch.autograd.gradcheck(lambda p, d: loss(p, 0.01, {"D": d}, scheme=scheme, t0=0.2), (pred, D))
    assert torch.autograd.gradcheck(lambda p: loss.boundary_residual(p, 0.01, t0=0.2).square().sum(), (pred,))
    loss(pred, 0.01, {"D": D}).backward()
    assert pred.grad.abs().sum() > 0 and D.grad.abs().sum() > 0


def test_per_trajectory_parameters_times_and_steps_match_separate_calls(driven_walls):
    module = loss_module(driven_walls)
    loss = module.PhysicsLoss({"a": 1.5})
    pred = torch.rand((2, 4, 2, 7, 6), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    together = loss.residual(pred, dt=torch.tensor([0.01, 0.02]), params={"D": torch.tensor([0.05, 0.09])},
                             t0=torch.tensor([0.0, 0.5]), scheme="trapezoid")
    first = loss.residual(pred[:1], 0.01, {"D": 0.05}, t0=0.0, scheme="trapezoid")
    second = loss.residual(pred[1:], 0.02, {"D": 0.09}, t0=0.5, scheme="trapezoid")
    torch.testing.assert_close(together, torch.cat([first, second]))
    assert not torch.allclose(first, module.PhysicsLoss().residual(pred[:1], 0.01, {"D": 0.05}, scheme="trapezoid"))


def test_float32_follows_float64_and_keeps_its_dtype():
    model = load_model("heat_2d").with_points(x=8, y=7)
    module = loss_module(model)
    pred = torch.rand((3, 4, 1, 8, 7), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    loss64 = module.PhysicsLoss()(pred, 1e-3, scheme="trapezoid")
    loss32 = module.PhysicsLoss()(pred.float(), 1e-3, scheme="trapezoid")
    assert loss32.dtype == torch.float32 and loss64.dtype == torch.float64
    assert abs(float(loss32) / float(loss64) - 1) < 1e-5


def test_the_loss_is_the_mean_square_residual_over_evolved_points():
    module = loss_module(load_model("burgers_1d").with_points(x=9))
    pred = torch.rand((2, 3, 1, 9), dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    residual = module.PhysicsLoss().residual(pred, 0.1)
    assert module.EVOLVED_POINTS == 7 and module.WALL_NODES == (("u", 0, "low"), ("u", 0, "high"))
    assert (residual[..., 0] == 0).all() and (residual[..., -1] == 0).all()
    torch.testing.assert_close(module.PhysicsLoss()(pred, 0.1), residual[..., 1:-1].square().mean())


def test_bad_arguments_are_named():
    module = loss_module(load_model("burgers_1d").with_points(x=9))
    loss = module.PhysicsLoss()
    pred = torch.zeros((2, 3, 1, 9))
    with pytest.raises(ValueError, match=r"shape \(batch, time >= 2, \*\(1, 9\)\).*got \(2, 3, 1, 8\)"):
        loss(pred[..., :8], 0.1)
    with pytest.raises(ValueError, match="unknown parameter 'mu'; parameters: nu"):
        loss(pred, 0.1, {"mu": 1.0})
    with pytest.raises(ValueError, match="unknown scheme 'rk4'"):
        loss(pred, 0.1, scheme="rk4")
    with pytest.raises(ValueError, match=r"dt: expected a number or a tensor of shape \(2,\)"):
        loss(pred, torch.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        loss(pred.long(), 0.1)


def test_generated_source_imports_only_math_and_torch():
    for name in ("gray_scott", "heat_2d", "sine_gordon_1d", "lorenz"):
        source, _ = loss_source(load_model(name), "torch-operator")
        imported = imported_modules(source)
        assert "torch" in imported and imported <= {"math", "torch"}, (name, imported)


def test_symsim_compile_writes_the_loss_module_and_its_report(tmp_path, capsys):
    out = tmp_path / "build"
    script = Path(__file__).resolve().parent.parent / "examples" / "gray_scott.py"
    assert main(["compile", str(script), "--target", "torch-operator", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["gray_scott_torch_operator.py", "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "torch-operator" and report["fields"] == ["u", "v"]
    assert report["source"] == "gray_scott_torch_operator.py" and report["ops_per_point"]["cost"] > 0
    source = (out / "gray_scott_torch_operator.py").read_text()
    module = load_loss_module(source, "gray_scott_written")
    assert module.SHAPE == (256, 256) and module.PARAMS["F"] == 0.04
    assert "Dt(u) = " in source and "def residual(" in source


def test_a_parameter_named_like_a_generated_local_is_refused(tmp_path):
    from symsim.errors import BackendError
    script = tmp_path / "clash.py"
    script.write_text(textwrap.dedent("""
        from sympy import Eq
        from symsim import Model, Grid, Dt
        model = Model("clash", Grid(x=(0.0, 1.0, 8), periodic=True))
        u = model.fields("u")
        torch = model.params(torch=1.0)
        (x,) = model.grid.coords
        model.equations(Eq(Dt(u), -torch * u.diff(x)))
        model.initial(u=x)
    """))
    with pytest.raises(BackendError, match="'torch'"):
        loss_source(load_model(script), "torch-operator")


# -- the Fourier neural operator and its training helpers ---------------------------------

def test_fno_maps_1d_and_2d_grids_channels_first_and_accepts_other_resolutions():
    from symsim.fno import FNO
    torch.manual_seed(0)
    net = FNO(in_channels=1, out_channels=5, modes=(8,), width=8, layers=2, padding=4)
    assert net(torch.randn(3, 1, 32)).shape == (3, 5, 32)
    assert net(torch.randn(2, 1, 48)).shape == (2, 5, 48)
    net2 = FNO(in_channels=2, out_channels=3, modes=(4, 5), width=8, layers=2)
    assert net2(torch.randn(2, 2, 16, 12)).shape == (2, 3, 16, 12)
    assert net2.double()(torch.randn(1, 2, 16, 12, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match=r"expected input \(batch, channel, n1, n2\)"):
        net2(torch.randn(2, 2, 16))


@pytest.mark.parametrize("ndim", [1, 2])
def test_spectral_convolution_passes_low_modes_and_drops_the_rest(ndim):
    from symsim.fno import SpectralConv1d, SpectralConv2d
    torch.manual_seed(0)
    layer = SpectralConv1d(1, 1, 4) if ndim == 1 else SpectralConv2d(1, 1, (4, 4))
    s = torch.arange(32) / 32
    wave = lambda k: torch.sin(2 * torch.pi * k * s)  # noqa: E731
    shape = (1, 1) + (32,) * ndim
    low = (wave(2) if ndim == 1 else wave(2)[:, None] * wave(1)[None, :]).reshape(shape)
    high = (wave(9) if ndim == 1 else wave(9)[:, None] * wave(1)[None, :]).reshape(shape)
    assert layer(high).abs().max() < 1e-6
    assert layer(low).abs().max() > 1e-3


def test_simulate_initial_states_repeats_the_simulator_run_of_each_initial_state():
    from symsim.operator_training import random_initial_states, simulate_initial_states
    model = load_model("burgers_1d").with_points(x=17)
    u0 = random_initial_states(model, 2, seed=3)
    assert u0.shape == (2, 1, 17) and np.abs(u0).max() == pytest.approx(1.0)
    assert np.abs(u0[:, :, [0, -1]]).max() < 1e-12    # sine series vanish on walls
    runs = simulate_initial_states(model, u0, t_end=0.1, saves=4, params={"nu": 0.05}, target="numpy")
    assert runs.shape == (2, 5, 1, 17)
    model.initial(u=u0[1, 0])
    single = simulate(model, t_end=0.1, saves=4, params={"nu": 0.05})
    np.testing.assert_array_equal(runs[1, :, 0], single["u"])


def test_a_few_training_steps_on_data_and_physics_lower_both_losses_tenfold():
    from symsim.fno import FNO
    from symsim.operator_training import random_initial_states, simulate_initial_states, train_operator
    model = load_model("burgers_1d").with_points(x=17)
    params = {"nu": 0.05}
    u0 = random_initial_states(model, 12, seed=4)
    data = simulate_initial_states(model, u0[:4], t_end=0.2, saves=4, params=params, target="numpy")
    physics = loss_module(model).PhysicsLoss(params)
    torch.manual_seed(0)
    net = FNO(1, 4, modes=(6,), width=12, layers=2, padding=4)

    def predict(x):
        return torch.cat([x.unsqueeze(1), net(x).unsqueeze(2)], dim=1)

    history = train_operator(predict, net.parameters(), torch.tensor(u0[:4], dtype=torch.float32),
                             torch.tensor(data, dtype=torch.float32), physics=physics,
                             physics_inputs=torch.tensor(u0[4:], dtype=torch.float32), dt=0.05,
                             physics_weight=0.1, steps=150, batch_size=4, physics_batch_size=8, lr=3e-3,
                             log=None, log_every=10)
    first, last = history[0], history[-1]
    assert last["data"] < first["data"] / 10, history
    assert last["physics"] < first["physics"] / 10, history
