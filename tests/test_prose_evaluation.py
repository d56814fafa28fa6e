"""PROSE evaluation: the closed loop (simplify, fit, compile, integrate), the metrics, and the CLI steps."""

import json

import numpy as np
import pytest
import sympy

from symsim import solve_ensemble
from symsim.cli import main
from symsim.prose.data import DataSpec, generate_samples
from symsim.prose.evaluation import (METRICS, constants_as_parameters, integrate_batch, refine_constants,
                                     sample_metrics, simplify_system, summarize, vector_field_error)
from symsim.prose.families import FAMILIES
from symsim.prose.tokens import VOCAB, encode_system, round_constants

pytestmark = pytest.mark.usefixtures("one_torch_thread")

u0, u1, u2 = sympy.symbols("u_0 u_1 u_2")
LORENZ = DataSpec(families=("lorenz",))


@pytest.fixture(scope="module")
def lorenz_samples():
    return generate_samples(LORENZ, 6, seed=11)


@pytest.mark.slow
def test_batched_numpy_integration_matches_the_ensemble_solver():
    family = FAMILIES["rossler"]
    rng = np.random.default_rng(0)
    y0 = rng.uniform(-2, 2, (5, 3))
    params = np.array(list(family.nominal.values())) * rng.uniform(0.9, 1.1, (5, 3))
    times = np.linspace(0, 6, 192)
    ours = integrate_batch(family.rhs(family.parameter_symbols), y0, times, dict(zip(family.nominal, params.T)))
    reference = solve_ensemble(family.model(), y0, times, params=params, rtol=1e-10, atol=1e-12).states
    assert np.abs(ours - reference).max() < 1e-5 * np.abs(reference).max()


def test_rows_that_blow_up_are_nan_from_there_and_the_rest_unharmed():
    states = integrate_batch([u0 ** 2], np.array([[0.5], [2.0]]), np.linspace(0, 1, 11), bound=100.0)
    np.testing.assert_allclose(states[0, :, 0], 0.5 / (1 - 0.5 * np.linspace(0, 1, 11)), rtol=1e-6)
    assert np.isnan(states[1, -1, 0]) and np.isfinite(states[1, 1, 0])       # 2/(1-2t) leaves 100 at t=0.49


def test_floats_become_parameters_and_integers_stay():
    structure, values = constants_as_parameters([2.5 * u0 ** 2 - 3 * u1, sympy.sin(0.5 * u0)])
    assert list(values.values()) == [2.5, 0.5]
    c0, c1 = sympy.symbols("c_0 c_1")
    assert structure == [c0 * u0 ** 2 - 3 * u1, sympy.sin(c1 * u0)]


def test_refinement_recovers_lorenz_constants_from_a_noisy_window(lorenz_samples):
    truth = lorenz_samples.system(0)
    off = [e.xreplace({f: sympy.Float(float(f) * 1.06) for f in e.atoms(sympy.Float)}) for e in truth]
    times = LORENZ.times[:64]
    refined = refine_constants(off, times, lorenz_samples.noisy[0, :64, :3])
    assert refined.misfit_after < refined.misfit_before / 3
    points = np.random.default_rng(0).uniform(-5, 5, (50, 3))
    assert vector_field_error(refined.exprs, truth, points) < 0.02 < vector_field_error(off, truth, points)


@pytest.mark.slow
def test_the_decoded_constants_as_a_prior_keep_what_the_window_cannot_see():
    """Aizawa's 0.1*u_2*u_0**3 barely moves a trajectory with |u| ~ 1 but rules the [-5, 5]^3 box:
    a plain least-squares fit lets it chase the noise, the prior keeps it near the decode."""
    spec = DataSpec(families=("aizawa",))
    samples = generate_samples(spec, 5, seed=5)
    points = np.random.default_rng(0).uniform(-5, 5, (50, 3))
    for i in (0, 1, 4):
        truth = samples.system(i)
        decoded = [round_constants(e) for e in truth]           # a perfect decode, 3 digits
        observed = samples.noisy[i, :64, :3]
        free = refine_constants(decoded, spec.times[:64], observed, prior_weight=0.0)
        anchored = refine_constants(decoded, spec.times[:64], observed)
        assert vector_field_error(free.exprs, truth, points) > 1.0
        assert vector_field_error(anchored.exprs, truth, points) < 0.02
        assert anchored.misfit_after < anchored.misfit_before


def test_vector_field_error_is_relative_l2_and_inf_for_a_field_that_is_not_finite():
    points = np.array([[1.0, 2.0], [3.0, -1.0]])
    assert vector_field_error([u0, u1], [u0, u1], points) == 0.0
    assert vector_field_error([1.1 * u0, 1.1 * u1], [u0, u1], points) == pytest.approx(0.1)
    assert vector_field_error([sympy.log(u1 - 5), u0], [u0, u1], points) == np.inf


