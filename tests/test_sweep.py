"""Parameter sweeps as Dask tasks: the same numbers as sequential runs, failures recorded, one dataset."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symsim import load_model, simulate
from symsim.compiler import compile_model
from symsim.errors import OptionError
from symsim.solve import integrate, run_options
from symsim.sweeps import read_parameter_sets, sweep, sweep_values

pytestmark = pytest.mark.skipif(importlib.util.find_spec("distributed") is None or
                                importlib.util.find_spec("xarray") is None,
                                reason="needs Dask and xarray: pip install 'symsim[dask]'")

MIXED = str(Path(__file__).parent / "mpi_models" / "mixed_2d.py")


def test_parameter_values_and_their_product():
    values = sweep_values(["D=-0.05:0.05:3", "c=0.1,0.3"])
    assert values == {"D": [-0.05, 0.0, 0.05], "c": [0.1, 0.3]}
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
                np.testing.assert_allclose(dataset[field].sel(D=D, c=c).values, reference[field], rtol=1e-12,
                                           atol=1e-15)
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


def test_parameter_sets_from_a_csv_file(tmp_path):
    good = tmp_path / "sets.csv"
    good.write_text("D,c\n0.1,0.2\n\n0.3,0.4\n")
    assert read_parameter_sets(good) == [{"D": 0.1, "c": 0.2}, {"D": 0.3, "c": 0.4}]
    bad = tmp_path / "bad.csv"
    bad.write_text("D,c\n0.1,0.2\n0.3\n")
    with pytest.raises(OptionError, match="line 3: 1 values for 2 names"):
        read_parameter_sets(bad)
    bad.write_text("D\nfast\n")
    with pytest.raises(OptionError, match="line 2: could not convert"):
        read_parameter_sets(bad)


@pytest.mark.slow
def test_sweep_of_parameter_sets_and_initial_states_equals_sequential_runs():
    from dask.distributed import Client, LocalCluster

    start = simulate("heat_1d", t_end=0.01, saves=1, params={"D": 0.3})        # its last save: a second start
    sets = [{"D": 0.1}, {"D": 0.25}, {"D": 0.4}]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dataset = sweep("heat_1d", sets, t_end=0.02, saves=2, client=client,
                        initial=[np.stack([start["u"][0]]), start])
        with pytest.raises(OptionError, match="initial state 0 has shape"):
            sweep("heat_1d", sets, t_end=0.02, client=client, initial=[np.zeros((1, 7))])
    assert dict(dataset["u"].sizes) == {"member": 3, "initial": 2, "t": 3, "x": 101}
    assert dataset["D"].dims == ("member",) and dataset["D"].values.tolist() == [0.1, 0.25, 0.4]
    model = load_model("heat_1d")
    options = run_options(model, t_end=0.02, saves=2)
    compiled = compile_model(model, space_order=options["space_order"])       # the script's: 4
    for k, member in enumerate(sets):
        for j, state in enumerate([start["u"][0], start["u"][-1]]):
            reference = integrate(compiled, options, member, initial=state[None])
            # kernels may differ in the last bit: the e-graph pass has a time limit on a busy machine
            np.testing.assert_allclose(dataset["u"].values[k, j], reference["u"], rtol=1e-12, atol=1e-15)


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


@pytest.mark.slow
def test_an_ode_ensemble_in_batches_on_a_cluster_equals_one_batch():
    from dask.distributed import Client, LocalCluster

    from symsim import solve_ensemble
    rng = np.random.default_rng(3)
    y0, rho = rng.uniform(-2, 2, (40, 3)), rng.uniform(20, 30, 40)
    times = np.linspace(0, 2, 21)
    whole = solve_ensemble("lorenz", y0, times, params={"rho": rho})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        batched = solve_ensemble("lorenz", y0, times, params={"rho": rho}, client=client, batch=7)
        with pytest.raises(OptionError, match="batch must be at least 1"):
            solve_ensemble("lorenz", y0, times, client=client, batch=0)
    np.testing.assert_array_equal(batched.states, whole.states)
    np.testing.assert_array_equal(batched.status, whole.status)
    np.testing.assert_array_equal(batched.params, whole.params)


@pytest.mark.slow
def test_prose_training_data_made_as_dask_tasks_equals_the_same_parts_made_here(tmp_path):
    """Each part of ``chunk`` samples has its own seed: the samples do not depend on where they are made."""
    from dask.distributed import Client, LocalCluster

    from symsim.prose.data import DataSpec, Samples, generate_samples
    spec = DataSpec(families=("duffing", "lorenz"))
    here = generate_samples(spec, 40, seed=3, chunk=16)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        made = []
        on_cluster = generate_samples(spec, 40, seed=3, chunk=16, client=client, progress=made.append)
    assert sorted(made) == [8, 16, 16] and len(on_cluster) == 40
    for name, values in here.arrays().items():
        np.testing.assert_array_equal(on_cluster.arrays()[name], values, err_msg=name)
    assert set(here.family.tolist()) == {0, 1}
    # the command line: the same samples from a LocalCluster it starts and closes
    out = tmp_path / "train.npz"
    done = subprocess.run([sys.executable, "-m", "symsim.cli", "prose", "generate", "-o", str(out), "--count", "24",
                           "--families", "duffing", "--chunk", "10", "--workers", "2", "--seed", "5", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "24 samples of 1 families (seed 5, in parts of 10)" in done.stdout
    written = Samples.load(out)
    reference = generate_samples(DataSpec(families=("duffing",)), 24, seed=5, chunk=10)
    for name, values in reference.arrays().items():
        np.testing.assert_array_equal(written.arrays()[name], values, err_msg=name)
    refused = subprocess.run([sys.executable, "-m", "symsim.cli", "prose", "generate", "-o", str(out), "--workers",
                              "0"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "--workers 0" in refused.stderr
