"""Results: .npz round trips, atomic outputs, and pictures (fast, synthetic data only)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from symsim.errors import OptionError, SymsimError
from symsim.io import atomic_directory, atomic_write, atomic_write_text
from symsim.result import META_KEY, Result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- synthetic results ----------------------------------------------------------

def ode_result(nfields: int = 3) -> Result:
    t = np.linspace(0.0, 10.0, 201)
    names = ["x", "y", "z", "w"][:nfields]
    fields = {n: np.sin(t * (k + 1)) * np.exp(-0.1 * k * t) for k, n in enumerate(names)}
    return Result("lorenz", t, {}, fields, {"sigma": 10.0, "rho": 28.0},
                  {"method": np.str_("rk45"), "dt": np.float64(0.05), "steps": np.int64(200),
                   "rhs_evaluations": np.int32(1200), "accepted": 200, "rejected": 3,
                   "wall_seconds": 0.01})


def result_1d() -> Result:
    t = np.linspace(0.0, 1.0, 11)
    x = np.linspace(0.0, 1.0, 64)
    u = np.exp(-t[:, None]) * np.sin(np.pi * x[None, :])
    v = np.cos(2 * np.pi * (x[None, :] - t[:, None]))
    return Result("heat1d", t, {"x": x}, {"u": u, "v": v}, {"D": 0.1},
                  {"method": "rk4", "dt": 0.001, "steps": 1000})


def result_2d() -> Result:
    t = np.linspace(0.0, 2.0, 5)
    x = np.linspace(0.0, 2.0, 40)
    y = np.linspace(0.0, 1.0, 20)
    X, Y = np.meshgrid(x, y, indexing="ij")
    u = np.stack([np.exp(-((X - 1 - 0.2 * s) ** 2 + (Y - 0.5) ** 2) * 10) for s in t])
    return Result("gray_scott", t, {"x": x, "y": y}, {"u": u, "w": (1 - u).astype(np.float32)},
                  {"F": 0.04, "k": np.float64(0.06)}, {"method": "euler", "dt": 0.5, "steps": 4})


def result_3d() -> Result:
    t = np.linspace(0.0, 1.0, 4)
    x = y = z = np.linspace(-1.0, 1.0, 12)
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    u = np.stack([np.exp(-(X ** 2 + Y ** 2 + Z ** 2) / (0.2 + s)) for s in t])
    return Result("diffusion3d", t, {"x": x, "y": y, "z": z}, {"u": u}, {"D": 1.0}, {"method": "rk4"})


ALL = {"ode": ode_result, "1d": result_1d, "2d": result_2d, "3d": result_3d}


# -- save / load ------------------------------------------------------------------

@pytest.mark.parametrize("make", [result_2d, result_1d, ode_result], ids=["2d", "1d", "ode"])
def test_round_trip(tmp_path, make):
    res = make()
    path = tmp_path / "run.npz"
    assert res.save(path) == path
    back = Result.load(path)

    assert back.model_name == res.model_name
    assert list(back.coords) == list(res.coords)
    assert list(back.fields) == list(res.fields)
    np.testing.assert_array_equal(back.t, res.t)
    for name in res.coords:
        np.testing.assert_array_equal(back.coords[name], res.coords[name])
    for name in res.fields:
        np.testing.assert_array_equal(back.fields[name], res.fields[name])
        assert back.fields[name].dtype == np.asarray(res.fields[name]).dtype
    assert back.params == {k: float(v) for k, v in res.params.items()}
    assert back.stats == json.loads(json.dumps({k: (v.item() if hasattr(v, "item") else v)
                                                for k, v in res.stats.items()}))
    assert back["t"] is back.t
    first = next(iter(res.fields))
    np.testing.assert_array_equal(back[first], res.fields[first])

    # Plain numpy can read it without pickling, and nothing is an object array.
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"t", *res.coords, *res.fields, META_KEY}
        for key in npz.files:
            assert not npz[key].dtype.hasobject
        meta = json.loads(str(npz[META_KEY][()]))
    assert meta["model"] == res.model_name
    assert meta["axes"] == list(res.coords)
    assert meta["fields"] == list(res.fields)
    assert meta["stats"]["method"] == str(res.stats["method"])


def test_meta_is_0d_unicode(tmp_path):
    path = ode_result().save(tmp_path / "r.npz")
    with np.load(path, allow_pickle=False) as npz:
        meta = npz[META_KEY]
    assert meta.shape == ()
    assert meta.dtype.kind == "U"


def test_save_writes_exact_path_without_suffix(tmp_path):
    path = tmp_path / "sub" / "result.data"
    result_1d().save(path)
    assert path.is_file()
    assert not (tmp_path / "sub" / "result.data.npz").exists()
    assert Result.load(path).model_name == "heat1d"


def test_getitem_unknown_name():
    res = result_1d()
    np.testing.assert_array_equal(res["x"], res.coords["x"])
    with pytest.raises(KeyError, match="nope"):
        res["nope"]


def test_save_refuses_clashing_names(tmp_path):
    res = result_1d()
    res.fields["x"] = res.fields["u"]
    with pytest.raises(SymsimError, match="'x'"):
        res.save(tmp_path / "r.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_missing_file(tmp_path):
    path = tmp_path / "missing.npz"
    with pytest.raises(SymsimError, match="missing.npz"):
        Result.load(path)


@pytest.mark.parametrize("content", [b"this is not a zip archive\n", b""], ids=["text", "empty"])
def test_load_non_npz_file(tmp_path, content):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    with pytest.raises(SymsimError, match="garbage.npz"):
        Result.load(path)


def test_load_npz_without_meta_or_arrays(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    with pytest.raises(SymsimError, match="plain.npz"):
        Result.load(plain)

    # Metadata names a field whose array is missing.
    path = result_1d().save(tmp_path / "cut.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "v"}
    np.savez(path, **arrays)
    with pytest.raises(SymsimError, match=r"cut\.npz.*'v'"):
        Result.load(path)


# -- atomic outputs -------------------------------------------------------------

class Boom(RuntimeError):
    pass


def _fail_midway(f):
    f.write(b"partial data")
    raise Boom("write failed")


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(Boom):
        atomic_write(target, _fail_midway)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_failure_keeps_existing_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old content")
    with pytest.raises(Boom):
        atomic_write(target, _fail_midway)
    assert target.read_bytes() == b"old content"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_success_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    assert atomic_write_text(target, "first\n") == target
    assert atomic_write_text(target, "second ✓\n") == target
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert list(target.parent.iterdir()) == [target]
    # Ordinary permissions, not the 0600 of a temporary file.
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_save_keeps_existing_result(tmp_path, monkeypatch):
    path = result_1d().save(tmp_path / "r.npz")
    before = path.read_bytes()
    import symsim.result as result_mod

    def broken(fileobj, arrays, compress):
        fileobj.write(b"PK half an archive")
        raise Boom("disk full")

    monkeypatch.setattr(result_mod, "_write_npz", broken)
    with pytest.raises(Boom):
        result_2d().save(path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_atomic_directory_failure_leaves_nothing(tmp_path):
    target = tmp_path / "build"
    with pytest.raises(Boom):
        with atomic_directory(target) as d:
            (d / "model.c").write_text("int main(void) { return 0; }\n")
            raise Boom("codegen failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_failure_keeps_existing(tmp_path):
    target = tmp_path / "build"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(Boom):
        with atomic_directory(target) as d:
            (d / "new.txt").write_text("new")
            raise Boom("codegen failed")
    assert list(tmp_path.iterdir()) == [target]
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]


def test_atomic_directory_success_replaces_existing(tmp_path):
    target = tmp_path / "build"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    (target / "sub").mkdir()
    with atomic_directory(target) as d:
        assert d.parent == tmp_path and d != target
        (d / "model.c").write_text("/* new */")
        assert (target / "stale.txt").exists()  # untouched until the block succeeds
    assert sorted(p.name for p in target.iterdir()) == ["model.c"]
    assert (target / "model.c").read_text() == "/* new */"
    assert list(tmp_path.iterdir()) == [target]  # no temporaries or old copies left


def test_atomic_directory_creates_new(tmp_path):
    target = tmp_path / "deep" / "out"
    with atomic_directory(target) as d:
        (d / "f.txt").write_text("x")
    assert (target / "f.txt").read_text() == "x"
    assert list(target.parent.iterdir()) == [target]


# -- pictures -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("kind", list(ALL))
def test_plot_writes_png(tmp_path, kind):
    res = ALL[kind]()
    path = tmp_path / f"{kind}.png"
    assert res.plot(path) == path
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    colours = np.unique(img.reshape(-1, img.shape[-1]), axis=0)
    assert len(colours) > 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("nfields", [1, 2, 4])
def test_plot_ode_field_counts(tmp_path, nfields):
    fig = ode_result(nfields).plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == (1 if nfields == 1 else 2)
    if nfields >= 3:
        assert fig.axes[1].name == "3d"


def test_plot_returns_figure_with_title():
    fig = result_2d().plot()
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == "gray_scott"
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert "u, t=0" in titles and "w, t=2" in titles


def test_plot_3d_names_slice():
    fig = result_3d().plot()
    assert "z=" in fig.get_suptitle()
    assert any("z=" in ax.get_title() for ax in fig.axes)


def test_plot_custom_times_and_nonfinite():
    res = result_1d()
    res.fields["u"][-1, :5] = np.nan
    fig = res.plot(times=[0.0, 0.5])
    snapshot_ax = [ax for ax in fig.axes if ax.get_title() == "u snapshots"][0]
    assert len(snapshot_ax.get_lines()) == 2
    lo, hi = fig.axes[0].images[0].get_clim()
    assert np.isfinite(lo) and np.isfinite(hi)


# -- NetCDF through xarray ---------------------------------------------------------------------

def test_a_netcdf_result_reads_in_xarray_with_coordinates_and_attributes(tmp_path):
    xarray = pytest.importorskip("xarray")
    import symsim

    run = symsim.simulate("heat_2d", t_end=0.01, saves=4)
    path = run.save(tmp_path / "heat.nc")
    with xarray.open_dataset(path) as dataset:
        assert dataset["u"].dims == ("t", "x", "y") and dataset["u"].shape == (5, 129, 129)
        np.testing.assert_array_equal(dataset["x"].values, run["x"])
        np.testing.assert_array_equal(dataset["u"].values, run["u"])
        assert dataset.attrs["model"] == "heat_2d" and dataset.attrs["param_D"] == 0.1
        assert dataset.attrs["method"] == "rk4" and dataset.attrs["space_order"] == 2
        assert "Derivative(u(t, x, y), (x, 2))" in dataset.attrs["equations"]
    back = Result.load(path)
    assert back.params == {"D": 0.1} and back.stats["method"] == "rk4"
    np.testing.assert_array_equal(back["u"], run["u"])


def test_an_ode_result_round_trips_through_compressed_netcdf_and_restarts_from_it(tmp_path):
    pytest.importorskip("xarray")
    import symsim

    first = symsim.simulate("lorenz", t_end=1.0, saves=10, method="rk4")
    path = first.save(tmp_path / "lorenz.nc", compress=True)
    back = Result.load(path)
    assert back.axes == [] and back["x"].shape == (11,)
    whole = symsim.simulate("lorenz", t_end=2.0, saves=20, method="rk4", dt=first.stats["dt"])
    continued = symsim.simulate("lorenz", t_end=2.0, restart_from=path)
    np.testing.assert_allclose(continued["z"], whole["z"], rtol=1e-12)


def test_a_bad_netcdf_file_or_missing_xarray_is_one_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("xarray")
    (tmp_path / "bad.nc").write_bytes(b"not a netcdf file")
    with pytest.raises(SymsimError, match="bad.nc"):
        Result.load(tmp_path / "bad.nc")
    with pytest.raises(SymsimError, match="result file not found"):
        Result.load(tmp_path / "missing.nc")
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(OptionError, match="symsim\\[xarray\\]"):
        Result("m", np.zeros(2), fields={"a": np.zeros(2)}).save(tmp_path / "a.nc")
    assert not (tmp_path / "a.nc").exists()


def test_the_picture_shows_six_evenly_spaced_saves_with_ticks_on_the_outer_panels():
    from symsim.plotting import plot_result

    x = np.linspace(0.0, 1.0, 16)
    u = np.arange(21)[:, None, None] + np.zeros((21, 16, 16))
    result = Result("m", np.linspace(0.0, 2.0, 21), {"x": x, "y": x}, {"u": u}, {}, {})
    panels = [ax for ax in plot_result(result).axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [f"u, t={t:g}" for t in (0, 0.4, 0.8, 1.2, 1.6, 2)]
    assert len(panels[0].get_yticks()) > 0 and all(len(ax.get_yticks()) == 0 for ax in panels[1:])
    short = Result("m", np.array([0.0, 1.0]), {"x": x, "y": x}, {"u": u[:2]}, {}, {})
    assert [ax.get_title() for ax in plot_result(short).axes if ax.get_title()] == ["u, t=0", "u, t=1"]
