"""Models on a geometry for physics-informed networks: steady equations and constraints, a rectangle minus
discs and rectangles, conditions on named boundaries held exactly by u = g + phi * N, pins, and the
training loop (float64, Adam then L-BFGS that restarts where it stalls)."""

import json
import math

import numpy as np
import pytest
import sympy
from sympy import Eq

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("float64_default_dtype")

import symsim  # noqa: E402
from symsim import Model, laplace  # noqa: E402
from symsim.cli import main  # noqa: E402
from symsim.errors import BoundaryConditionError, ModelDefinitionError  # noqa: E402
from symsim.geometry import Disc, Rectangle, boundary_interpolation, joined_distance  # noqa: E402
from symsim.pinn import build_network, load_network, pinn_module, train_pinn  # noqa: E402
from symsim.vectorize import numpy_function  # noqa: E402

ROUND_OFF = 1e-12


def channel_with_holes():
    outer = Rectangle(x=(0.0, 2.0), y=(0.0, 1.0), names={"left": "inlet", "right": "outlet",
                                                          "bottom": "walls", "top": "walls"})
    return outer - Disc((0.5, 0.5), 0.15, name="cylinder") - Rectangle(x=(1.2, 1.5), y=(0.3, 0.6), name="block")


def column(array, k):
    return torch.tensor(array[:, k:k + 1]).requires_grad_(True)


def test_distances_vanish_on_their_piece_only_and_normals_point_out():
    domain = channel_with_holes()
    x, y = sympy.symbols("x y")
    rng = np.random.default_rng(0)
    inside = domain.sample_interior(500, rng)
    assert domain.contains(inside).all() and len(inside) == 500
    for piece in domain.pieces:
        distance = numpy_function([x, y], piece.distance(x, y))
        on, normals = piece.sample(50, rng)
        assert np.abs(distance(on[:, 0], on[:, 1])).max() < 1e-12
        assert (np.asarray(distance(inside[:, 0], inside[:, 1])) > 0).all()
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
        assert not domain.contains(on + 1e-6 * normals).any()          # outward: a step along n leaves
        assert domain.contains(on - 1e-6 * normals).all()
    for piece in domain.outer.pieces(hole=False):       # the convex outer rectangle: the line's distance
        line = numpy_function([x, y], piece.line_distance(x, y))
        on, normals = piece.sample(50, rng)
        assert np.abs(line(on[:, 0], on[:, 1])).max() < 1e-12
        np.testing.assert_allclose(line(*(on - 0.3 * normals).T), 0.3)     # linear: 0.3 inwards is 0.3
        assert (np.asarray(line(inside[:, 0], inside[:, 1])) > 0).all()
    joined = numpy_function([x, y], joined_distance([p.distance(x, y) for p in domain.pieces]))
    for name in domain.boundary_names:
        on, _ = domain.sample_boundary(name, 40, rng)
        assert np.abs(joined(on[:, 0], on[:, 1])).max() < 1e-12
    assert (np.asarray(joined(inside[:, 0], inside[:, 1])) > 0).all()


def test_points_near_the_boundary_are_inside_and_within_the_band():
    domain = channel_with_holes()
    x, y = sympy.symbols("x y")
    near = domain.sample_near_boundary(400, 0.05, np.random.default_rng(6))
    assert near.shape == (400, 2) and domain.contains(near).all()
    # the distance to the nearest piece (each piece's distance is ~ the true one within the band)
    distances = np.stack([np.abs(np.asarray(numpy_function([x, y], p.distance(x, y))(near[:, 0], near[:, 1]),
                                            dtype=float)) for p in domain.pieces])
    assert distances.min(axis=0).max() <= 0.05 * 1.2     # a disc's distance is d + d^2 / 2r
    assert {p.name for p in domain.pieces} == set(domain.boundary_names)


