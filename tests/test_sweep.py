"""Parameter sweeps as Dask tasks: the same numbers as sequential runs, failures recorded, one dataset."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symsim import simulate
from symsim.errors import OptionError
from symsim.sweeps import members, sweep, sweep_values

pytestmark = pytest.mark.skipif(importlib.util.find_spec("distributed") is None or
                                importlib.util.find_spec("xarray") is None,
                                reason="needs Dask and xarray: pip install 'symsim[dask]'")

MIXED = str(Path(__file__).parent / "mpi_models" / "mixed_2d.py")


def test_parameter_values_and_their_product():
    values = sweep_values(["D=-0.05:0.05:3", "c=0.1,0.3"])
    assert values == {"D": [-0.05, 0.0, 0.05], "c": [0.1, 0.3]}
    assert members(values)[:2] == [{"D": -0.05, "c": 0.1}, {"D": -0.05, "c": 0.3}]
    for bad, message in [("D", "NAME=START"), ("D=1:2", "not enough values"), ("D=1:2:0", "COUNT"),
                         ("D=a", "could not convert"), ("D=inf", "finite")]:
        with pytest.raises(OptionError, match=message):
            sweep_values([bad])
    with pytest.raises(OptionError, match="given twice"):
        sweep_values(["D=1", "D=2"])


@pytest.mark.slow
def test_local_cluster_sweep_equals_sequential_runs_and_keeps_going_past_a_failure():
    from dask.distributed import Client, LocalCluster

    values = {"D": [-0.05, 0.02, 0.03, 0.05], "c": [0.1, 0.3]}      # D < 0: anti-diffusion blows up
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dataset = sweep(MIXED, values, t_end=0.3, saves=2, client=client)
    assert dict(dataset.sizes) == {"D": 4, "c": 2, "t": 3, "x": 31, "y": 29}
    assert dataset["failed"].values.tolist() == [[True, True], [False, False], [False, False], [False, False]]
    assert "became NaN/Inf" in str(dataset["error"].values[0, 0]) or "grew to" in str(dataset["error"].values[0, 0])
    assert np.isnan(dataset["u"].values[0]).all() and dataset.attrs["failed_members"] == 2
    for D in values["D"][1:]:
        for c in values["c"]:
            reference = simulate(MIXED, t_end=0.3, saves=2, params={"D": D, "c": c})
            for field in ("u", "v"):
                np.testing.assert_array_equal(dataset[field].sel(D=D, c=c).values, reference[field])
    np.testing.assert_array_equal(dataset["x"].values, reference.coords["x"])


def test_cli_sweep_refuses_bad_input_in_one_line(tmp_path):
    def symsim(*argv):
        return subprocess.run([sys.executable, "-m", "symsim.cli", *argv], capture_output=True, text=True, timeout=120)

    for argv, message in [(["heat_1d", "--param", "nu=1,2", "-o", str(tmp_path / "a.nc")], "no parameter 'nu'"),
                          (["heat_1d", "--param", "D=1", "-o", str(tmp_path / "a.csv")], "give a .nc"),
                          (["heat_1d", "--param", "D=1:2", "-o", str(tmp_path / "a.nc")], "--param 'D=1:2'"),
                          (["heat_1d", "--param", "D=1", "--workers", "0", "-o", str(tmp_path / "a.nc")], "--workers")]:
        done = symsim("sweep", *argv)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert message in done.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_sweep_writes_a_zarr_store(tmp_path):
    import xarray
    done = subprocess.run([sys.executable, "-m", "symsim.cli", "sweep", "heat_1d", "--param", "D=0.1,0.2",
                           "--t-end", "0.01", "--saves", "2", "--workers", "1", "--quiet",
                           "-o", str(tmp_path / "heat.zarr")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 runs (0 failed) over D (2)" in done.stdout
    dataset = xarray.open_zarr(tmp_path / "heat.zarr")
    assert dataset["u"].dims == ("D", "t", "x") and dataset["u"].shape == (2, 3, 101)
    assert [p.name for p in tmp_path.iterdir()] == ["heat.zarr"]
