r"""A user's observations, read and checked before any fitting: ODE series or PDE snapshots.

    >>> import tempfile
    >>> rows = "".join(f"{0.5 * k},{np.exp(-0.25 * k):.4f}\n" for k in range(10))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "decay.csv"
    ...     _ = path.write_text("t,u\n" + rows)
    ...     data = read_observations(path)
    >>> data.kind, data.names, data.trajectories, data.values[0][:3, 0]
    ('ode', ('u',), 1, array([1.    , 0.7788, 0.6065]))

Formats (anything else is refused with one line naming the file and what is wrong):

- **CSV**, ODE series: a header row with a ``t`` column and one column per state, one row
  per sample; an optional ``trajectory`` column labels several trajectories of the same
  system (rows of one label in time order).
- **CSV**, PDE snapshots (``axes=["x", ...]``, ``--axes x,y``; periodic axes count as named): a
  ``t`` column, one column per grid axis and one per field, one row per time and grid point in
  any order (long format, as data frames write it); every (time, point) once.
- **npz**, ODE series: ``t`` of shape (samples,) and one array per state of the same shape;
  several trajectories: ``t`` and every state of shape (trajectories, samples).
- **npz**, PDE snapshots: ``t`` (samples,), one 1-D coordinate array per grid axis and one
  array per field of shape (samples, *grid); a field's axes take the coordinate arrays
  whose lengths match, in name order where two have the same length. A result of
  ``symsim run`` names its axes itself, so symsim's own outputs read back as they were run.

Coordinates must be evenly spaced (symsim grids are); PDE snapshots evenly spaced in
time. Times may start anywhere: models read from the data start at the first sample.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelDefinitionError, SymsimError
from ..grid import Grid, check_identifier

#: the fewest samples per trajectory any method here can fit (derivative windows need 7 or more)
MIN_SAMPLES = 8
#: names a discovered model script binds itself (its imports, ``model``, the initial-state file)
SCRIPT_NAMES = frozenset({"Eq", "Model", "Grid", "Dt", "model", "grid", "np", "Path", "initial", "sympy"})
EVEN_SPACING = 1e-6


class DataError(SymsimError):
    """Observations that cannot be read or fitted: format, shapes, NaN, times, names."""


@dataclass(frozen=True)
class Observations:
    """Checked observations of one system.

    ``values[k]``: trajectory k as (samples, fields) for ODE series, (samples, *grid, fields)
    for PDE snapshots; ``times[k]`` its sample times. ``coords``: axis name -> points (PDE
    only, in grid order); ``periodic``: the axes whose ends wrap.
    """

    source: str
    names: tuple[str, ...]
    times: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    coords: dict = field(default_factory=dict)
    periodic: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "pde" if self.coords else "ode"

    @property
    def trajectories(self) -> int:
        return len(self.values)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.coords.values())

    def grid(self) -> Grid:
        """The symsim grid the snapshots were taken on (periodic axes end one spacing past the last point)."""
        axes = {}
        for name, points in self.coords.items():
            spacing = (points[-1] - points[0]) / (len(points) - 1)
            stop = points[-1] + spacing if name in self.periodic else points[-1]
            axes[name] = (float(points[0]), float(stop), len(points))
        return Grid(periodic=self.periodic, **axes)

    def split(self, holdout: float) -> tuple["Observations", "Observations"]:
        """(training, held back): the first 1 - ``holdout`` of every trajectory's samples, and the rest
        starting from the last training sample (a forecast starts where training ends)."""
        training, held = [], []
        for times, values in zip(self.times, self.values):
            cut = training_samples(len(times), holdout)
            training.append((times[:cut], values[:cut]))
            held.append((times[cut - 1:], values[cut - 1:]))
        return self._with(training), self._with(held)

    def _with(self, pairs) -> "Observations":
        return Observations(self.source, self.names, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs),
                            self.coords, self.periodic)

    def describe(self) -> str:
        """One line: what was read, e.g. ``data.csv: ODE series, 1 trajectory of 64 samples, states x, y``."""
        samples = sorted({len(t) for t in self.times})
        counts = str(samples[0]) if len(samples) == 1 else f"{samples[0]}-{samples[-1]}"
        if self.kind == "ode":
            plural = "trajectory" if self.trajectories == 1 else "trajectories"
            return (f"{self.source}: ODE series, {self.trajectories} {plural} of {counts} samples, "
                    f"states {', '.join(self.names)}")
        grid = " x ".join(f"{n} {len(c)}" + (" periodic" if n in self.periodic else "")
                          for n, c in self.coords.items())
        return f"{self.source}: PDE snapshots, {counts} times on grid {grid}, fields {', '.join(self.names)}"


def training_samples(samples: int, holdout: float) -> int:
    """How many leading samples of a trajectory are fitted when ``holdout`` of it is held back."""
    return max(MIN_SAMPLES, int(round(samples * (1.0 - holdout))))


def read_observations(path, periodic=None, holdout: float = 0.0, axes=None) -> Observations:
    """Read and check an npz or CSV file (see the module notes); ``periodic``: axis names whose ends wrap.

    ``holdout``: the share of each trajectory that will be held back, so that a series too
    short to fit after the split is refused here, before any work. ``axes``: the grid axes of
    PDE snapshots in a CSV file (its columns of coordinates; the periodic axes are axes too).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file" if not path.exists() else f"{path}: is not a file")
    suffix = path.suffix.lower()
    axes = tuple(dict.fromkeys([*(axes or ()), *(periodic or ())]))    # an npz names its own coordinates
    if suffix == ".csv":
        observations = _read_csv(path, axes)
    elif suffix == ".npz":
        observations = _read_npz(path)
    else:
        raise DataError(f"{path}: unknown data format {suffix or '(no suffix)'!r}; give an .npz or .csv file")
    periodic = tuple(periodic or ())
    if periodic:
        if observations.kind == "ode":
            raise DataError(f"{path}: periodic axes {list(periodic)} given, but the file holds ODE series (no grid)")
        unknown = [a for a in periodic if a not in observations.coords]
        if unknown:
            raise DataError(f"{path}: periodic names axes {unknown} that the data does not have "
                            f"(axes: {list(observations.coords)})")
        observations = Observations(observations.source, observations.names, observations.times,
                                    observations.values, observations.coords, periodic)
    _check(observations, holdout)
    return observations