def test_sobol_points_fill_the_domain_more_evenly_than_uniform_ones():
    """2048 points in a channel with holes: all inside, and the largest shortfall or excess of points in the
    cells of a 16 x 16 grid against their share of the area (inside cells only) is smaller from a scrambled
    Sobol sequence than from a uniform draw; sampling="sobol" trains and records the residual on its points
    and on a fresh draw."""
    import symsim.pinn as pinn
    domain = channel_with_holes()
    sobol = torch.quasirandom.SobolEngine(2, scramble=True, seed=3)
    quasi = domain.sample_interior(2048, np.random.default_rng(3),
                                   lambda n: sobol.draw(n, dtype=torch.float64).numpy())
    plain = domain.sample_interior(2048, np.random.default_rng(3))
    assert quasi.shape == plain.shape == (2048, 2) and domain.contains(quasi).all()
    (x0, x1), (y0, y1) = domain.bounds()
    fine = np.stack(np.meshgrid(np.linspace(x0, x1, 801)[:-1] + (x1 - x0) / 1600,
                                np.linspace(y0, y1, 801)[:-1] + (y1 - y0) / 1600, indexing="ij"), -1)
    share = np.histogram2d(*fine.reshape(-1, 2).T, bins=16, range=[[x0, x1], [y0, y1]],
                           weights=domain.contains(fine.reshape(-1, 2)).astype(float))[0]
    share = share / share.sum()
    full = share > 0.99 * share.max()                  # cells wholly inside: a cut cell's share is approximate

    def worst(points):
        counts = np.histogram2d(*points.T, bins=16, range=[[x0, x1], [y0, y1]])[0]
        return np.abs(counts - 2048 * share)[full].max()

    assert worst(quasi) < worst(plain)
    run = pinn.train_geometry_pinn(symsim.load_model("kovasznay"), steps=5, lbfgs_steps=5, points=64, width=8,
                                   depth=1, sampling="sobol")
    assert run.config["sampling"] == "sobol"
    assert 0 < run.config["residual_trained"] and 0 < run.config["residual_fresh"]


def test_coons_patch_meets_the_data_and_stays_smooth_at_the_corners():
    """Data exp(x) sin(3y) + xy on the four sides: Coons' g equals it on every side and phi vanishes there only;
    approaching a corner along the diagonal, |laplace g| stays bounded while the R-function blend's grows as
    1 / r. Sides that disagree at a corner (a lid at 1 beside walls at 0) get no patch."""
    from symsim.geometry import RECTANGLE_SIDES, boundary_trace, rectangle_patch
    x, y = sympy.symbols("x y")
    outer = Rectangle(x=(-0.5, 1.0), y=(-0.5, 1.5))
    data = sympy.exp(x) * sympy.sin(3 * y) + x * y
    g, phi = rectangle_patch([data] * 4, outer, x, y)
    exact, patch, distance = (numpy_function([x, y], e) for e in (data, g, phi))
    rng = np.random.default_rng(2)
    for piece in outer.pieces(hole=False):
        on, _ = piece.sample(50, rng)
        assert np.allclose(patch(on[:, 0], on[:, 1]), exact(on[:, 0], on[:, 1]), atol=1e-12, rtol=0)
        assert np.allclose(distance(on[:, 0], on[:, 1]), 0.0, atol=1e-12)
    inside = (Rectangle(x=(-0.5, 1.0), y=(-0.5, 1.5)) - Disc((0.2, 0.5), 0.01)).sample_interior(200, rng)
    assert (np.asarray(distance(inside[:, 0], inside[:, 1])) > 0).all()
    pieces = outer.pieces(hole=False)
    blend = boundary_interpolation([boundary_trace(data, p, x, y) for p in pieces],
                                   [p.distance(x, y) for p in pieces])
    laplacians = [numpy_function([x, y], sympy.diff(e, x, 2) + sympy.diff(e, y, 2)) for e in (g, blend)]
    near, nearer = (-0.5 + 1e-2, -0.5 + 1e-2), (-0.5 + 1e-4, -0.5 + 1e-4)
    smooth, singular = ([abs(float(f(*point))) for point in (near, nearer)] for f in laplacians)
    assert smooth[1] < 2 * smooth[0] + 1.0
    assert singular[1] > 30 * singular[0]
    lid = [0, 0, 1, 0]                              # bottom, right, top, left
    assert rectangle_patch([sympy.Integer(v) for v in lid], outer, x, y) is None
    assert RECTANGLE_SIDES == ("bottom", "right", "top", "left")
    # which field takes which: Kovasznay's velocity the patch (phi a polynomial), the cavity's v = 0 on every
    # side and its u (the lid's corners disagree) the R-function join
    from symsim.continuous import continuous_plan, geometry_constraint_forms
    kovasznay, _ = continuous_plan(symsim.load_model("kovasznay"), egraph=False)
    cavity, _ = continuous_plan(symsim.load_model("cavity"), egraph=False)
    for plan, field, patched in ((kovasznay, "u", True), (kovasznay, "v", True), (cavity, "u", False),
                                 (cavity, "v", False)):
        phi = geometry_constraint_forms(plan, field)[1]
        assert phi.is_polynomial(x, y) == patched, (plan.geometry, field)


