"""Runs into a Zarr store: each save written as it is taken (nothing holds the whole history), the same
numbers and diagnostics as the run in memory, a valid store of the saves taken when stopped, none when failed."""

import numpy as np
import pytest

import symsim
import symsim.solve
import symsim.cli
import symsim.store
from checks import interrupt_at_save
from symsim.cli import main
from symsim.errors import OptionError, SolverError
from symsim.result import Result

pytest.importorskip("zarr")


def small_gray_scott():
    return symsim.load_model("gray_scott").with_points(x=32, y=24)


def test_a_run_into_a_store_writes_each_save_as_it_is_taken_and_equals_the_run_in_memory(tmp_path, monkeypatch):
    import zarr

    model = small_gray_scott()
    memory = symsim.simulate(model, t_end=100.0, saves=5, method="rk4")
    written_at_each_save = []
    original = symsim.solve._Progress.move_to

    def move_to(self, t):       # the staging folder, read at each save: the saves taken are already there
        staged = [p for p in tmp_path.iterdir() if p.name.startswith(".out.zarr.")]
        u = zarr.open_group(staged[0], mode="r")["u"]
        written_at_each_save.append(int(np.isfinite(u[:, 0, 0]).sum()))
        original(self, t)
    monkeypatch.setattr(symsim.solve._Progress, "move_to", move_to)

    def no_saves_in_memory(*args):
        raise AssertionError("a run into a store allocated every save in memory")
    monkeypatch.setattr(symsim.solve._Saves, "__init__", no_saves_in_memory)

    stored = symsim.simulate(model, t_end=100.0, saves=5, method="rk4", store=tmp_path / "out.zarr")
    assert written_at_each_save == [1, 2, 3, 4, 5]        # the progress moves just before a save is written
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
    assert stored.stats["store"] == str(tmp_path / "out.zarr")
    assert stored.stats["diagnostics"] == memory.stats["diagnostics"]
    back = Result.load(tmp_path / "out.zarr")
    for field in memory.fields:
        np.testing.assert_array_equal(np.asarray(stored[field]), memory[field])
        np.testing.assert_array_equal(back[field], memory[field])
    assert back.stats["diagnostics"] == memory.stats["diagnostics"] and back.params == memory.params


def test_a_run_into_a_netcdf_file_writes_each_save_as_it_is_taken(tmp_path, monkeypatch):
    import xarray

    model = small_gray_scott()
    memory = symsim.simulate(model, t_end=100.0, saves=5, method="rk4")

    def no_saves_in_memory(*args):
        raise AssertionError("a run into a NetCDF file allocated every save in memory")
    monkeypatch.setattr(symsim.solve._Saves, "__init__", no_saves_in_memory)
    stored = symsim.simulate(model, t_end=100.0, saves=5, method="rk4", store=tmp_path / "gs.nc", compress=True)
    assert [p.name for p in tmp_path.iterdir()] == ["gs.nc"]
    assert stored.stats["diagnostics"] == memory.stats["diagnostics"]
    back = Result.load(tmp_path / "gs.nc")
    for field in memory.fields:
        np.testing.assert_array_equal(np.asarray(stored[field][:]), memory[field])
        np.testing.assert_array_equal(back[field], memory[field])
    with xarray.open_dataset(tmp_path / "gs.nc") as dataset:
        assert dataset["u"].dims == ("t", "x", "y") and dataset.attrs["model"] == "gray_scott"
        assert dataset["u"].encoding["zlib"] and dataset["t"].attrs["long_name"] == "time"
        np.testing.assert_array_equal(dataset["t"].values, memory.t)


def test_ctrl_c_keeps_a_valid_netcdf_file_and_nothing_before_the_second_save(tmp_path, monkeypatch, capsys):
    interrupt_at_save(monkeypatch, 3)
    out = tmp_path / "heat.nc"
    assert main(["run", "heat_1d", "--t-end", "0.1", "--saves", "10", "--method", "rk4", "-o", str(out),
                 "--no-plot", "--quiet"]) == 130
    assert "(3 of 11 saves done)" in capsys.readouterr().err
    partial = Result.load(out)
    assert len(partial.t) == 3 and partial.stats["interrupted"] and np.isfinite(partial["u"]).all()
    monkeypatch.undo()
    interrupt_at_save(monkeypatch, 1)
    out.unlink()
    assert main(["run", "heat_1d", "--t-end", "0.1", "-o", str(out), "--no-plot", "--quiet"]) == 130
    assert "nothing written" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_an_ode_run_streams_into_a_store_too(tmp_path):
    memory = symsim.simulate("lorenz", t_end=1.0, saves=10)
    stored = symsim.simulate("lorenz", t_end=1.0, saves=10, store=tmp_path / "lorenz.zarr")
    for field in memory.fields:
        np.testing.assert_array_equal(Result.load(tmp_path / "lorenz.zarr")[field], memory[field])
    assert stored.stats["diagnostics"] == memory.stats["diagnostics"]


