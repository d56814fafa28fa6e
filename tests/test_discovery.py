"""Equation discovery: observations in every format read back; every bad input is one clear error; symsim's
own simulations -> ``discover`` -> the same terms and coefficients -> a model script that replays the data."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

import symsim
from symsim.cli import main
from symsim.discovery import DataError, discover, read_observations
from symsim.discovery.proposals import Proposal, feature_expression, template_model
from symsim.discovery.refinement import candidate_model, ill_posed_term, readable, refine
from symsim.errors import OptionError

pytest.importorskip("pysindy")


# -- data made by symsim --------------------------------------------------------------------

def lotka_volterra(t_end=20.0, saves=100):
    return symsim.simulate(symsim.load_model("lotka_volterra"), t_end=t_end, saves=saves)


BURGERS = """
from sympy import Eq, sin, cos
from symsim import Model, Grid, Dt

grid = Grid(x=(0.0, 6.283185307179586, 128), periodic=("x",))
model = Model("burgers_periodic", grid)
u = model.fields("u")
nu = model.params(nu=0.1)
(x,) = grid.coords
model.equations(Eq(Dt(u), -u * u.diff(x) + nu * u.diff(x, 2)))
model.initial(u=sin(x) + 0.5 * cos(2 * x))
model.defaults(t_end=3.0, saves=60, method="dopri5", space_order=4, rtol=1e-8, atol=1e-10)
"""

HEAT_WALLS = """
from sympy import Eq, sin, pi
from symsim import Model, Grid, Dt

