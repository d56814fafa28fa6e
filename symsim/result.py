"""The outcome of a simulation run: saved states, coordinates, parameters and statistics.

A :class:`Result` holds the solution at the saved times ``t`` (``t[0]`` is the
initial state, ``t[-1]`` the end time). Grid fields have shape
``(len(t), *grid_shape)``; fields of ODE systems have shape ``(len(t),)``.

    >>> t, x = np.linspace(0.0, 1.0, 3), np.linspace(0.0, 1.0, 5)
    >>> u = np.exp(-t)[:, None] * np.sin(np.pi * x)       # what a run of heat_1d would save
    >>> res = Result("heat_1d", t, coords={"x": x}, fields={"u": u}, params={"D": 0.1})
    >>> res
    Result(model='heat_1d', t=[0, 1] (3 saves), grid=(5,), fields=[u(3, 5)], params={'D': 0.1})
    >>> res["u"][-1].round(3)       # the final state of field u
    array([0.   , 0.26 , 0.368, 0.26 , 0.   ])
    >>> res["x"], res["t"]          # a coordinate axis, the saved times
    (array([0.  , 0.25, 0.5 , 0.75, 1.  ]), array([0. , 0.5, 1. ]))
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     back = Result.load(res.save(Path(folder) / "run.npz"))
    >>> back.model_name, back.params, np.array_equal(back["u"], res["u"])
    ('heat_1d', {'D': 0.1}, True)

Results are stored as plain ``.npz`` archives that load with
``numpy.load(path, allow_pickle=False)``: one array per saved time vector,
coordinate axis and field, plus ``_symsim_meta``, a 0-d unicode array holding
JSON ``{"model", "params", "stats", "axes", "fields"}``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OptionError, SymsimError
from .io import atomic_directory, atomic_write

__all__ = ["Result", "META_KEY"]

#: Name of the archive member that holds the JSON metadata.
META_KEY = "_symsim_meta"
#: Version of the archive layout, stored in the metadata.
FORMAT_VERSION = 1


def _xarray():
    try:
        import xarray
    except ImportError:
        raise OptionError('NetCDF results need xarray: pip install "symsim[xarray]"') from None
    return xarray


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths to plain JSON-serialisable Python values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _write_npz(fileobj, arrays: dict[str, np.ndarray], compress: bool = False) -> None:
    """Write ``arrays`` as an ``.npz`` archive (what ``np.savez``, or ``np.savez_compressed``, writes).

    Done by hand so that any array name works (``np.savez`` takes names as keyword
    arguments, which clash with its own ``file`` argument) and so that object arrays
    are refused (``allow_pickle=False``). Uncompressed by default: deflate costs about
    a second per 32 MB of float64 (``benchmarks/startup.py``) and gains little on
    smooth fields stored to full precision.
    """
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fileobj, mode="w", compression=compression, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


class SaveDiagnostics:
    """Per save and field: the min, max, sum and sum of squares of the values, and their count -- the
    parts of :meth:`combined`'s report, kept apart so that the blocks of a decomposed grid, or saves
    written one at a time, combine them exactly."""

    def __init__(self, saves: int, fields: int):
        self.low, self.high = np.full((saves, fields), np.inf), np.full((saves, fields), -np.inf)
        self.total, self.squares = np.zeros((saves, fields)), np.zeros((saves, fields))
        self.points = 0

    @classmethod
    def of(cls, saved: np.ndarray) -> "SaveDiagnostics":
        """The parts of ``saved``, (saves, fields, *grid)."""
        parts = cls(*saved.shape[:2])
        for i in range(saved.shape[0]):
            parts.add(i, saved[i])
        return parts

    def add(self, index: int, values: np.ndarray) -> None:
        """Save ``index`` is ``values``, (fields, *grid)."""
        flat = values.reshape(values.shape[0], -1)
        self.low[index], self.high[index] = flat.min(axis=1), flat.max(axis=1)
        self.total[index], self.squares[index] = flat.sum(axis=1), np.einsum("ij,ij->i", flat, flat)
        self.points = flat.shape[1]

    def combined(self, lowered, collective=None, saves: int | None = None) -> dict:
        """Per field, per save (the first ``saves``): min, max, mean and L2 norm (sqrt of the sum of squares
        times the cell volume; the absolute value for an ODE field), as lists -- what ``symsim run --verbose``
        prints and the result keeps. ``collective`` (:mod:`symsim.collective`) combines the parts of the
        blocks of a decomposed grid."""
        from .collective import ONE_PROCESS

        collective = collective or ONE_PROCESS
        count = len(self.low) if saves is None else saves
        low = collective.elementwise(self.low[:count], "min")
        high = collective.elementwise(self.high[:count], "max")
        total = collective.elementwise(self.total[:count], "sum")
        squares = collective.elementwise(self.squares[:count], "sum")
        points, cell = collective.sum(self.points), float(np.prod([a.spacing for a in lowered.axes]))
        return {field: {"min": low[:, k].tolist(), "max": high[:, k].tolist(), "mean": (total[:, k] / points).tolist(),
                        "l2": np.sqrt(squares[:, k] * cell).tolist()} for k, field in enumerate(lowered.fields)}


@dataclass(eq=False)
class Result:
    """Saved solution of one simulation run.

    Attributes:
        model_name: name of the model that was run.
        t: saved times, shape ``(saves + 1,)``, from 0 to ``t_end`` inclusive.
        coords: axis name -> 1-D coordinate array, in axis order (``{}`` for ODE systems).
        fields: field name -> array of shape ``(len(t), *grid_shape)``, or ``(len(t),)`` for ODE fields.
        params: parameter values used for the run.
        stats: solver statistics, e.g. ``{"method": "rk4", "dt": 0.1, "steps": 100, ...}``.
    """

    model_name: str
    t: np.ndarray
    coords: dict[str, np.ndarray] = field(default_factory=dict)
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    # -- access ---------------------------------------------------------------

    def __getitem__(self, name: str) -> np.ndarray:
        """A field, a coordinate axis, or ``"t"`` by name."""
        if name in self.fields:
            return self.fields[name]
        if name in self.coords:
            return self.coords[name]
        if name == "t":
            return self.t
        available = ", ".join(["t", *self.coords, *self.fields])
        raise KeyError(f"result of model {self.model_name!r} has no field or coordinate {name!r} "
                       f"(available: {available})")

    def __contains__(self, name: object) -> bool:
        return name == "t" or name in self.fields or name in self.coords

    @property
    def axes(self) -> list[str]:
        """Coordinate axis names, in axis order."""
        return list(self.coords)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of grid points along each axis (``()`` for ODE systems)."""
        return tuple(len(c) for c in self.coords.values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in self.fields.items())
        span = f"t=[{self.t[0]:g}, {self.t[-1]:g}] ({len(self.t)} saves)" if len(self.t) else "t=[]"
        return (f"Result(model={self.model_name!r}, {span}, grid={self.grid_shape}, "
                f"fields=[{fields}], params={self.params!r})")

    # -- persistence ----------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        """The archive members (without metadata); refuses clashing names."""
        arrays: dict[str, np.ndarray] = {"t": np.asarray(self.t)}
        for kind, group in (("coordinate", self.coords), ("field", self.fields)):
            for name, values in group.items():
                if name in arrays or name == META_KEY:
                    raise SymsimError(f"cannot save result of model {self.model_name!r}: "
                                      f"{kind} name {name!r} clashes with another array name")
                arr = np.asarray(values)
                if arr.dtype.hasobject:
                    raise SymsimError(f"cannot save result of model {self.model_name!r}: "
                                      f"{kind} {name!r} is an object array")
                arrays[name] = arr
        return arrays

    def metadata(self) -> dict:
        """The JSON-serialisable metadata stored next to the arrays."""
        return {
            "format": FORMAT_VERSION,
            "model": str(self.model_name),
            "params": _jsonable(self.params),
            "stats": _jsonable(self.stats),
            "axes": [str(a) for a in self.coords],
            "fields": [str(f) for f in self.fields],
        }

    def save(self, path, compress: bool = False) -> Path:
        """Write the result atomically to exactly ``path``: NetCDF when it ends in ``.nc`` (see
        :meth:`to_xarray`), a Zarr store (a folder, format 2 with consolidated metadata, read by
        ``xarray.open_zarr``) when it ends in ``.zarr``, else a ``.npz`` archive (no suffix is added).

        ``compress=True`` deflates the arrays (``np.savez_compressed``'s format; zlib for NetCDF-4):
        smaller files, slower writes.
        """
        if Path(path).suffix == ".nc":
            dataset = self.to_xarray()
            encoding = {name: {"zlib": True} for name in dataset.data_vars} if compress else None
            return atomic_write(path, lambda f: f.write(dataset.to_netcdf(encoding=encoding)))
        if Path(path).suffix == ".zarr":
            dataset = self.to_xarray()
            with atomic_directory(path) as folder:
                dataset.to_zarr(folder, mode="w", zarr_format=2, consolidated=True)
            return Path(path)
        arrays = self._arrays()
        meta = json.dumps(self.metadata(), allow_nan=True)
        arrays[META_KEY] = np.array(meta)  # 0-d unicode array, no pickling needed
        return atomic_write(path, lambda f: _write_npz(f, arrays, compress))

    def to_xarray(self):
        """The result as an ``xarray.Dataset``: coordinates ``t`` and the axes, one variable per field,
        attributes for the model, its parameters (``param_NAME``), the method and space order, the
        symsim version, and ``symsim_metadata`` (the JSON an ``.npz`` result stores, read back by
        :meth:`from_xarray`). Needs xarray (``pip install "symsim[xarray]"``)."""
        xarray = _xarray()
        axes = ("t", *self.coords)
        variables = {}
        for name, values in self._arrays().items():
            if name in self.fields:
                values = np.asarray(values)
                variables[name] = (axes[:values.ndim], values, {"long_name": f"field {name}"})
        coords = {"t": ("t", np.asarray(self.t), {"long_name": "time"})}
        coords.update({a: (a, np.asarray(c), {"long_name": f"coordinate {a}"}) for a, c in self.coords.items()})
        return xarray.Dataset(variables, coords=coords, attrs=self.dataset_attributes())

    def dataset_attributes(self) -> dict:
        """The attributes of the result's dataset (NetCDF, Zarr): see :meth:`to_xarray`."""
        from . import __version__

        attrs = {"model": str(self.model_name), "symsim_version": __version__,
                 "symsim_metadata": json.dumps(self.metadata(), allow_nan=True)}
        attrs.update({f"param_{k}": float(v) for k, v in self.params.items()})
        for key in ("method", "space_order"):
            if key in self.stats:
                attrs[key] = self.stats[key]
        if "equations" in self.stats:
            attrs["equations"] = "; ".join(self.stats["equations"].values())
        return attrs

    @classmethod
    def from_xarray(cls, dataset, source: str = "dataset") -> "Result":
        """The result that :meth:`to_xarray` made ``dataset`` from."""
        try:
            meta = json.loads(str(dataset.attrs["symsim_metadata"]))
            axes, names = [str(a) for a in meta["axes"]], [str(f) for f in meta["fields"]]
            return cls(model_name=str(meta["model"]), t=np.asarray(dataset["t"].values),
                       coords={a: np.asarray(dataset[a].values) for a in axes},
                       fields={f: np.asarray(dataset[f].values) for f in names},
                       params=dict(meta.get("params") or {}), stats=dict(meta.get("stats") or {}))
        except (KeyError, ValueError, TypeError) as error:
            raise SymsimError(f"{source}: not a symsim result ({type(error).__name__}: {error})") from None

    @classmethod
    def load(cls, path) -> "Result":
        """Read a result written by :meth:`save` (``.nc``: NetCDF, ``.zarr``: a Zarr store, through xarray;
        else ``.npz``).

        Raises :class:`~symsim.errors.SymsimError` naming the file if it is
        missing, is not a symsim result archive, or lacks arrays.
        """
        path = Path(path)
        if path.suffix in (".zarr", ".nc"):      # through xarray: a Zarr store (a folder) or a NetCDF file
            zarr = path.suffix == ".zarr"
            if not (path.is_dir() if zarr else path.is_file()):
                raise SymsimError(f"{path}: result {'store' if zarr else 'file'} not found")
            try:
                with (_xarray().open_zarr(path) if zarr else _xarray().open_dataset(path)) as dataset:
                    return cls.from_xarray(dataset.load(), str(path))
            except (OSError, ValueError, KeyError) as error:
                raise SymsimError(f"{path}: cannot read {'Zarr' if zarr else 'NetCDF'} result "
                                  f"({type(error).__name__}: {error})") from None
        try:
            with np.load(path, allow_pickle=False) as npz:
                if not isinstance(npz, np.lib.npyio.NpzFile):
                    raise SymsimError(f"{path}: not a symsim result (.npz archive expected, "
                                      "found a single .npy array)")
                arrays = {key: npz[key] for key in npz.files}
        except SymsimError:
            raise
        except FileNotFoundError:
            raise SymsimError(f"{path}: result file not found") from None
        except IsADirectoryError:
            raise SymsimError(f"{path}: is a directory, not a result file") from None
        except Exception as exc:  # BadZipFile, ValueError (pickled/unknown data), EOFError, OSError
            raise SymsimError(f"{path}: cannot read result file ({type(exc).__name__}: {exc})") from None

        if META_KEY not in arrays:
            raise SymsimError(f"{path}: not a symsim result (no {META_KEY!r} entry)")
        try:
            meta = json.loads(str(arrays[META_KEY][()]))
            model = str(meta["model"])
            axes = [str(a) for a in meta["axes"]]
            names = [str(f) for f in meta["fields"]]
            params = dict(meta.get("params") or {})
            stats = dict(meta.get("stats") or {})
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise SymsimError(f"{path}: corrupt symsim metadata ({type(exc).__name__}: {exc})") from None

        missing = [k for k in ["t", *axes, *names] if k not in arrays]
        if missing:
            raise SymsimError(f"{path}: result file lacks array(s) {', '.join(map(repr, missing))}")
        t = arrays["t"]
        coords = {a: arrays[a] for a in axes}
        fields = {f: arrays[f] for f in names}
        for name, arr in fields.items():
            if arr.ndim == 0 or arr.shape[0] != len(t):
                raise SymsimError(f"{path}: field {name!r} has shape {arr.shape}, "
                                  f"expected {len(t)} saved states")
        return cls(model_name=model, t=t, coords=coords, fields=fields, params=params, stats=stats)

    # -- pictures -------------------------------------------------------------

    def coarsened(self, max_points: int = 1024) -> "Result":
        """Every k-th point per axis, so that no axis has more than ``max_points``: what a picture of a large
        grid needs (fields that read from a store read only those points)."""
        steps = {a: max(1, -(-len(c) // max_points)) for a, c in self.coords.items()}
        index = (slice(None),) + tuple(slice(None, None, k) for k in steps.values())
        return Result(self.model_name, np.asarray(self.t), {a: np.asarray(c)[::steps[a]] for a, c in self.coords.items()},
                      {f: np.asarray(v[index[:np.ndim(v)]]) for f, v in self.fields.items()}, dict(self.params),
                      dict(self.stats))

    def plot(self, path=None, **kw):
        """Draw the result; see :func:`symsim.plotting.plot_result`.

        Returns the written :class:`~pathlib.Path`, or a matplotlib Figure when
        ``path`` is None.
        """
        from .plotting import plot_result

        return plot_result(self, path, **kw)

