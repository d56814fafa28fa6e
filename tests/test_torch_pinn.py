"""The generated PINN residual: equal to a hand-written autograd residual, zero on exact
solutions, hard constraints exact, and a short training that lowers the loss."""

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("float64_default_dtype")

from checks import imported_modules  # noqa: E402

from symsim import load_model  # noqa: E402
from symsim.cli import main  # noqa: E402
from symsim.pinn import build_network, load_network, pinn_module, train_pinn  # noqa: E402

ROUND_OFF = 1e-12


def grad(y, x):
    return torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)[0]


def random_net(module, seed=0, t_end=1.0):
    torch.manual_seed(seed)
    return build_network(module, t_end, width=16, depth=2).double()


def points(module, n=64, seed=1, t_end=1.0):
    generator = torch.Generator().manual_seed(seed)
    lows = [0.0] + [module.DOMAIN[a][0] for a in module.INPUTS[1:]]
    highs = [t_end] + [module.DOMAIN[a][1] for a in module.INPUTS[1:]]
    u = torch.rand((n, len(lows)), generator=generator)
    return [(lo + (hi - lo) * u[:, k:k + 1]).requires_grad_(True) for k, (lo, hi) in enumerate(zip(lows, highs))]


def test_burgers_residual_equals_the_hand_written_one():
    module = pinn_module(load_model("burgers_1d"))
    net = random_net(module)
    t, x = points(module)
    u = net(t, x)
    u_t, u_x = grad(u, t), grad(u, x)
    nu = 0.01 / math.pi
    expected = u_t + u * u_x - nu * grad(u_x, x)
    got = module.Residual()(net, t, x)
    assert torch.allclose(got, expected, rtol=ROUND_OFF, atol=ROUND_OFF)


def test_heat_2d_residual_equals_the_hand_written_one():
    module = pinn_module(load_model("heat_2d"))
    net = random_net(module)
    t, x, y = points(module)
    u = net(t, x, y)
    expected = grad(u, t) - 0.1 * (grad(grad(u, x), x) + grad(grad(u, y), y))
    got = module.Residual()(net, t, x, y)
    assert torch.allclose(got, expected, rtol=ROUND_OFF, atol=ROUND_OFF)


def test_gray_scott_residuals_equal_the_hand_written_ones():
    module = pinn_module(load_model("gray_scott"))
    net = random_net(module)
    t, x, y = points(module)
    out = net(t, x, y)
    u, v = out[:, 0:1], out[:, 1:2]
    Du, Dv, F, k = 2e-5, 1e-5, 0.04, 0.06

    def lap(w):
        return grad(grad(w, x), x) + grad(grad(w, y), y)
    expected = torch.cat([grad(u, t) - (Du * lap(u) - u * v * v + F * (1 - u)),
                          grad(v, t) - (Dv * lap(v) + u * v * v - (F + k) * v)], dim=1)
    got = module.Residual()(net, t, x, y)
    assert torch.allclose(got, expected, rtol=1e-11, atol=1e-11)


def test_each_derivative_is_taken_once_from_the_one_below():
    """u_t and u_x come from one backward pass over u; u_xx from u_x (never a fresh graph)."""
    from symsim.losses import loss_source
    source, _ = loss_source(load_model("burgers_1d"), "torch-pinn")
    assert "u_t, u_x = _grad(u, (t, x))" in source
    assert "u_xx, = _grad(u_x, (x,))" in source
    assert source.count("= _grad(") == 2      # Dirichlet walls and the initial value need no derivative


class ExactHeat1d(torch.nn.Module):
    def forward(self, t, x):
        return torch.sin(math.pi * x) * torch.exp(-0.1 * math.pi ** 2 * t)


class ExactHeat2d(torch.nn.Module):
    def forward(self, t, x, y):
        return torch.sin(math.pi * x) * torch.sin(2 * math.pi * y) * torch.exp(-0.1 * 5 * math.pi ** 2 * t)


