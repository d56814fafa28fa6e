"""Inverse problems with physics-informed networks: parameters learned from noisy, scattered observations
(``symsim pinn MODEL --data OBS.npz --learn D``)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symsim  # noqa: E402
from symsim import load_model  # noqa: E402
from symsim.cli import main  # noqa: E402
from symsim.errors import OptionError  # noqa: E402
from symsim.pinn import train_pinn  # noqa: E402
from symsim.result import Result  # noqa: E402

NOISE = 0.01


@pytest.fixture(scope="module")
def heat_observations():
    """heat_1d (D = 0.1) solved by symsim, 21 saves, with 1% noise (of the largest value) added."""
    model = load_model("heat_1d")
    clean = symsim.simulate(model, saves=20, method="rk4", space_order=4)
    noisy = clean["u"] + NOISE * np.random.default_rng(7).standard_normal(clean["u"].shape)
    return Result(clean.model_name, clean.t, clean.coords, {"u": noisy}, clean.params)


def test_the_diffusion_coefficient_is_learned_from_200_noisy_points(heat_observations):
    run = train_pinn(load_model("heat_1d"), data=heat_observations, learn=["D=0.05"], data_points=200, points=512,
                     steps=300, lbfgs_steps=300, hard_bc=True, dtype="float64")
    assert abs(run.learned["D"] - 0.1) < 0.01 * 0.1, run.learned         # within 1%, from a start at half
    # the network fits the data to its noise, and solves the model with the learned D
    assert 0.5 * NOISE < run.config["data_rms_misfit"] < 2 * NOISE
    assert run.rel_l2 < 1e-2
    assert run.config["data_points"] == 200 and run.config["started_from"] == {"D": 0.05}


def test_the_cli_learns_from_a_file_and_writes_the_values(tmp_path, heat_observations, capsys):
    observations = heat_observations.save(tmp_path / "obs.npz")
    code = main(["pinn", "heat_1d", "--data", str(observations), "--learn", "D=0.05", "--data-points", "200",
                 "--points", "256", "--steps", "100", "--lbfgs-steps", "100", "--float64", "--hard-bc", "--quiet",
                 "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "learned D = " in out and "200 observations" in out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["learned"]) == {"D"} and metrics["config"]["learn"] == ["D"]


@pytest.mark.parametrize("arguments, message", [
    (["--learn", "D"], "--learn needs --data"),
    (["--data", "missing.npz", "--learn", "D"], "missing.npz: no such file"),
])
def test_cli_mistakes_are_one_line(arguments, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["pinn", "heat_1d", *arguments, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_api_mistakes_name_the_parameter_or_the_data(heat_observations):
    model = load_model("heat_1d")
    with pytest.raises(OptionError, match="no parameter 'nu'.*parameters: D"):
        train_pinn(model, data=heat_observations, learn=["nu"], steps=1, lbfgs_steps=0)
    with pytest.raises(OptionError, match="--data-points 99999: the data has"):
        train_pinn(model, data=heat_observations, learn=["D"], data_points=99999, steps=1, lbfgs_steps=0)
    with pytest.raises(OptionError, match="--learn needs --data"):
        train_pinn(model, learn=["D"], steps=1, lbfgs_steps=0)
    burgers = load_model("burgers_1d")
    with pytest.raises(OptionError, match="leave the training interval"):
        train_pinn(model, data=heat_observations, learn=["D"], t_end=0.5, steps=1, lbfgs_steps=0)
    wrong_axis = Result("other", heat_observations.t, {"y": heat_observations["x"]}, {"u": heat_observations["u"]})
    with pytest.raises(OptionError, match="needs axes"):
        train_pinn(burgers, data=wrong_axis, learn=["nu"], steps=1, lbfgs_steps=0)


# -- ODE models: a network of t alone ----------------------------------------------------------------

OSCILLATOR = """
from sympy import Eq
from symsim import Model, Dt

model = Model("oscillator")
x, v = model.fields("x v")
c, w = model.params(c=0.2, w=2.0)
model.equations(Eq(Dt(x), v), Eq(Dt(v), -w**2 * x - c * v))
model.initial(x=1.0, v=0.0)
model.defaults(t_end=4.0, saves=40)
"""


@pytest.fixture(scope="module")
def oscillator(tmp_path_factory):
    path = tmp_path_factory.mktemp("ode") / "oscillator.py"
    path.write_text(OSCILLATOR)
    return path


def test_an_ode_model_trains_a_network_of_time_alone(oscillator):
    run = train_pinn(load_model(str(oscillator)), points=256, steps=300, lbfgs_steps=1000, width=32, depth=3)
    assert run.coords == {} and run.config["hard_bc"] and run.config["dtype"] == "float64"
    assert run.rel_l2 < 1e-3                       # against dopri5 at rtol 1e-10
    with torch.no_grad():                          # the initial values hold exactly
        start = run.net(torch.zeros((1, 1), dtype=torch.float64)).numpy()[0]
    assert np.allclose(start, [1.0, 0.0], atol=1e-14)


def test_an_ode_parameter_is_learned_from_noisy_samples(oscillator, tmp_path):
    model = load_model(str(oscillator))
    clean = symsim.simulate(model, method="dopri5", rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(3)
    noisy = {f: clean[f] + NOISE * rng.standard_normal(clean[f].shape) for f in ("x", "v")}
    observations = Result(clean.model_name, clean.t, {}, noisy, clean.params).save(tmp_path / "obs.npz")
    code = main(["pinn", str(oscillator), "--data", str(observations), "--learn", "c=0.1", "--points", "256",
                 "--steps", "300", "--lbfgs-steps", "1000", "--width", "32", "--depth", "3", "--quiet",
                 "-o", str(tmp_path / "out")])
    assert code == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["learned"]["c"] == pytest.approx(0.2, rel=0.05)          # from a start at half, 41 samples
    assert (tmp_path / "out" / "pinn.png").is_file()