def test_boundary_interpolation_takes_each_pieces_value_on_it():
    domain = Rectangle(x=(0.0, 1.0), y=(0.0, 2.0)) - Disc((0.5, 1.0), 0.2, name="hole")
    x, y = sympy.symbols("x y")
    values = [sympy.sin(3 * x), 2 + y, x * y, sympy.cos(y), 5 + 0 * x]          # bottom right top left hole
    pieces = domain.pieces
    g = numpy_function([x, y], boundary_interpolation(values, [p.distance(x, y) for p in pieces]))
    rng = np.random.default_rng(1)
    for piece, value in zip(pieces, values):
        on, _ = piece.sample(30, rng)
        expected = np.broadcast_to(numpy_function([x, y], value)(on[:, 0], on[:, 1]), (30,))
        np.testing.assert_allclose(g(on[:, 0], on[:, 1]), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["kovasznay", "cylinder", "cavity"])
def test_hard_constraints_hold_to_round_off_on_every_sampled_boundary_point(name):
    model = symsim.load_model(name)
    module = pinn_module(model)
    torch.manual_seed(0)
    net = module.HardConstraints(build_network(module, 0.0, width=16, depth=2).double())
    rng = np.random.default_rng(2)
    x, y = sympy.symbols("x y")
    parameters = {s: v for s, v in model.parameters.values()}
    held = 0
    for condition in model.boundary_conditions:
        if condition.kind != "dirichlet":
            continue
        on, _ = model.geometry.sample_boundary(condition.boundary, 200, rng)
        with torch.no_grad():
            out = net(column(on, 0), column(on, 1)).numpy()
        k = list(model.field_functions).index(condition.field)
        expected = numpy_function([x, y], condition.value.xreplace(parameters))(on[:, 0], on[:, 1])
        np.testing.assert_allclose(out[:, k], np.broadcast_to(expected, (200,)), rtol=0, atol=ROUND_OFF)
        held += 1
    assert held >= 4
    for pin in model.pins:
        k = list(model.field_functions).index(pin.field)
        point = np.array([[pin.point["x"], pin.point["y"]]])
        with torch.no_grad():
            value = net(column(point, 0), column(point, 1))[0, k].item()
        assert value == pytest.approx(float(pin.value.xreplace(parameters)), abs=ROUND_OFF)


def test_the_generated_residuals_vanish_on_the_exact_kovasznay_flow():
    model = symsim.load_model("kovasznay")
    module = pinn_module(model)
    nu = model.parameters["nu"][1]
    lam = 1 / (2 * nu) - math.sqrt(1 / (4 * nu ** 2) + 4 * math.pi ** 2)

    def exact(x, y):
        u = 1 - torch.exp(lam * x) * torch.cos(2 * math.pi * y)
        v = lam / (2 * math.pi) * torch.exp(lam * x) * torch.sin(2 * math.pi * y)
        p = (1 - torch.exp(2 * lam * x)) / 2
        return torch.cat([u, v, p], dim=1)

    inside = model.geometry.sample_interior(300, np.random.default_rng(3))
    residual = module.Residual()(exact, column(inside, 0), column(inside, 1))
    assert residual.shape == (300, 3)
    assert residual.abs().max().item() < 1e-11
    net = build_network(module, 0.0, width=8, depth=1).double()       # and not on an arbitrary field
    assert module.Residual()(net, column(inside, 0), column(inside, 1)).abs().max().item() > 1e-3


def test_frozen_factors_give_the_same_loss_and_gradient():
    model = symsim.load_model("cylinder")
    module = pinn_module(model)
    torch.manual_seed(1)
    net = module.HardConstraints(build_network(module, 0.0, width=16, depth=2).double())
    inside = model.geometry.sample_interior(200, np.random.default_rng(4))
    x, y = column(inside, 0), column(inside, 1)
    residual = module.Residual()

    def loss_and_gradient():
        net.zero_grad()
        loss = residual(net, x, y).pow(2).mean(dim=0).sum()
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in net.parameters()])

    plain = loss_and_gradient()
    module.freeze_factors(net, x, y)
    frozen = loss_and_gradient()
    module.freeze_factors(net, None)
    assert frozen[0] == pytest.approx(plain[0], rel=1e-13)
    assert torch.allclose(frozen[1], plain[1], rtol=1e-11, atol=1e-13)