class SteadyGrayScott(torch.nn.Module):
    def forward(self, t, x, y):
        return torch.cat([torch.ones_like(x) + 0 * t, torch.zeros_like(y)], dim=1)


@pytest.mark.parametrize("name, exact", [("heat_1d", ExactHeat1d()), ("heat_2d", ExactHeat2d()),
                                         ("gray_scott", SteadyGrayScott())])
def test_the_residual_of_an_exact_solution_is_zero(name, exact):
    module = pinn_module(load_model(name))
    residual = module.Residual()(exact, *points(module))
    assert residual.abs().max() < 1e-12


def test_the_initial_and_wall_residuals_of_the_exact_heat_solution_are_zero():
    module = pinn_module(load_model("heat_1d"))
    t, x = points(module)
    assert module.InitialResidual()(ExactHeat1d(), x).abs().max() < 1e-15
    assert module.BoundaryResidual()(ExactHeat1d(), t, x).abs().max() < 1e-15


@pytest.mark.parametrize("name", ["burgers_1d", "heat_1d", "heat_2d"])
def test_hard_constraints_meet_the_walls_and_the_initial_value_to_round_off(name):
    model = load_model(name)
    module = pinn_module(model)
    net = module.HardConstraints(random_net(module, seed=3))
    t, *space = points(module, n=200)
    assert module.BoundaryResidual()(net, t, *space).abs().max() < 1e-13
    initial = module.InitialResidual()(net, *space).abs().max()
    if name == "heat_2d":
        # its Gaussian initial value is 4.8e-6 (not 0) on the walls: the walls win, exactly
        assert initial < 1e-5
    else:
        assert initial < 1e-13


def test_periodic_axes_are_periodic_by_construction():
    module = pinn_module(load_model("gray_scott"))
    net = random_net(module)
    t = torch.rand(10, 1)
    y = torch.rand(10, 1)
    low, high = module.DOMAIN["x"]
    a = net(t, torch.full_like(t, low), y)
    b = net(t, torch.full_like(t, high), y)
    assert torch.allclose(a, b, atol=1e-12)


def test_generated_pinn_module_imports_only_math_and_torch(tmp_path):
    assert main(["compile", "burgers_1d", "--target", "torch-pinn", "-o", str(tmp_path / "out")]) == 0
    source = (tmp_path / "out" / "burgers_torch_pinn.py").read_text()
    assert imported_modules(source) == {"math", "torch"}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["target"] == "torch-pinn" and report["ops_per_point"]["cost"] > 0


def test_short_training_lowers_the_loss_and_saves_safely(tmp_path):
    """heat_1d, 300 Adam steps: the loss falls by at least 20x; weights reload with weights_only=True."""
    model = load_model("heat_1d")
    run = train_pinn(model, steps=300, lbfgs_steps=0, points=256, hard_bc=True, width=16, depth=2, dtype="float64")
    first, last = run.history[0][1], run.history[-1][1]
    assert last < first / 20, (first, last)
    assert run.rel_l2 < 0.2
    written = run.save(tmp_path / "pinn")
    assert {p.split("/")[-1] for p in written} == {"weights.pt", "metrics.json", "pinn.png"}
    metrics = json.loads((tmp_path / "pinn" / "metrics.json").read_text())
    assert {"rel_l2", "steps", "seconds", "final_loss"} <= set(metrics)
    again = load_network(tmp_path / "pinn", model)
    t, x = torch.rand(5, 1), torch.rand(5, 1)
    assert torch.equal(again(t, x), run.net(t, x))


def test_pinn_cli_prints_the_error_and_writes_metrics(tmp_path, capsys):
    code = main(["pinn", "heat_1d", "--steps", "20", "--lbfgs-steps", "0", "--points", "64", "--width", "8",
                 "--depth", "1", "--quiet", "-o", str(tmp_path / "out")])
    assert code == 0
    out = capsys.readouterr().out
    assert "relative L2 error" in out
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["steps"] == 20