def test_a_large_save_is_written_in_chunks_of_rows(tmp_path, monkeypatch):
    import xarray

    monkeypatch.setattr(symsim.store, "CHUNK_BYTES", 8 * 24 * 5)          # five rows of 24 points
    symsim.simulate(small_gray_scott(), t_end=10.0, saves=2, store=tmp_path / "gs.zarr")
    dataset = xarray.open_zarr(tmp_path / "gs.zarr")
    assert dataset["u"].encoding["chunks"] == (1, 5, 24) and dataset["u"].shape == (3, 32, 24)
    assert np.isfinite(dataset["v"].values).all()


def test_ctrl_c_keeps_a_valid_store_of_the_saves_taken_and_the_run_continues_from_it(tmp_path, monkeypatch,
                                                                                     capsys):
    whole = symsim.simulate("heat_1d", t_end=0.1, saves=10, method="rk4")
    interrupt_at_save(monkeypatch, 4)
    out = tmp_path / "heat.zarr"
    assert main(["run", "heat_1d", "--t-end", "0.1", "--saves", "10", "--method", "rk4", "-o", str(out),
                 "--no-plot", "--quiet"]) == 130
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "interrupted at t=0.03 (4 of 11 saves done)" in error
    assert f"continue with: symsim run heat_1d --restart-from {out} --t-end 0.1" in error
    assert [p.name for p in tmp_path.iterdir()] == ["heat.zarr"]
    partial = Result.load(out)
    assert len(partial.t) == 4 and partial.stats["interrupted"] and np.isfinite(partial["u"]).all()
    assert len(partial.stats["diagnostics"]["u"]["l2"]) == 4
    monkeypatch.undo()
    continued = symsim.simulate("heat_1d", t_end=0.1, restart_from=out)
    np.testing.assert_allclose(continued["u"], whole["u"], rtol=0, atol=1e-12 * np.abs(whole["u"]).max())


def test_a_run_that_blows_up_leaves_no_store(tmp_path):
    """heat_1d (D = 0.1, h = 0.01) with Euler at 20 times its stable step of 5e-4."""
    with pytest.warns(symsim.SymsimWarning, match="stable step"), pytest.raises(SolverError, match="grew to"):
        symsim.simulate("heat_1d", t_end=1.0, dt=0.01, method="euler", saves=2, store=tmp_path / "heat.zarr")
    assert list(tmp_path.iterdir()) == []


def test_the_memory_check_of_a_run_into_a_store_counts_one_save_not_all(monkeypatch):
    model = symsim.load_model("heat_2d").with_points(x=129, y=129)
    options = symsim.solve.run_options(model, t_end=0.01, saves=2000)
    lowered = symsim.lower_to_stencils(model, options["space_order"])
    in_memory = symsim.solve.result_bytes(lowered, options)            # 2001 saves of 129^2: 266 MB
    monkeypatch.setattr(symsim.solve, "available_memory", lambda: in_memory // 2)
    with pytest.raises(OptionError, match="use fewer --saves"):
        symsim.solve.check_memory(lowered, options)
    symsim.solve.check_memory(lowered, options, saves_in_memory=False)


def test_sigterm_from_a_batch_system_keeps_the_saves_taken_as_ctrl_c_does(tmp_path, monkeypatch, capsys):
    import signal

    interrupt_at_save(monkeypatch, 4, signal.SIGTERM)      # a job's time limit as the run reaches its fourth save
    out = tmp_path / "heat.nc"
    assert main(["run", "heat_1d", "--t-end", "0.1", "--saves", "10", "--method", "rk4", "-o", str(out),
                 "--no-plot", "--quiet"]) == 130
    assert f"continue with: symsim run heat_1d --restart-from {out} --t-end 0.1" in capsys.readouterr().err
    assert len(Result.load(out).t) == 4
    assert signal.getsignal(signal.SIGTERM) is not symsim.cli._terminated      # restored after the command