def _read_csv(path: Path, axes: tuple = ()) -> Observations:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot read CSV ({error})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError(f"{path}: empty CSV file")
    header = [cell.strip() for cell in rows[0]]
    if "t" not in header:
        raise DataError(f"{path}: line 1: the header needs a 't' column (found {header})")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: line 1: repeated column names in {header}")
    numbers = np.empty((len(rows) - 1, len(header)))
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: line {line}: {len(row)} values, the header has {len(header)} columns")
        for column, cell in enumerate(row):
            try:
                numbers[line - 2, column] = float(cell)
            except ValueError:
                raise DataError(f"{path}: line {line}, column {header[column]!r}: {cell.strip()!r} "
                                "is not a number") from None
            if not np.isfinite(numbers[line - 2, column]):
                raise DataError(f"{path}: line {line}, column {header[column]!r}: {cell.strip()} is not finite")
    if axes:
        return _pde_from_rows(path, header, numbers, axes)
    names = [h for h in header if h not in ("t", "trajectory")]
    if not names:
        raise DataError(f"{path}: line 1: no state columns besides 't' (found {header})")
    t = numbers[:, header.index("t")]
    states = numbers[:, [header.index(n) for n in names]]
    if "trajectory" in header:
        labels = numbers[:, header.index("trajectory")]
        order = list(dict.fromkeys(labels.tolist()))
        groups = [np.flatnonzero(labels == label) for label in order]
    else:
        groups = [np.arange(len(t))]
    return Observations(str(path), tuple(names), tuple(t[g] for g in groups), tuple(states[g] for g in groups))