def test_pinn_of_an_ode_model_is_a_network_of_time(tmp_path, capsys):
    assert main(["pinn", "lorenz", "--t-end", "1", "--steps", "5", "--lbfgs-steps", "0", "--points", "32",
                 "--width", "8", "--depth", "1", "--quiet", "-o", str(tmp_path / "out")]) == 0
    assert "relative L2 error" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"]["hard_bc"] and metrics["config"]["dtype"] == "float64"
    assert (tmp_path / "out" / "pinn.png").is_file()


@pytest.mark.parametrize("name, labels", [("heat_1d", ("x", "t")), ("gray_scott", ("x", "y"))])
def test_the_picture_shows_every_field_on_physical_axes(name, labels):
    """Solution, network and difference per field; axes in the model's coordinates (and t for 1-D)."""
    from symsim.pinn import pinn_figure
    model = load_model(name)
    if name == "gray_scott":
        model = model.with_points(x=24, y=24)
    run = train_pinn(model, t_end=1.0, steps=2, lbfgs_steps=0, points=32, width=8, depth=1)
    figure = pinn_figure(run)
    images = [ax for ax in figure.axes if ax.images]
    assert len(images) == 3 * len(run.reference)
    for ax in images:
        assert (ax.get_xlabel(), ax.get_ylabel()) == labels
        left, right, bottom, top = ax.images[0].get_extent()
        assert left < 0.05 and right > 0.95                 # x from 0 to 1, not grid indices
        assert (bottom, top) == pytest.approx((-1 / 40, 1 + 1 / 40)) if name == "heat_1d" else top < 1.1
    solution, network = images[0].images[0], images[1].images[0]
    assert solution.get_clim() == network.get_clim()        # one colour scale for both
    low, high = images[2].images[0].get_clim()
    assert low == -high                                     # the difference centred on zero


def test_rar_d_draws_follow_the_residual_and_leave_no_region_empty():
    """A residual 100x larger in a band of 5 % of x: RAR-D's density 1 + |r|/mean|r| puts ~43 % of the draws
    there (0.05 x 17.8 / (0.05 x 17.8 + 0.95 x 1.17), not 5 %), each candidate at most once, and the rest of the
    domain keeps points."""
    import numpy as np
    from symsim.pinn import _rar_d_choice

    def banded(net, t, x):
        return 1.0 + 99.0 * (x.abs() < 0.05).to(x.dtype)

    generator = torch.Generator().manual_seed(0)
    candidates = [torch.rand(20000, 1, generator=generator), 2 * torch.rand(20000, 1, generator=generator) - 1]
    chosen = _rar_d_choice(banded, None, candidates, 500, np.random.default_rng(0))
    assert len(set(chosen.tolist())) == 500
    x = candidates[1][chosen, 0]
    assert 0.35 < float((x.abs() < 0.05).double().mean()) < 0.5
    assert int((x < -0.5).sum()) > 30 and int((x > 0.5).sum()) > 30