def test_a_short_training_on_kovasznay_gets_within_a_few_percent(tmp_path):
    """Reduced size (the full run is benchmarks/pinn_accuracy.py): small network, 300 Adam steps, 300 L-BFGS."""
    model = symsim.load_model("kovasznay")
    run = train_pinn(model, steps=200, lbfgs_steps=300, points=400, width=24, depth=3, seed=0)
    errors = run.config["field_errors"]
    assert set(errors) == {"u", "v", "p"}
    assert errors["u"] < 0.05 and errors["v"] < 0.1, errors
    assert run.history[-1][1] < run.history[0][1] / 100
    written = run.save(tmp_path / "out")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"]["field_errors"] == errors and metrics["config"]["dtype"] == "float64"
    assert all((tmp_path / "out" / n).exists() for n in ("weights.pt", "pinn.png")) and len(written) == 3
    reloaded = load_network(tmp_path / "out", model)
    inside = model.geometry.sample_interior(20, np.random.default_rng(5))
    with torch.no_grad():
        assert torch.equal(reloaded(column(inside, 0), column(inside, 1)), run.net(column(inside, 0), column(inside, 1)))


def test_pinn_cli_on_a_geometry_reports_errors_per_field(tmp_path, capsys):
    assert main(["pinn", "kovasznay", "--steps", "20", "--lbfgs-steps", "10", "--points", "64",
                 "--width", "8", "--depth", "1", "--quiet", "-o", str(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert "relative L2 errors against the exact solution: u " in out and "(up to a constant)" in out
    assert (tmp_path / "k" / "pinn.png").exists()


def steady_model(geometry=None):
    model = Model("steady", geometry=geometry or Rectangle(x=(0.0, 1.0), y=(0.0, 1.0)))
    u = model.fields("u")
    x, y = model.coords
    model.equations(Eq(laplace(u), -1))
    return model, u


def test_a_pin_may_sit_on_the_boundary_but_not_in_a_hole():
    model = Model("pins", geometry=channel_with_holes())
    u, v, w = model.fields("u v w")
    model.pin(u, 0.0, x=0.0, y=0.0)              # a corner of the outer rectangle
    model.pin(v, 0.0, x=0.65, y=0.5)             # on the disc's circle (centre 0.5, 0.5, radius 0.15)
    with pytest.raises(BoundaryConditionError, match="outside the geometry"):
        model.pin(w, 0.0, x=0.5, y=0.5)          # the disc's centre: in the hole
    assert [p.field for p in model.pins] == ["u", "v"]


def test_bad_input_on_a_geometry_is_one_clear_line(tmp_path, capsys):
    model, u = steady_model()
    with pytest.raises(BoundaryConditionError, match="no boundary 'inlet'.*bottom, right, top, left"):
        model.dirichlet(u, 0, on="inlet")
    with pytest.raises(BoundaryConditionError, match="names its boundaries: on="):
        model.dirichlet(u, 0, x=0.0)
    model.dirichlet(u, 0, on="left")
    with pytest.raises(BoundaryConditionError, match="already has a condition on 'left'"):
        model.neumann(u, 0, on="left")
    with pytest.raises(BoundaryConditionError, match="outside the geometry"):
        model.pin(u, 0, x=2.0, y=0.5)
    with pytest.raises(ModelDefinitionError, match="not strictly inside"):
        Rectangle(x=(0.0, 1.0), y=(0.0, 1.0)) - Disc((0.9, 0.5), 0.2)
    with pytest.raises(ModelDefinitionError, match="overlaps"):
        Rectangle(x=(0.0, 1.0), y=(0.0, 1.0)) - Disc((0.4, 0.5), 0.1) - Disc((0.5, 0.5), 0.1)
    with pytest.raises(ModelDefinitionError, match="has no interior"):
        Rectangle(x=(0.0, 1.0), y=(1.0, 1.0))
    script = tmp_path / "steady.py"
    script.write_text("from sympy import Eq\nfrom symsim import Model, laplace\nfrom symsim.geometry import Rectangle\n"
                      "model = Model('steady', geometry=Rectangle(x=(0, 1), y=(0, 1)))\nu = model.fields('u')\n"
                      "model.equations(Eq(laplace(u), -1))\nmodel.dirichlet(u, 0, on='left right top bottom')\n")
    assert main(["run", str(script)]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "symsim pinn" in err and "Traceback" not in err
    for arguments, message in ((["kovasznay", "--causal", "1"], "causal weighting is for time-dependent"),
                               (["burgers_1d", "--balance", "gradient"], "for models on a geometry"),
                               (["burgers_1d", "--sampling", "sobol"], "for models on a geometry"),
                               (["burgers_1d", "--obstacle-features"], "for models on a geometry"),
                               (["burgers_1d", "--near-boundary", "0.2"], "for models on a geometry"),
                               (["kovasznay", "--near-boundary", "1.5"], "near_boundary must be a fraction")):
        assert main(["pinn", *arguments, "--steps", "1", "--lbfgs-steps", "0", "--quiet"]) != 0
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_pins_and_time_derivatives_are_checked():
    model, u = steady_model()
    model.dirichlet(u, 0, on="left")
    model.pin(u, 1.0, x=0.5, y=0.5)
    with pytest.raises(ModelDefinitionError, match="has Dirichlet conditions"):
        pinn_module(model)
    model, u = steady_model()
    x, y = model.coords
    with pytest.raises(ModelDefinitionError, match="belongs alone on the left"):
        model.equations(Eq(laplace(u), symsim.Dt(u)))
    with pytest.raises(ModelDefinitionError, match="geometry.*or a geometry|not both"):
        Model("both", grid=symsim.Grid(x=(0.0, 1.0, 5)), geometry=Rectangle(x=(0, 1), y=(0, 1)))


def test_lbfgs_restarts_where_it_stalls_and_rar_adds_points(monkeypatch):
    """Chunks of L-BFGS: with resampling="rar" every chunk's draw grows by points where the residual is
    large, with "fresh" it is a new one; a chunk that ends early without progress (a failed line search)
    restarts on a new draw."""
    import symsim.pinn as pinn
    from symsim.errors import OptionError

    model = symsim.load_model("kovasznay")
    module = pinn.pinn_module(model)
    draws = []
    freeze = module.freeze_factors

    def recording_freeze(net, *inputs):            # called at the start of every chunk with its draw
        if inputs != (None,):
            draws.append(inputs[0])
        return freeze(net, *inputs)

    monkeypatch.setattr(module, "freeze_factors", recording_freeze)
    monkeypatch.setattr(pinn, "pinn_module", lambda model, egraph=True: module)
    monkeypatch.setattr(pinn, "LBFGS_CHUNK", 10)
    run = pinn.train_geometry_pinn(model, steps=2, lbfgs_steps=30, points=50, width=8, depth=1, resampling="rar")
    sizes = [len(x) for x in draws]
    assert len(sizes) >= 3 and sizes == [50 + 5 * k for k in range(len(sizes))], sizes
    assert math.isfinite(run.final_loss) and run.config["lbfgs_restarts"] == 0

    draws.clear()                                   # resampling="fresh": a new draw of as many for every chunk
    fresh = pinn.train_geometry_pinn(model, steps=2, lbfgs_steps=30, points=50, width=8, depth=1,
                                     resampling="fresh")
    assert len(draws) >= 3 and all(len(x) == 50 for x in draws) and fresh.config["resampling"] == "fresh"
    assert not any(torch.equal(a, b) for a, b in zip(draws, draws[1:]))

    draws.clear()
    monkeypatch.setattr(torch.optim.LBFGS, "step", lambda self, closure: self.state[self._params[0]].update(
        n_iter=0))                                   # a line search that fails at once, every time
    stalled = pinn.train_geometry_pinn(model, steps=0, lbfgs_steps=1000, points=20, width=4, depth=1)
    assert stalled.config["lbfgs_restarts"] == pinn.MAX_RESTARTS + 1
    assert len(draws) == pinn.MAX_RESTARTS + 1 and len({id(x) for x in draws}) == len(draws)   # a new draw each
    assert not any(torch.equal(draws[0], x) for x in draws[1:])
    with pytest.raises(OptionError, match="resampling must be"):
        pinn.train_geometry_pinn(model, steps=1, lbfgs_steps=0, resampling="everywhere")


def test_balanced_weights_give_every_component_the_mean_pull():
    """|grad L_1| = 3, |grad L_2| = 0.5: the weights 1.75/3 and 3.5 give both the mean, 1.75; a component that
    does not depend on the parameters keeps 1. A training with balance="gradient" records its weights."""
    import symsim.pinn as pinn
    from symsim.errors import OptionError

    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    constant = torch.tensor(7.0, dtype=torch.float64)
    weights = pinn._balanced_weights([3 * a[0], 0.3 * a[1] + 0.4 * b, constant], [a, b])
    assert weights == pytest.approx([1.75 / 3, 3.5, 1.0])

    model = symsim.load_model("kovasznay")
    run = pinn.train_geometry_pinn(model, steps=5, lbfgs_steps=20, points=100, width=8, depth=1, balance="gradient")
    assert run.config["balance"] == "gradient" and len(run.config["loss_weights"]) == 3     # 2 momentum, continuity
    assert all(w > 0 for w in run.config["loss_weights"]) and math.isfinite(run.final_loss)
    with pytest.raises(OptionError, match="balance must be 'gradient' or 'none'"):
        pinn.train_geometry_pinn(model, steps=1, lbfgs_steps=0, balance="equal")


def test_obstacle_features_are_polar_coordinates_about_each_disc_and_reload(tmp_path):
    """With obstacle features the first layer sees the scaled x, y and, per disc cut out (rectangles add
    none), log(r / radius), cos(theta), sin(theta) about its centre; the CLI trains such a network and it
    reloads with them."""
    model, u = steady_model(channel_with_holes())
    model.dirichlet(u, 0, on="inlet outlet walls cylinder block")
    module = pinn_module(model)
    net = build_network(module, 0.0, width=8, depth=1, obstacles=((0.5, 0.5, 0.15),)).double()
    seen = []
    net.layers[0].register_forward_pre_hook(lambda layer, inputs: seen.append(inputs[0]))
    where = np.array([[0.5 + 0.3 * math.cos(1.0), 0.5 + 0.3 * math.sin(1.0)], [1.9, 0.1]])
    net(column(where, 0), column(where, 1))
    expected = [[x - 1, 2 * y - 1, math.log(math.hypot(x - 0.5, y - 0.5) / 0.15),
                 (x - 0.5) / math.hypot(x - 0.5, y - 0.5), (y - 0.5) / math.hypot(x - 0.5, y - 0.5)]
                for x, y in where]                          # x in [0, 2], y in [0, 1] scaled to [-1, 1]
    assert np.allclose(expected[0][2:], [math.log(2.0), math.cos(1.0), math.sin(1.0)])
    assert np.allclose(seen[0].detach().numpy(), expected, atol=1e-12)
    script = tmp_path / "channel.py"
    script.write_text(
        "from sympy import Eq\nfrom symsim import Model, laplace\nfrom symsim.geometry import Disc, Rectangle\n"
        "outer = Rectangle(x=(0, 2), y=(0, 1))\n"
        "model = Model('channel', geometry=outer - Disc((0.5, 0.5), 0.15, name='cylinder'))\n"
        "u = model.fields('u')\nmodel.equations(Eq(laplace(u), -1))\n"
        "model.dirichlet(u, 0, on='left right top bottom cylinder')\n")
    assert main(["pinn", str(script), "--steps", "3", "--lbfgs-steps", "0", "--points", "32", "--width", "6",
                 "--depth", "1", "--obstacle-features", "--quiet", "-o", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"]["obstacles"] == [[0.5, 0.5, 0.15]]
    trained = symsim.load_model(str(script))
    again = load_network(tmp_path / "out", trained)
    inside = trained.geometry.sample_interior(10, np.random.default_rng(2))
    weights = torch.load(tmp_path / "out" / "weights.pt", weights_only=True)
    assert set(again.state_dict()) == set(weights)
    assert next(w for key, w in weights.items() if key.endswith("layers.0.weight")).shape[1] == 5   # x, y + 3
    assert all(torch.equal(again.state_dict()[key], weights[key]) for key in weights)
    # on by default where the geometry has a disc cut out, off on asking and on a geometry without one
    common = ["--steps", "1", "--lbfgs-steps", "0", "--points", "16", "--width", "4", "--depth", "1", "--quiet"]
    for extra, expected in (([], [[0.5, 0.5, 0.15]]), (["--no-obstacle-features"], [])):
        assert main(["pinn", str(script), *common, *extra, "-o", str(tmp_path / "default")]) == 0
        assert json.loads((tmp_path / "default" / "metrics.json").read_text())["config"]["obstacles"] == expected
    square = tmp_path / "square.py"
    square.write_text(script.read_text().replace(" - Disc((0.5, 0.5), 0.15, name='cylinder')", "")
                      .replace(" cylinder')", "')"))
    assert main(["pinn", str(square), *common, "-o", str(tmp_path / "square")]) == 0
    config = json.loads((tmp_path / "square" / "metrics.json").read_text())["config"]
    assert config["obstacles"] == [] and config["resampling"] == "fresh"        # the defaults on a geometry
    with torch.no_grad():
        assert torch.isfinite(again(column(inside, 0), column(inside, 1))).all()


def test_corners_where_the_data_jumps_are_found_and_weighed_down():
    """The cavity's lid meets the still side walls at two corners: its u jumps there, and only there (v = 0
    everywhere; Kovasznay's and the cylinder's data agree at their corners). The residual's weight is 0 at
    such a corner, 1/2 at delta from it and tends to 1 away from it; a run records the corners."""
    from symsim.continuous import dirichlet_jumps
    from symsim.pinn import jump_weights
    cavity = symsim.load_model("examples/pinn/cavity.py")
    assert dirichlet_jumps(cavity.geometry, cavity.boundary_conditions) == ((0.0, 1.0), (1.0, 1.0))
    for name in ("kovasznay", "examples/pinn/cylinder.py"):
        model = symsim.load_model(name)
        assert dirichlet_jumps(model.geometry, model.boundary_conditions) == ()
    x = np.array([0.0, 0.05, 0.5, 1.0])
    weights = jump_weights(x, np.ones_like(x), ((0.0, 1.0),), 0.05)
    assert np.allclose(weights, [0.0, 0.5, 1 / (1 + 0.01), 1 / (1 + 0.0025)])
    run = train_pinn(cavity, steps=2, lbfgs_steps=0, points=32, width=6, depth=1)
    assert run.config["data_jumps"] == [[0.0, 1.0], [1.0, 1.0]] and run.config["jump_radius"] == 0.05
    from symsim.pinn import OptionError, train_geometry_pinn
    with pytest.raises(OptionError, match="jump_radius must be at least 0"):
        train_geometry_pinn(cavity, steps=1, lbfgs_steps=0, points=8, width=4, depth=1, jump_radius=-0.1)


def test_monitor_records_a_measure_before_every_chunk_and_at_the_end(monkeypatch):
    """A monitor (here u at one point) is measured before each of the three 10-iteration L-BFGS chunks and once
    at the end, with the steps in order; the last entry is the trained network's value."""
    import symsim.pinn as pinn
    monkeypatch.setattr(pinn, "LBFGS_CHUNK", 10)
    probe = (torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[0.2]], dtype=torch.float64))

    def u_at_probe(net):
        with torch.no_grad():
            return {"u": float(net(*probe)[0, 0])}

    run = pinn.train_geometry_pinn(symsim.load_model("kovasznay"), steps=3, lbfgs_steps=30, points=64, width=8,
                                   depth=1, time_limit=600, monitor=u_at_probe)
    entries = run.config["monitor"]
    steps = [entry["step"] for entry in entries]
    assert len(entries) == 4 and steps == sorted(steps) and steps[0] == 2, steps       # Adam's last step: 2
    assert steps[-1] == 3 + run.config["lbfgs_iterations"]
    assert entries[-1]["u"] == u_at_probe(run.net)["u"]
    assert all(0 <= a["seconds"] <= b["seconds"] for a, b in zip(entries, entries[1:]))
    assert len({entry["u"] for entry in entries}) == 4          # the network changed between them


def test_a_short_last_chunk_keeps_its_draw_when_told(monkeypatch):
    """On a clock that ticks once per loss evaluation, a 10-iteration chunk of L-BFGS (on Rosenbrock's
    function) leaves less than half a chunk of a 17-tick limit: the last chunk is refined (a new draw) by
    default, and keeps its draw with refine_short_last=False (a few L-BFGS steps on a new draw jolt the network)."""
    import types

    import symsim.pinn as pinn
    now = [0.0]
    monkeypatch.setattr(pinn, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    param = torch.zeros(4, dtype=torch.float64, requires_grad=True)

    def loss_of(batch):
        now[0] += 1.0
        shifted = param - 1.0 + 0 * batch[0][0].sum()
        return (100 * (shifted[1:] + 1 - (shifted[:-1] + 1) ** 2) ** 2 + shifted[:-1] ** 2).sum()

    def draw():
        return ([torch.zeros(4, 1, dtype=torch.float64)],)

    for refine_short_last, refines in ((True, 1), (False, 0)):
        refined = []
        now[0] = 0.0
        with torch.no_grad():
            param.fill_(-1.0)
        done, restarts, _ = pinn._lbfgs_in_chunks(
            [param], loss_of, draw, 1000, [], None, 0, 0.0, time_limit=17, chunk=10,
            refine=lambda batch: refined.append(1) or draw(), refine_short_last=refine_short_last)
        assert restarts == 0 and done >= 10 and len(refined) == refines, (done, refined)


def test_lbfgs_chunks_keep_curvature_across_chunks():
    """keep_curvature: each chunk after the first starts from the curvature pairs of the one before. On an
    ill-conditioned quadratic (one draw), three chunks of 10 iterations then get further than with a fresh
    history per chunk (whose first step is a small gradient step), and the iterations counted are those run (the
    pairs carried over count none)."""
    import symsim.pinn as pinn
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(20, 20, generator=generator, dtype=torch.float64))
    hessian = basis @ torch.diag(torch.logspace(0, 3, 20, dtype=torch.float64)) @ basis.T
    target = torch.randn(20, dtype=torch.float64, generator=generator)
    param = torch.zeros(20, dtype=torch.float64, requires_grad=True)

    def loss_of(batch):
        error = param - target + 0 * batch[0][0].sum()
        return 0.5 * error @ hessian @ error

    def draw():
        return ([torch.zeros(3, 1, dtype=torch.float64)],)

    losses, counts = {}, {}
    for keep in (False, True):
        with torch.no_grad():
            param.zero_()
        history = []
        done, restarts, _ = pinn._lbfgs_in_chunks([param], loss_of, draw, 30, history, None, 0, 0.0, chunk=10,
                                                  keep_curvature=keep)
        losses[keep], counts[keep] = float(loss_of(draw()).detach()), done
        assert restarts == 0 and [step for step, _ in history] == [10, 20, 30]
    assert counts == {False: 30, True: 30}
    assert losses[True] < 0.05 * losses[False], losses          # measured: 1.9e-3 against 0.27


def test_lbfgs_chunks_clear_the_curvature_after_a_failed_chunk(monkeypatch):
    """The second chunk starts from the first one's curvature pairs; it ends in NaN (weights restored, a new
    draw), and the third starts with an empty history: pairs gathered on a diverging loss are not carried."""
    import symsim.pinn as pinn
    pairs_at_start = []

    class Recording(torch.optim.LBFGS):
        def step(self, closure):
            pairs_at_start.append(len(self.state[self._params[0]].get("old_dirs") or []))
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "LBFGS", Recording)
    param = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    scales = torch.logspace(0, 2, 6, dtype=torch.float64)
    chunk_number = [0]

    def loss_of(batch):
        value = (scales * (param - 1.0) ** 2).sum() + 0 * batch[0][0].sum()
        return value * float("nan") if chunk_number[0] == 2 else value

    def before_chunk(batch):
        chunk_number[0] += 1

    draws = []

    def draw():
        draws.append(1)
        return ([torch.zeros(3, 1, dtype=torch.float64)],)

    done, restarts, _ = pinn._lbfgs_in_chunks([param], loss_of, draw, 15, [], None, 0, 0.0, chunk=5,
                                              before_chunk=before_chunk, keep_curvature=True)
    assert pairs_at_start[0] == 0 and pairs_at_start[1] > 0 and pairs_at_start[2] == 0, pairs_at_start
    assert restarts == 1 and len(draws) == 2 and torch.isfinite(param).all()