def _pde_from_rows(path: Path, header: list, numbers: np.ndarray, axes: tuple) -> Observations:
    """PDE snapshots from long-format rows: (t, coordinates..., fields...) per row, each (time, point) once."""
    missing = [a for a in axes if a not in header]
    if missing:
        raise DataError(f"{path}: line 1: no column for the axes {missing} (columns: {header})")
    if "trajectory" in header:
        raise DataError(f"{path}: line 1: PDE snapshots take no 'trajectory' column (one run per file)")
    names = [h for h in header if h != "t" and h not in axes]
    if not names:
        raise DataError(f"{path}: line 1: no field columns besides 't' and the axes {list(axes)}")
    keys = ["t", *axes]
    levels = [np.unique(numbers[:, header.index(k)]) for k in keys]
    shape = tuple(len(level) for level in levels)
    index = np.ravel_multi_index(tuple(np.searchsorted(level, numbers[:, header.index(k)])
                                       for level, k in zip(levels, keys)), shape)
    counts = np.bincount(index, minlength=int(np.prod(shape)))
    if counts.max() > 1:
        line = 2 + int(np.flatnonzero(index == np.flatnonzero(counts > 1)[0])[1])
        raise DataError(f"{path}: line {line}: the point ({_point(keys, numbers[line - 2], header)}) appears twice")
    if counts.min() == 0:
        where = np.unravel_index(int(np.flatnonzero(counts == 0)[0]), shape)
        point = ", ".join(f"{k}={level[i]:g}" for k, level, i in zip(keys, levels, where))
        raise DataError(f"{path}: no row for ({point}): PDE snapshots in a CSV file need one row per time and grid "
                        f"point ({shape[0]} times x {' x '.join(str(n) for n in shape[1:])} points from the "
                        f"values seen, {len(index)} rows)")
    values = np.empty((int(np.prod(shape)), len(names)))
    values[index] = numbers[:, [header.index(n) for n in names]]
    coords = {a: level for a, level in zip(axes, levels[1:])}
    return Observations(str(path), tuple(names), (levels[0],), (values.reshape(*shape, len(names)),), coords)


def _point(keys: list, row: np.ndarray, header: list) -> str:
    return ", ".join(f"{k}={row[header.index(k)]:g}" for k in keys)