def test_simplify_system_keeps_values():
    system = [10.2 * u1 - 10.2 * u0, u0 * (28.0 - u2) - u1]
    simplified = simplify_system(system)
    points = np.random.default_rng(1).uniform(-5, 5, (20, 3))
    assert vector_field_error(simplified, system, points) < 1e-14


def test_a_perfect_decode_scores_zero_field_error_and_sindy_is_measured(lorenz_samples):
    i = 1
    tokens = VOCAB.ids(encode_system(lorenz_samples.system(i), with_ends=True))
    truth = lorenz_samples.clean[i, 64:]
    row = sample_metrics(lorenz_samples, i, truth, truth * 1.1, tokens, np.random.default_rng(0))
    assert set(row) == set(METRICS)
    assert row["valid_fraction"] == 1.0
    assert row["field_rel_l2"] < 5e-3       # three significant digits: each constant within 0.5%
    assert row["field_rel_l2_refined"] < 0.05
    assert row["traj_rel_l2"] == 0.0 and row["data_only_traj_rel_l2"] == pytest.approx(0.1, rel=1e-6)
    assert 0 < row["sindy_field_rel_l2"] < np.inf


def test_garbage_decodes_count_as_invalid_and_leave_field_errors_out(lorenz_samples):
    truth = lorenz_samples.clean[0, 64:]
    garbage = [VOCAB.bos_id, VOCAB.ids(["add"])[0]]
    row = sample_metrics(lorenz_samples, 0, truth, truth, garbage, np.random.default_rng(0),
                         unconstrained_tokens=garbage)
    assert row["valid_fraction"] == 0.0 and np.isnan(row["field_rel_l2"])
    assert row["unconstrained_valid_fraction"] == 0.0
    summary = summarize([row, dict(row, valid_fraction=1.0, field_rel_l2=0.3)], ["lorenz", "lorenz"])
    assert summary["lorenz"]["valid_fraction"] == 0.5 and summary["lorenz"]["field_rel_l2"] == 0.3
    assert summary["overall"]["samples"] == 2


@pytest.mark.slow
def test_prose_commands_from_data_to_metrics_and_prediction(tmp_path, capsys):
    data = tmp_path / "eval.npz"
    assert main(["prose", "generate", "-o", str(data), "--count", "6", "--families", "lorenz", "--quiet"]) == 0
    run = tmp_path / "run"
    assert main(["prose", "train", "--config", "tiny", "--steps", "3", "--batch-size", "4", "--workers", "0",
                 "--warmup", "2", "--families", "lorenz", "-o", str(run), "--quiet"]) == 0
    assert (run / "checkpoint.pt").is_file()
    metrics = tmp_path / "metrics.json"
    assert main(["prose", "eval", str(run), "--data", str(data), "-o", str(metrics), "--quiet"]) == 0
    written = json.loads(metrics.read_text())
    report = written["metrics"]
    assert set(report) == {"lorenz", "overall"} and written["decoding"] == "grammar-constrained"
    assert {"valid_fraction", "traj_rel_l2", "field_rel_l2", "field_rel_l2_refined", "data_only_traj_rel_l2",
            "sindy_field_rel_l2", "unconstrained_valid_fraction"} <= set(report["overall"])
    # a stream valid without the grammar is one the grammar allows at every step: decoded alike
    assert report["overall"]["valid_fraction"] >= report["overall"]["unconstrained_valid_fraction"]
    assert "overall" in capsys.readouterr().out

    samples = generate_samples(LORENZ, 1, seed=2)
    observed = tmp_path / "observed.npz"
    np.savez(observed, times=LORENZ.times[:80], values=samples.noisy[0, :80, :3])
    assert main(["prose", "predict", str(run), str(observed), "-o", str(tmp_path / "p.npz"), "--beam", "2"]) == 0
    with np.load(tmp_path / "p.npz", allow_pickle=False) as prediction:
        assert prediction["predicted"].shape == (128, 3)
        if "refined_predicted" in prediction.files:     # a valid decode stores its equations as text
            assert prediction["equations"].shape == prediction["refined_equations"].shape == (3,)
            from symsim.expression_parser import parse_expression   # the text reads back safely
            for equation in prediction["refined_equations"]:
                parse_expression(str(equation))                    # raises if it does not
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_prose_commands_name_bad_input(tmp_path, capsys):
    short = tmp_path / "short.npz"
    np.savez(short, times=np.linspace(0, 1, 10), values=np.zeros((10, 2)))
    missing = tmp_path / "nothing"
    assert main(["prose", "eval", str(missing), "--data", str(short)]) == 1
    assert "no PROSE checkpoint" in capsys.readouterr().err
    assert main(["prose", "generate", "-o", str(tmp_path / "x.npz"), "--families", "lorenz,nope"]) == 1
    assert "nope" in capsys.readouterr().err


