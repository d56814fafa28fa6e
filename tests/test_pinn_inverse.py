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