def test_rar_phases_add_points_between_them_and_a_time_limit_ends_training(monkeypatch, capsys):
    from symsim import pinn
    burgers = load_model("burgers_1d")
    monkeypatch.setattr(pinn, "RAR_PHASE", 10)
    run = train_pinn(burgers, steps=2, lbfgs_steps=40, points=64, width=8, depth=1, hard_bc=True, dtype="float64")
    assert run.config["resampling"] == "rar" and run.config["lbfgs_restarts"] == 0
    assert run.config["final_points"] == 64 + 3 * 16          # a quarter of the points added after each phase
    assert run.history[-1][0] == run.steps == 2 + run.config["lbfgs_iterations"]
    plain = train_pinn(burgers, steps=2, lbfgs_steps=40, points=64, width=8, depth=1, resampling="none")
    assert plain.config["final_points"] == 64

    monkeypatch.setattr(pinn, "RAR_PHASE", 50)
    limited = train_pinn(burgers, steps=1, lbfgs_steps=10 ** 6, points=64, width=8, depth=1, time_limit=1.0)
    assert limited.config["lbfgs_iterations"] < 10 ** 6 and limited.seconds < 30
    for bad, message in (({"time_limit": 0}, "--time-limit must be a positive"),
                         ({"resampling": "everywhere"}, "resampling must be 'rar' or 'none'")):
        with pytest.raises(pinn.OptionError, match=message):
            train_pinn(burgers, steps=1, lbfgs_steps=0, **bad)
    capsys.readouterr()
    assert main(["pinn", "burgers_1d", "--time-limit", "-5", "--quiet"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--time-limit must be a positive" in err


def test_causal_weights_let_a_slice_in_as_the_ones_before_it_are_fitted():
    """A residual zero before t = 0.5 and 1 after: the 16 early slices have weight 1, the k-th late one
    exp(-epsilon k); a training with causal weights records how far the last slice was let in."""
    from symsim import pinn
    t = (torch.arange(3200, dtype=torch.float64)[:, None] + 0.5) / 3200
    squares = (t >= 0.5).to(torch.float64).repeat(1, 2) / 2          # two fields, one per point in all
    slices = pinn._causal_slices(squares, t, 1.0)
    assert torch.equal(slices, torch.tensor([0.0] * 16 + [1.0] * 16, dtype=torch.float64))
    weights = pinn._causal_weights(slices, 0.5)
    assert torch.allclose(weights, torch.exp(-0.5 * torch.tensor([0.0] * 17 + list(range(1, 16)),
                                                                 dtype=torch.float64)))
    empty = pinn._causal_slices(squares[:10], t[:10], 1.0)             # slices without points count zero
    assert torch.isfinite(empty).all() and float(empty[1:].abs().sum()) == 0.0

    run = train_pinn(load_model("burgers_1d"), steps=20, lbfgs_steps=20, points=128, width=8, depth=1,
                     hard_bc=True, dtype="float64", causal=1.0)
    assert run.config["causal"] == 1.0 and 0.0 < run.config["causal_last_weight"] <= 1.0
    assert math.isfinite(run.final_loss)
    with pytest.raises(pinn.OptionError, match="--causal must be a positive number"):
        train_pinn(load_model("burgers_1d"), steps=1, lbfgs_steps=0, causal=-1.0)


def test_the_modified_mlp_mixes_two_encodings_and_reloads(tmp_path):
    """Each hidden layer gives U + Z (V - U), U and V two encodings of the input and Z the layer's gate: with
    the last layer's gate forced to 0 the network is its output layer on U, forced to -1 on 2U - V. The CLI
    trains it and its weights reload into the same architecture."""
    from symsim import pinn
    module = pinn_module(load_model("heat_1d"))
    net = build_network(module, 1.0, width=6, depth=2, architecture="modified").double()
    inputs = [torch.rand(7, 1, dtype=torch.float64) for _ in net.scales]
    features = torch.cat([2 * (value - low) / (high - low) - 1 for value, (low, high) in zip(inputs, net.scales)],
                         dim=1)
    u, v = (torch.tanh(encoding(features)) for encoding in net.encodings)
    with torch.no_grad():
        last = net.hidden[-1]
        last.weight.zero_()
        last.bias.fill_(0.0)
        assert torch.allclose(net(*inputs), net.output(u))
        last.bias.fill_(-50.0)                      # tanh(-50) = -1 in float64
        assert torch.allclose(net(*inputs), net.output(2 * u - v))
    assert main(["pinn", "heat_1d", "--steps", "5", "--lbfgs-steps", "0", "--points", "32", "--width", "6",
                 "--depth", "2", "--architecture", "modified", "--quiet", "-o", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"]["architecture"] == "modified"
    again = load_network(tmp_path / "out", load_model("heat_1d"))
    trained = torch.load(tmp_path / "out" / "weights.pt", weights_only=True)
    assert set(again.state_dict()) == set(trained) and any("encodings" in key for key in trained)
    with pytest.raises(pinn.OptionError, match="architecture must be 'mlp' or 'modified'"):
        build_network(module, 1.0, architecture="resnet")