def _read_npz(path: Path) -> Observations:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{path}: a single .npy array, not an .npz archive of named arrays")
            arrays = {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except Exception as error:     # BadZipFile, pickled object arrays, truncated files
        raise DataError(f"{path}: cannot read npz ({type(error).__name__}: {error})") from None
    meta = arrays.pop("_symsim_meta", None)
    if "t" not in arrays:
        raise DataError(f"{path}: no array 't' of sample times (arrays: {sorted(arrays)})")
    t = arrays.pop("t")
    for name, array in arrays.items():
        if not np.issubdtype(array.dtype, np.number):
            raise DataError(f"{path}: array {name!r} holds {array.dtype}, not numbers")
    if meta is not None:
        try:
            described = json.loads(str(meta[()]))
            axes, fields = list(described["axes"]), list(described["fields"])
        except (ValueError, KeyError, TypeError) as error:
            raise DataError(f"{path}: corrupt symsim metadata ({error})") from None
        missing = [k for k in axes + fields if k not in arrays]
        if missing:
            raise DataError(f"{path}: the result lacks arrays {missing}")
        coords = {a: np.asarray(arrays[a], dtype=float) for a in axes}
        arrays = {f: arrays[f] for f in fields}
    else:
        coords = _coordinates(path, t, arrays)
        arrays = {k: v for k, v in arrays.items() if k not in coords}
    if not arrays:
        raise DataError(f"{path}: no state or field arrays besides 't'")
    names = tuple(arrays)
    t = np.asarray(t, dtype=float)
    if coords:
        shape = (len(t), *(len(c) for c in coords.values()))
        for name, array in arrays.items():
            if array.shape != shape:
                raise DataError(f"{path}: field {name!r} has shape {array.shape}; snapshots on this grid need "
                                f"{shape} (times, {', '.join(coords)})")
        values = np.stack([np.asarray(arrays[n], dtype=float) for n in names], axis=-1)
        return Observations(str(path), names, (t,), (values,), coords)
    if t.ndim not in (1, 2):
        raise DataError(f"{path}: 't' must be (samples,) or (trajectories, samples), got shape {t.shape}")
    for name, array in arrays.items():
        if array.shape != t.shape:
            raise DataError(f"{path}: state {name!r} has shape {array.shape}, 't' has {t.shape}; ODE series need "
                            "one value per sample (PDE snapshots need a 1-D coordinate array per grid axis)")
    stacked = np.stack([np.asarray(arrays[n], dtype=float) for n in names], axis=-1)
    if t.ndim == 1:
        return Observations(str(path), names, (t,), (stacked,))
    return Observations(str(path), names, tuple(t), tuple(stacked))


def _coordinates(path: Path, t: np.ndarray, arrays: dict) -> dict:
    """The coordinate arrays of PDE snapshots in a plain npz: 1-D arrays matching the fields' grid axes."""
    snapshots = {k: v for k, v in arrays.items() if v.ndim >= 2 and t.ndim == 1 and v.shape[0] == len(t)}
    if not snapshots:
        return {}
    grid = next(iter(snapshots.values())).shape[1:]
    candidates = sorted(k for k, v in arrays.items() if v.ndim == 1)
    coords, used = {}, set()
    for axis, points in enumerate(grid):
        matching = [k for k in candidates if k not in used and len(arrays[k]) == points]
        if not matching:
            raise DataError(f"{path}: no 1-D coordinate array of length {points} for axis {axis} of the fields' "
                            f"grid {grid} (1-D arrays: {candidates})")
        coords[matching[0]] = np.asarray(arrays[matching[0]], dtype=float)
        used.add(matching[0])
    return coords


def _check(observations: Observations, holdout: float) -> None:
    source = observations.source
    for name in observations.names + tuple(observations.coords):
        try:
            check_identifier(name, "data column")
        except ModelDefinitionError as error:
            raise DataError(f"{source}: {error}; rename it") from None
        if name in SCRIPT_NAMES:
            raise DataError(f"{source}: the name {name!r} is taken in a model script; rename that column or array")
    clash = set(observations.names) & set(observations.coords)
    if clash:
        raise DataError(f"{source}: {sorted(clash)} name both a field and an axis")
    for axis, points in observations.coords.items():
        if not np.isfinite(points).all():
            raise DataError(f"{source}: coordinate {axis!r} has NaN or infinite entries")
        if len(points) < 4 or not evenly_spaced(points):
            raise DataError(f"{source}: coordinate {axis!r} must be at least 4 evenly spaced, increasing points")
    for k, (times, values) in enumerate(zip(observations.times, observations.values)):
        where = f"trajectory {k}" if observations.trajectories > 1 else "the series"
        if not np.isfinite(times).all():
            raise DataError(f"{source}: {where}: 't' has NaN or infinite entries")
        steps = np.diff(times)
        if np.any(steps <= 0):
            at = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise DataError(f"{source}: {where}: times must increase, but t[{at}] = {times[at]:g} "
                            f"follows t[{at - 1}] = {times[at - 1]:g}")
        bad = ~np.isfinite(values)
        if bad.any():
            sample, *_, column = np.argwhere(bad)[0]
            raise DataError(f"{source}: {where}: {observations.names[column]!r} is NaN or infinite at "
                            f"t = {times[sample]:g} (sample {sample})")
        if len(times) < MIN_SAMPLES or training_samples(len(times), holdout) >= len(times) and holdout > 0:
            raise DataError(f"{source}: {where} has {len(times)} samples; fitting needs at least {MIN_SAMPLES}"
                            + (f" plus held-back samples (holdout {holdout:g})" if holdout > 0 else ""))
        if observations.kind == "pde" and not evenly_spaced(times):
            raise DataError(f"{source}: PDE snapshots must be evenly spaced in time")


def evenly_spaced(points: np.ndarray) -> bool:
    """Increasing, with steps equal to within EVEN_SPACING of their mean."""
    steps = np.diff(points)
    return bool(np.all(steps > 0) and np.ptp(steps) <= EVEN_SPACING * np.abs(steps).mean())