def test_an_observation_on_the_half_open_window_is_resampled_and_said_so(tmp_path, capsys):
    """64 points on [0, 2) without the end point stop at 1.969, short of the window's 1.979: accepted, the
    end extrapolated (exactly, for data linear in t), and the resampling reported."""
    from symsim.prose.commands import _read_observation
    spec = DataSpec()
    times = np.arange(64) * 2.0 / 64
    path = tmp_path / "observed.npz"
    np.savez(path, times=times, values=np.stack([1 + 3 * times, -times], axis=1))
    grid, values = _read_observation(path, spec)
    assert np.array_equal(grid, spec.times[:spec.input_points])
    np.testing.assert_allclose(values, np.stack([1 + 3 * grid, -grid], axis=1), atol=1e-12)
    said = capsys.readouterr().out
    assert "resampled 64 observed points on [0, 1.969]" in said and "extrapolated" in said
    # on the network's own grid: nothing to say
    np.savez(path, times=grid, values=np.stack([grid, grid], axis=1))
    _read_observation(path, spec)
    assert capsys.readouterr().out == ""


def test_an_observation_that_stops_too_early_is_refused(tmp_path):
    from symsim.errors import SymsimError
    from symsim.prose.commands import _read_observation
    path = tmp_path / "observed.npz"
    times = np.linspace(0.0, 1.5, 64)
    np.savez(path, times=times, values=np.zeros((64, 2)))
    with pytest.raises(SymsimError, match=r"must cover t in \[0, 1.979\].*covers \[0, 1.5\]"):
        _read_observation(path, DataSpec())


def test_the_metrics_table_prints_whole_column_names():
    from symsim.prose.evaluation import format_table
    row = {"samples": 3, **{metric: 0.125 for metric in METRICS}}
    header = format_table({"lorenz": row, "overall": row}).splitlines()[0].split()
    assert header == ["family", "samples", *METRICS] and len(set(header)) == len(header)


def test_the_shipped_weights_predict_lorenz_without_training(tmp_path, capsys):
    """``symsim prose predict DATA`` right after install: the shipped checkpoint decodes Lorenz's terms."""
    from symsim.prose.training import PRETRAINED, load_checkpoint

    shipped = load_checkpoint(PRETRAINED)
    assert "optimizer" not in shipped and shipped["recipe"]["steps"] == shipped["step"] > 1000
    assert PRETRAINED.stat().st_size < 20e6
    samples = generate_samples(LORENZ, 1, seed=11)
    observed = tmp_path / "observed.npz"
    np.savez(observed, times=LORENZ.times[:64], values=samples.noisy[0, :64, :3])
    assert main(["prose", "predict", str(observed), "-o", str(tmp_path / "p.npz"), "--beam", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("refined:") == 3 and "u_0*u_1" in printed
    with np.load(tmp_path / "p.npz", allow_pickle=False) as prediction:
        assert prediction["predicted"].shape == (128, 3) and prediction["refined_equations"].shape == (3,)
        forecast = prediction["refined_predicted"]
    truth = samples.clean[0, 64:, :3]
    assert np.linalg.norm(forecast - truth) / np.linalg.norm(truth) < 0.2
    assert main(["prose", "predict", "a.pt", "b.pt", str(observed)]) == 1
    assert "[CHECKPOINT] DATA" in capsys.readouterr().err


def test_exported_weights_load_as_the_checkpoint_did_at_a_third_of_the_size(tmp_path):
    import torch

    from symsim.prose.training import export_weights, load_checkpoint, load_trained_model

    run = tmp_path / "run"
    assert main(["prose", "train", "--config", "tiny", "--steps", "2", "--batch-size", "2", "--workers", "0",
                 "--warmup", "1", "--families", "lorenz", "-o", str(run), "--quiet"]) == 0
    export_weights(run / "checkpoint.pt", tmp_path / "w.pt", {"note": "test"})
    full, exported = load_trained_model(run / "checkpoint.pt"), load_trained_model(tmp_path / "w.pt")
    for (name, a), (_, b) in zip(full.state_dict().items(), exported.state_dict().items()):
        assert torch.equal(a, b), name
    assert load_checkpoint(tmp_path / "w.pt")["recipe"] == {"note": "test"}
    assert (tmp_path / "w.pt").stat().st_size < 0.5 * (run / "checkpoint.pt").stat().st_size