grid = Grid(x=(0.0, 1.0, 41))
model = Model("heat_walls", grid)
u = model.fields("u")
D = model.params(D=0.05)
(x,) = grid.coords
model.equations(Eq(Dt(u), D * u.diff(x, 2)))
model.initial(u=1.0 + sin(pi * x) + 0.5 * sin(3 * pi * x))
model.dirichlet(u, x=0.0, value=1.0)
model.dirichlet(u, x=1.0, value=1.0)
model.defaults(t_end=2.0, saves=40, method="dopri5", space_order=4, rtol=1e-8, atol=1e-10)
"""


def run_script(tmp_path, text, name):
    script = tmp_path / f"{name}.py"
    script.write_text(text)
    return symsim.simulate(symsim.load_model(script))


def terms_of(expr):
    """The monomials of an expanded rate, coefficients dropped."""
    return {term.as_coeff_Mul()[1] for term in sympy.Add.make_args(sympy.expand(expr))}


def coefficient(expr, monomial):
    """The number multiplying ``monomial`` in the expanded rate (0 if absent)."""
    terms = {term.as_coeff_Mul()[1]: term.as_coeff_Mul()[0] for term in sympy.Add.make_args(sympy.expand(expr))}
    return float(terms.get(monomial, 0))


# -- reading ------------------------------------------------------------------------------

def write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def decay_rows(count=12, start=0.0):
    return [(start + 0.1 * k, float(np.exp(-0.1 * k)), float(np.exp(-0.2 * k))) for k in range(count)]


def test_a_csv_series_reads_as_one_trajectory(tmp_path):
    data = read_observations(write_csv(tmp_path / "d.csv", ["t", "a", "b"], decay_rows()))
    assert data.kind == "ode" and data.names == ("a", "b") and data.trajectories == 1
    np.testing.assert_allclose(data.values[0][:, 1], np.exp(-0.2 * np.arange(12) * 1.0))


def test_a_trajectory_column_splits_a_csv_into_trajectories(tmp_path):
    rows = [(0, *r) for r in decay_rows()] + [(1, *r) for r in decay_rows(10)]
    data = read_observations(write_csv(tmp_path / "d.csv", ["trajectory", "t", "a", "b"], rows))
    assert data.trajectories == 2 and [len(t) for t in data.times] == [12, 10]


def test_npz_series_with_a_trajectory_axis_read_as_trajectories(tmp_path):
    t = np.tile(np.linspace(0, 1, 10), (3, 1))
    np.savez(tmp_path / "d.npz", t=t, a=np.exp(-t), b=np.cos(t))
    data = read_observations(tmp_path / "d.npz")
    assert data.trajectories == 3 and data.values[2].shape == (10, 2)


def test_plain_npz_snapshots_take_their_coordinates_by_length(tmp_path):
    t, x, y = np.linspace(0, 1, 9), np.linspace(0, 1, 6), np.linspace(0, 2, 5)
    np.savez(tmp_path / "d.npz", t=t, y=y, x=x, u=np.zeros((9, 6, 5)))
    data = read_observations(tmp_path / "d.npz", periodic=["y"])
    assert data.kind == "pde" and list(data.coords) == ["x", "y"] and data.grid_shape == (6, 5)
    assert data.grid().axis("y").periodic and data.grid().axis("y").stop == pytest.approx(2.5)


def _long_csv(path, t, coords: dict, fields: dict, order=None):
    """Snapshots written one row per time and grid point (long format), rows in ``order``."""
    mesh = np.meshgrid(t, *coords.values(), indexing="ij")
    columns = [m.reshape(-1) for m in mesh] + [f.reshape(-1) for f in fields.values()]
    rows = np.stack(columns, axis=1)
    rows = rows[order] if order is not None else rows
    header = ",".join(["t", *coords, *fields])
    path.write_text(header + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))
    return path


def test_pde_snapshots_in_a_long_csv_read_as_the_npz_does(tmp_path):
    t, x, y = np.linspace(0, 1, 9), np.linspace(0, 1, 6), np.linspace(0, 2, 5)
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((9, 6, 5)), rng.standard_normal((9, 6, 5))
    np.savez(tmp_path / "d.npz", t=t, x=x, y=y, u=u, v=v)
    shuffled = rng.permutation(9 * 6 * 5)                  # rows in any order
    csv = _long_csv(tmp_path / "d.csv", t, {"x": x, "y": y}, {"u": u, "v": v}, shuffled)
    from_csv = read_observations(csv, axes=["x"], periodic=["y"])          # a periodic axis is an axis
    from_npz = read_observations(tmp_path / "d.npz", periodic=["y"])
    assert from_csv.kind == "pde" and from_csv.names == ("u", "v") and list(from_csv.coords) == ["x", "y"]
    assert np.array_equal(from_csv.times[0], t) and np.array_equal(from_csv.values[0], from_npz.values[0])
    assert from_csv.grid().axis("y").periodic


def test_long_csv_mistakes_name_the_line_or_the_point(tmp_path):
    t, x = np.linspace(0, 1, 9), np.linspace(0, 1, 8)
    u = np.zeros((9, 8))
    csv = _long_csv(tmp_path / "d.csv", t, {"x": x}, {"u": u})
    lines = csv.read_text().splitlines()
    (tmp_path / "twice.csv").write_text("\n".join(lines + [lines[5]]) + "\n")
    with pytest.raises(DataError, match=r"twice.csv: line 74: the point \(t=0, x=0.571429\) appears twice"):
        read_observations(tmp_path / "twice.csv", axes=["x"])
    (tmp_path / "gap.csv").write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    with pytest.raises(DataError, match=r"gap.csv: no row for \(t=0, x=0.571429\).*one row per time and grid point"):
        read_observations(tmp_path / "gap.csv", axes=["x"])
    with pytest.raises(DataError, match=r"no column for the axes \['z'\]"):
        read_observations(csv, axes=["z"])
    with pytest.raises(DataError, match="no field columns"):
        read_observations(_long_csv(tmp_path / "bare.csv", t, {"x": x}, {}), axes=["x"])


def test_a_symsim_result_reads_back_as_it_was_run(tmp_path):
    result = run_script(tmp_path, BURGERS, "burgers")
    data = read_observations(result.save(tmp_path / "run.npz"), periodic=["x"])
    assert data.names == ("u",) and data.grid().shape == (128,)
    np.testing.assert_allclose(data.grid().axis("x").coordinates, result["x"])


BAD_INPUTS = {
    "nan": ("d.csv", "t,a\n" + "".join(f"{k},{'nan' if k == 5 else 1.0}\n" for k in range(12)),
            "line 7, column 'a'"),
    "text": ("d.csv", "t,a\n" + "".join(f"{k},{'oops' if k == 3 else 1.0}\n" for k in range(12)),
             "line 5, column 'a': 'oops' is not a number"),
    "no t": ("d.csv", "time,a\n" + "".join(f"{k},1.0\n" for k in range(12)), "needs a 't' column"),
    "ragged": ("d.csv", "t,a\n0,1\n1\n", "line 3: 1 values"),
    "decreasing": ("d.csv", "t,a\n" + "".join(f"{k if k != 4 else 2},1.0\n" for k in range(12)),
                   "times must increase, but t[4] = 2 follows t[3] = 3"),
    "too few": ("d.csv", "t,a\n" + "".join(f"{k},1.0\n" for k in range(5)), "has 5 samples; fitting needs at least 8"),
    "reserved": ("d.csv", "t,model\n" + "".join(f"{k},1.0\n" for k in range(12)), "'model' is taken"),
    "not data": ("d.txt", "hello", "unknown data format '.txt'"),
    "corrupt npz": ("d.npz", "not a zip archive", "cannot read npz"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_clear_error(tmp_path, case):
    name, text, message = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_observations(path, holdout=0.25)


def test_mismatched_shapes_name_the_array(tmp_path):
    np.savez(tmp_path / "d.npz", t=np.linspace(0, 1, 10), a=np.ones(10), b=np.ones(9))
    with pytest.raises(DataError, match="state 'b' has shape \\(9,\\), 't' has \\(10,\\)"):
        read_observations(tmp_path / "d.npz")


def test_a_pickled_array_is_refused_not_unpickled(tmp_path):
    marker = tmp_path / "ran"
    payload = np.array([_Exploit(marker)], dtype=object)
    with open(tmp_path / "d.npz", "wb") as handle:
        np.savez(handle, t=np.arange(10.0), a=payload)
    with pytest.raises(DataError, match="cannot read npz"):
        read_observations(tmp_path / "d.npz")
    assert not marker.exists()


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).touch, ())


def test_uneven_coordinates_and_unknown_periodic_axes_are_refused(tmp_path):
    t = np.linspace(0, 1, 9)
    np.savez(tmp_path / "d.npz", t=t, x=np.array([0, 1, 2, 4, 5.0]), u=np.zeros((9, 5)))
    with pytest.raises(DataError, match="coordinate 'x' must be at least 4 evenly spaced"):
        read_observations(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", t=t, x=np.linspace(0, 1, 5), u=np.zeros((9, 5)))
    with pytest.raises(DataError, match="periodic names axes \\['y'\\]"):
        read_observations(tmp_path / "e.npz", periodic=["y"])


def test_options_out_of_range_are_refused_before_reading(tmp_path):
    with pytest.raises(OptionError, match="holdout must be a fraction"):
        discover(tmp_path / "missing.csv", holdout=1.5)
    with pytest.raises(OptionError, match="unknown discovery method 'genetic'"):
        discover(tmp_path / "missing.csv", method="genetic")


# -- pieces of the loop ---------------------------------------------------------------------

def test_pysindy_feature_names_become_fields_and_derivatives(tmp_path):
    np.savez(tmp_path / "d.npz", t=np.linspace(0, 1, 9), x=np.linspace(0, 1, 5), u=np.zeros((9, 5)),
             v=np.zeros((9, 5)))
    data = read_observations(tmp_path / "d.npz")
    u, v = template_model(data).field_functions.values()
    x = sympy.Symbol("x")
    assert feature_expression("f0^2f1_11", (u, v), data) == u**2 * v.diff(x, 2)
    assert feature_expression("f0 f1", (u, v), data) == u * v
    assert feature_expression("1", (u, v), data) == 1


def test_anti_diffusion_at_the_highest_order_is_ill_posed(tmp_path):
    np.savez(tmp_path / "d.npz", t=np.linspace(0, 1, 9), x=np.linspace(0, 1, 8, endpoint=False),
             u=np.ones((9, 8)))
    data = read_observations(tmp_path / "d.npz", periodic=["x"])
    u = template_model(data).field_functions["u"]
    x, c = sympy.Symbol("x"), sympy.Symbol("c_0")
    snapshot = np.ones((1, 8))
    kuramoto = candidate_model(data, (-u * u.diff(x) - u.diff(x, 2) + c * u.diff(x, 4),), {"c_0": -1.0})
    assert ill_posed_term(kuramoto, {"c_0": -1.0}, snapshot) is None       # u_xx < 0 is fine below -u_xxxx
    reason = ill_posed_term(kuramoto, {"c_0": 2e-5}, snapshot)
    assert reason is not None and "u_xxxx" in reason
    assert ill_posed_term(candidate_model(data, (c * u.diff(x, 2),), {"c_0": -0.1}), {"c_0": -0.1}, snapshot)


def test_readable_writes_derivatives_as_subscripts(tmp_path):
    np.savez(tmp_path / "d.npz", t=np.linspace(0, 1, 9), x=np.linspace(0, 1, 5), u=np.zeros((9, 5)))
    u = template_model(read_observations(tmp_path / "d.npz")).field_functions["u"]
    assert readable(-u * u.diff(sympy.Symbol("x")) + 2 * u.diff(sympy.Symbol("x"), 2)) == "-u*u_x + 2*u_xx"


def test_refinement_recovers_constants_a_proposal_got_wrong():
    result = lotka_volterra()
    data = read_observations_of(result)
    training, held = data.split(0.25)
    prey, predator = template_model(data).field_functions.values()
    # the right terms with every coefficient 20 % off: fitting the trajectories puts them back
    rough = Proposal("test", (1.32 * prey - 0.48 * prey * predator, 0.12 * prey * predator - 0.32 * predator))
    fitted = refine(rough, training, held)
    assert fitted.failure is None and fitted.forecast_error < 1e-4
    assert sorted(round(v, 3) for v in fitted.parameters.values()) == [-0.4, -0.4, 0.1, 1.1]


def read_observations_of(result):
    from symsim.discovery.observations import Observations

    values = np.stack([result[f] for f in ("prey", "predator")], axis=1)
    return Observations("lotka_volterra", ("prey", "predator"), (result.t,), (values,))


# -- round trips: symsim simulates, discover finds it back, the written model replays it --------

@pytest.mark.slow
def test_noisy_lotka_volterra_round_trip(tmp_path):
    result = lotka_volterra()
    rng = np.random.default_rng(3)
    noisy = {f: result[f] * (1 + 0.01 * rng.standard_normal(result[f].shape)) for f in ("prey", "predator")}
    np.savez(tmp_path / "lv.npz", t=result.t, **noisy)
    found = discover(tmp_path / "lv.npz", holdout=0.25)
    best = found.best
    prey, predator = template_model(found.data).field_functions.values()
    assert terms_of(best.rates[0]) == {prey, prey * predator}
    assert terms_of(best.rates[1]) == {predator, prey * predator}
    truth = [(best.rates[0], prey, 1.1), (best.rates[0], prey * predator, -0.4),
             (best.rates[1], prey * predator, 0.1), (best.rates[1], predator, -0.4)]
    for rate, monomial, value in truth:
        assert coefficient(rate, monomial) == pytest.approx(value, rel=0.02)
    assert best.forecast_error < 0.03
    found.write(tmp_path / "out")
    replay = symsim.simulate(symsim.load_model(tmp_path / "out" / "model.py"))
    modelled = np.stack([replay["prey"], replay["predator"]], axis=1)
    observed = np.stack([noisy["prey"], noisy["predator"]], axis=1)
    error = np.linalg.norm(modelled - observed) / np.linalg.norm(observed)
    assert error == pytest.approx(best.replay_error, rel=0.05)
    table = json.loads((tmp_path / "out" / "candidates.json").read_text())
    assert table["candidates"][0]["rank"] == 1 and any(c["best"] for c in table["candidates"])
    assert (tmp_path / "out" / "discover.png").stat().st_size > 10_000


@pytest.mark.slow
def test_periodic_burgers_round_trip(tmp_path):
    result = run_script(tmp_path, BURGERS, "burgers")
    found = discover(result.save(tmp_path / "burgers.npz"), periodic=["x"], holdout=0.25)
    best = found.best
    u = template_model(found.data).field_functions["u"]
    x = sympy.Symbol("x")
    assert terms_of(best.rates[0]) == {u * u.diff(x), u.diff(x, 2)}
    assert coefficient(best.rates[0], u * u.diff(x)) == pytest.approx(-1.0, rel=0.01)
    assert coefficient(best.rates[0], u.diff(x, 2)) == pytest.approx(0.1, rel=0.01)
    found.write(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"model.py", "initial_state.npz", "candidates.json",
                                                             "candidates.md", "discover.png"}
    replay = symsim.simulate(symsim.load_model(tmp_path / "out" / "model.py"))
    error = np.linalg.norm(replay["u"] - result["u"]) / np.linalg.norm(result["u"])
    assert error == pytest.approx(best.replay_error, rel=0.05, abs=1e-6) and error < 0.01


@pytest.mark.slow
def test_fixed_walls_are_read_from_the_data(tmp_path):
    result = run_script(tmp_path, HEAT_WALLS, "heat")
    found = discover(result.save(tmp_path / "heat.npz"), method="weak-sindy")
    script = found.model_script
    assert "model.dirichlet(u, x=0.0, value=1.0)" in script and "model.dirichlet(u, x=1.0, value=1.0)" in script
    u = template_model(found.data).field_functions["u"]
    assert terms_of(found.best.rates[0]) == {u.diff(sympy.Symbol("x"), 2)}
    assert coefficient(found.best.rates[0], u.diff(sympy.Symbol("x"), 2)) == pytest.approx(0.05, rel=0.01)


def test_a_moving_wall_without_periodic_is_refused(tmp_path):
    t, x = np.linspace(0, 1, 20), np.linspace(0, 2 * np.pi, 32, endpoint=False)
    np.savez(tmp_path / "wave.npz", t=t, x=x, u=np.sin(x[None, :] - t[:, None]))
    with pytest.raises(DataError, match="low wall of axis 'x' .* give --periodic x"):
        discover(tmp_path / "wave.npz", method="weak-sindy", derivative_order=2)


# -- the command line -------------------------------------------------------------------------

def test_cli_writes_the_model_and_table(tmp_path, capsys):
    result = lotka_volterra(t_end=12.0, saves=60)
    result.save(tmp_path / "lv.npz")
    assert main(["discover", str(tmp_path / "lv.npz"), "--method", "weak-sindy", "-o", str(tmp_path / "out"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| rank |" in out and "best: dprey/dt =" in out
    assert (tmp_path / "out" / "model.py").is_file()


def test_cli_bad_data_is_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "bad.csv").write_text("t,a\n0,1\n1,nan\n")
    run = subprocess.run([sys.executable, "-m", "symsim.cli", "discover", str(tmp_path / "bad.csv"),
                          "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "symsim: error:" in run.stderr and "line 3, column 'a'" in run.stderr
    assert not (tmp_path / "out").exists()


# -- PROSE proposals (the shipped network) ---------------------------------------------------

def noisy_lorenz(t_end=1.969, samples=64, noise=0.02, seed=5):
    model = symsim.load_model("lorenz")
    model.initial(x=-1.5, y=1.2, z=0.8)
    result = symsim.simulate(model, t_end=t_end, saves=samples - 1, method="dopri5", rtol=1e-9, atol=1e-9)
    rng = np.random.default_rng(seed)
    values = np.stack([result[f] for f in ("x", "y", "z")], axis=1)
    return result.t, values + noise * values.std(axis=0) * rng.standard_normal(values.shape)


def test_prose_proposes_lorenz_from_64_noisy_points_and_the_fit_finds_its_constants(tmp_path):
    pytest.importorskip("torch")
    t, values = noisy_lorenz()
    write_csv(tmp_path / "lorenz.csv", ["t", "x", "y", "z"], np.column_stack([t, values]))
    found = discover(tmp_path / "lorenz.csv", method="prose")
    best = found.best
    x, y, z = template_model(found.data).field_functions.values()
    assert best.proposal.method.startswith("prose")
    assert [terms_of(r) for r in best.rates] == [{x, y}, {x, y, x * z}, {x * y, z}]
    assert coefficient(best.rates[0], y) == pytest.approx(10.0, rel=0.03)
    assert coefficient(best.rates[1], x) == pytest.approx(28.0, rel=0.03)
    assert coefficient(best.rates[2], z) == pytest.approx(-8 / 3, rel=0.03)
    # the 48 training points span 1.47 time units: the network read them stretched onto its 1.98
    assert any("time scaled by 0.742" in note for note in found.notes) and "PROSE read" in found.table()


def test_a_long_series_is_read_twice_by_prose_as_it_is_and_time_scaled():
    pytest.importorskip("torch")
    from symsim.discovery.observations import Observations
    from symsim.discovery.proposals import prose_proposals

    t = np.linspace(0.0, 8.0, 200)
    data = Observations("decay", ("u",), (t,), (np.exp(-0.4 * t)[:, None],))
    proposals, note = prose_proposals(data)
    assert "2 resampled window(s)" in note and "time scaled by 1, 4.04" in note
    assert all(p.method in ("prose", "prose-lsq") and len(p.rates) == 1 for p in proposals)


def test_prose_on_pde_snapshots_or_a_missing_checkpoint_is_one_clear_error(tmp_path):
    pytest.importorskip("torch")
    t, x = np.linspace(0, 1, 20), np.linspace(0, 2 * np.pi, 32, endpoint=False)
    np.savez(tmp_path / "wave.npz", t=t, x=x, u=np.sin(x[None, :] - t[:, None]))
    with pytest.raises(DataError, match="PROSE reads ODE series"):
        discover(tmp_path / "wave.npz", method="prose", periodic=["x"])
    t, values = noisy_lorenz()
    write_csv(tmp_path / "lorenz.csv", ["t", "x", "y", "z"], np.column_stack([t, values]))
    with pytest.raises(OptionError, match="no PROSE checkpoint at .*missing.pt"):
        discover(tmp_path / "lorenz.csv", method="prose", checkpoint=tmp_path / "missing.pt")


# -- user library functions ----------------------------------------------------------------

def damped_pendulum(tmp_path, samples=201):
    from scipy.integrate import solve_ivp

    t = np.linspace(0.0, 10.0, samples)
    states = solve_ivp(lambda t, s: [s[1], -9.81 * np.sin(s[0]) - 0.3 * s[1]], (0.0, 10.0), [2.5, 0.0], t_eval=t,
                       rtol=1e-10, atol=1e-10).y.T
    noisy = states + 0.01 * states.std(axis=0) * np.random.default_rng(0).standard_normal(states.shape)
    return write_csv(tmp_path / "pendulum.csv", ["t", "theta", "omega"], np.column_stack([t, noisy]))


def test_a_user_function_library_finds_the_pendulum_and_the_script_runs(tmp_path):
    found = discover(damped_pendulum(tmp_path), method="weak-sindy", functions=["sin(theta)", "cos(theta)"])
    theta, omega = template_model(found.data).field_functions.values()
    best = found.best
    assert [terms_of(r) for r in best.rates] == [{omega}, {omega, sympy.sin(theta)}]
    assert coefficient(best.rates[1], sympy.sin(theta)) == pytest.approx(-9.81, rel=0.01)
    assert coefficient(best.rates[1], omega) == pytest.approx(-0.3, rel=0.01)
    found.write(tmp_path / "out")
    assert "from sympy import Eq, sin" in (tmp_path / "out" / "model.py").read_text()
    replay = symsim.simulate(symsim.load_model(tmp_path / "out" / "model.py"))
    assert len(replay.t) == 201


def test_library_functions_are_parsed_safely_and_checked_against_the_states(tmp_path, capsys):
    data = damped_pendulum(tmp_path, samples=41)
    with pytest.raises(OptionError, match="'sin\\(phi\\)' uses phi, which are not states of .* \\(theta, omega\\)"):
        discover(data, functions=["sin(phi)"])
    with pytest.raises(OptionError, match="is a constant"):
        discover(data, functions=["sin(1)"])
    assert main(["discover", str(data), "--function", "__import__('os')", "-o", str(tmp_path / "out")]) == 1
    assert "symsim: error:" in capsys.readouterr().err and not (tmp_path / "out").exists()
    t, x = np.linspace(0, 1, 20), np.linspace(0, 2 * np.pi, 32, endpoint=False)
    np.savez(tmp_path / "wave.npz", t=t, x=x, u=np.sin(x[None, :] - t[:, None]))
    with pytest.raises(OptionError, match="user library functions are for ODE series"):
        discover(tmp_path / "wave.npz", functions=["sin(u)"], periodic=["x"])
