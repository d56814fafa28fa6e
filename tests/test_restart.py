"""Restarts: a run continued from its last save is the uninterrupted run (fixed steps: to round-off)."""

import numpy as np
import pytest

import symsim
from checks import interrupt_at_save
from symsim.cli import main
from symsim.errors import OptionError
from symsim.result import Result


# the step chosen at t=0 may exceed the stable estimate of the state the second half starts from: it is
# kept (that is what makes the halves the whole run), and the run says so in a warning
@pytest.mark.filterwarnings("ignore:dt=.* the stable step estimated")
@pytest.mark.parametrize("name, method", [("heat_1d", "rk4"), ("gray_scott", "ssprk3"), ("lorenz", "rk4")])
def test_two_halves_of_a_fixed_step_run_are_the_whole_run(name, method):
    model = symsim.load_model(name)
    if model.grid is not None:
        model = model.with_points(**{a.name: 24 + (0 if a.periodic else 1) for a in model.grid.axes})
    t_end = {"heat_1d": 0.1, "gray_scott": 200.0, "lorenz": 2.0}[name]
    whole = symsim.simulate(model, t_end=t_end, saves=8, method=method)
    first = symsim.simulate(model, t_end=t_end / 2, saves=4, method=method, dt=whole.stats["dt"])
    continued = symsim.simulate(model, t_end=t_end, restart_from=first)
    np.testing.assert_allclose(continued.t, whole.t, rtol=0, atol=1e-12 * t_end)
    for field in whole.fields:
        scale = np.abs(whole[field]).max()
        assert np.abs(continued[field] - whole[field]).max() <= 1e-12 * scale, field
    assert continued.stats["restart_time"] == pytest.approx(t_end / 2)
    assert len(continued.stats["diagnostics"][next(iter(whole.fields))]["max"]) == 9


def test_an_adaptive_run_continued_stays_within_its_tolerance(tmp_path):
    model = symsim.load_model("heat_1d")
    whole = symsim.simulate(model, t_end=0.1, saves=10, method="dopri5", rtol=1e-8, atol=1e-10)
    first = symsim.simulate(model, t_end=0.05, saves=5, method="dopri5", rtol=1e-8, atol=1e-10)
    path = first.save(tmp_path / "first.npz")
    continued = symsim.simulate(model, t_end=0.1, rtol=1e-8, atol=1e-10, restart_from=path)
    assert continued.stats["method"] == "dopri5" and len(continued.t) == 11
    assert np.abs(continued["u"] - whole["u"]).max() < 1e-6 * np.abs(whole["u"]).max()


def test_a_restart_that_does_not_fit_the_model_or_goes_nowhere_is_refused(tmp_path):
    first = symsim.simulate("heat_1d", t_end=0.05, saves=5)
    path = first.save(tmp_path / "first.npz")
    with pytest.raises(OptionError, match="give a later --t-end than 0.05"):
        symsim.simulate("heat_1d", t_end=0.05, restart_from=path)
    with pytest.raises(OptionError, match="cannot restart model 'gray_scott'"):
        symsim.simulate("gray_scott", t_end=10.0, restart_from=path)
    broken = Result(first.model_name, first.t, first.coords, {"u": first["u"] * np.nan}, first.params, first.stats)
    with pytest.raises(OptionError, match="not finite"):
        symsim.simulate("heat_1d", t_end=0.1, restart_from=broken)


def test_cli_restart_writes_the_whole_history(tmp_path, capsys):
    first, later = tmp_path / "first.npz", tmp_path / "later.npz"
    assert main(["run", "heat_1d", "--t-end", "0.05", "--saves", "5", "-o", str(first), "--no-plot", "--quiet"]) == 0
    assert main(["run", "heat_1d", "--t-end", "0.1", "--restart-from", str(first), "-o", str(later), "--no-plot",
                 "--quiet"]) == 0
    assert "continued from t=0.05 of" in capsys.readouterr().out
    result = Result.load(later)
    assert len(result.t) == 11 and result.t[-1] == pytest.approx(0.1)
    np.testing.assert_array_equal(result["u"][:6], Result.load(first)["u"])
    assert main(["run", "heat_1d", "--restart-from", str(tmp_path / "missing.npz"), "--no-plot"]) == 1
    assert "result file not found" in capsys.readouterr().err


def test_ctrl_c_keeps_the_saves_done_and_the_run_continues_from_them(tmp_path, monkeypatch, capsys):
    whole = symsim.simulate("heat_1d", t_end=0.1, saves=10, method="rk4")
    interrupt_at_save(monkeypatch, 4)
    out = tmp_path / "heat.npz"
    assert main(["run", "heat_1d", "--t-end", "0.1", "--saves", "10", "--method", "rk4", "-o", str(out),
                 "--no-plot", "--quiet"]) == 130
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "interrupted at t=0.03 (4 of 11 saves done)" in error
    assert f"continue with: symsim run heat_1d --restart-from {out} --t-end 0.1" in error
    partial = Result.load(out)
    assert len(partial.t) == 4 and partial.stats["interrupted"]
    monkeypatch.undo()
    continued = symsim.simulate("heat_1d", t_end=0.1, restart_from=out)
    np.testing.assert_allclose(continued["u"], whole["u"], rtol=0, atol=1e-12 * np.abs(whole["u"]).max())


def test_ctrl_c_before_the_first_save_writes_nothing(tmp_path, monkeypatch, capsys):
    interrupt_at_save(monkeypatch, 1)
    out = tmp_path / "heat.npz"
    assert main(["run", "heat_1d", "--t-end", "0.1", "-o", str(out), "--no-plot", "--quiet"]) == 130
    assert "nothing written" in capsys.readouterr().err and not out.exists()
