"""Many runs of one model -- a parameter study -- as Dask tasks, assembled into one xarray Dataset.

    symsim sweep examples/gray_scott.py --param F=0.02:0.06:16 --param k=0.055,0.06 --workers 2 -o sweep.nc

    >>> sweep_values(["D=0.1:0.3:3", "k=2"])                   # one dimension per name, crossed
    {'D': [0.1, 0.2, 0.3], 'k': [2.0]}

or a list of parameter sets, one run each (``--sets FILE.csv``: a header of parameter
names, a row per run), and initial states (``--initial RESULT.npz ...``: each result's last
save), which add a dimension ``initial`` crossed with the parameters.

Each member is one run (what :func:`symsim.simulate` does), submitted as a task to a Dask cluster: a
``LocalCluster`` of ``workers`` processes on this machine, or the scheduler at ``scheduler``
(``tcp://host:8786``) that a cluster already runs. A worker loads the model once and
compiles it once (kernels come from the on-disk cache), so a task costs its run. The
Dataset has the sweep's parameters as dimensions before ``t`` and the grid axes; a member
that failed (a blow-up, a bad parameter) is NaN there, ``failed`` is True and ``error``
holds its one-line message -- the others are kept. Results are the sequential runs' exactly:
the same model, options and kernels.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from .errors import OptionError, SymsimError


def sweep_values(specs) -> dict:
    """``NAME=START:STOP:COUNT`` (evenly spaced, both ends included), ``NAME=A,B,C`` or ``NAME=A`` per entry."""
    values = {}
    for spec in specs:
        name, sep, text = str(spec).partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise OptionError(f"--param {spec!r}: give NAME=START:STOP:COUNT, NAME=A,B,... or NAME=VALUE")
        if name in values:
            raise OptionError(f"--param {name} is given twice")
        try:
            if ":" in text:
                start, stop, count = text.split(":")
                count = int(count)
                if count < 1:
                    raise ValueError("COUNT must be at least 1")
                values[name] = [float(v) for v in np.linspace(float(start), float(stop), count)]
            else:
                values[name] = [float(v) for v in text.split(",")]
        except ValueError as error:
            raise OptionError(f"--param {spec!r}: {error}") from None
        if not all(math.isfinite(v) for v in values[name]):
            raise OptionError(f"--param {spec!r}: values must be finite")
    return values


def read_parameter_sets(path) -> list[dict]:
    """A CSV file of parameter sets: a header of parameter names, one row of numbers per run."""
    import csv
    from pathlib import Path
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except OSError as error:
        raise OptionError(f"--sets {path}: cannot read it ({error.strerror or error})") from None
    if len(rows) < 2:
        raise OptionError(f"--sets {path}: needs a header of parameter names and at least one row")
    names = [cell.strip() for cell in rows[0]]
    sets = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(names):
            raise OptionError(f"--sets {path}, line {number}: {len(row)} values for {len(names)} names")
        try:
            sets.append({name: float(cell) for name, cell in zip(names, row)})
        except ValueError as error:
            raise OptionError(f"--sets {path}, line {number}: {error}") from None
    return sets


@functools.lru_cache(maxsize=8)
def _compiled(model_source, options: tuple):
    """The model compiled for the sweep's options, once per worker process (and model)."""
    from .compiler import compile_model
    from .loader import load_model
    from .solve import keep_freed_arrays_mapped, run_options
    from .tableaus import IMPLICIT_METHODS
    # a Dask worker starts with MALLOC_TRIM_THRESHOLD_=65536: glibc then returns every freed grid-sized
    # temporary of the NumPy kernels to the OS and faults it in again (a Gray-Scott run took 1.8x as
    # long); the worker runs nothing but symsim, so its allocator is set for that
    keep_freed_arrays_mapped()
    options = dict(options)
    model = load_model(model_source) if isinstance(model_source, str) else model_source
    target = options.pop("target", "numpy")
    checked = run_options(model, **options)
    compiled = compile_model(model, target=target, space_order=checked["space_order"],
                             jacobian=checked["method"] in IMPLICIT_METHODS)
    return compiled, checked


def run_member(model_source, params: dict, options: dict, initial=None) -> tuple:
    """One member on a worker: (saved fields (saves, fields, *grid), t, stats) or (None, None, error line).
    ``initial``: the fields' values at t=0 in place of the model's initial condition."""
    from .solve import integrate
    try:
        compiled, checked = _compiled(model_source, tuple(sorted(options.items())))
        result = integrate(compiled, checked, params, initial=initial)
    except SymsimError as error:
        return None, None, " ".join(str(error).split())
    fields = np.stack([np.asarray(result.fields[f]) for f in result.fields], axis=1)
    stats = {k: v for k, v in result.stats.items() if isinstance(v, (int, float, str))}
    return fields, np.asarray(result.t), stats


def sweep(model, params, t_end: float | None = None, method: str | None = None, saves: int | None = None,
          dt: float | None = None, target: str = "numpy", space_order: int | None = None, workers: int | None = None,
          scheduler: str | None = None, progress: bool = False, client=None, initial=None):
    """Run ``model`` (a script path or shipped name, or a Model) for every member of the sweep as Dask
    tasks; the xarray Dataset of all runs (see the module docstring).

    ``params``: name -> list of values (their Cartesian product, one dimension per name), or a list of
    parameter sets (dicts, one run each: dimension ``member``, each parameter a coordinate along it).
    ``initial``: a list of initial states, each (fields, *grid) values at t=0 or a Result (its last
    save): dimension ``initial``, crossed with the parameter members. ``client``: a
    ``dask.distributed.Client`` to use; else ``scheduler`` (an address) or a LocalCluster of ``workers``
    processes (default: one per core)."""
    from .loader import load_model
    from .lowering import lower_to_stencils
    from .solve import run_options

    if not params and initial is None:
        raise OptionError("a sweep needs parameter values (--param NAME=VALUES, --sets) or initial states")
    source = str(model) if isinstance(model, str) or hasattr(model, "__fspath__") else model
    loaded = load_model(source) if isinstance(source, str) else source
    options = {k: v for k, v in {"t_end": t_end, "method": method, "saves": saves, "dt": dt, "target": target,
                                 "space_order": space_order}.items() if v is not None}
    checked = run_options(loaded, **{k: v for k, v in options.items() if k != "target"})
    lowered = lower_to_stencils(loaded, checked["space_order"])
    dimensions = _dimensions(lowered, params or {}) + _initial_dimension(lowered, initial)
    runs = [_merged(combination) for combination in itertools.product(*[d["members"] for d in dimensions])]
    states = [] if initial is None else [d for d in dimensions if d["name"] == "initial"][0]["states"]
    import gc
    gc.collect()    # egglog objects of an earlier e-graph pass are dropped here, not on a Dask thread
    with dask_client(client, scheduler, workers) as connected:
        scattered = connected.scatter(states, broadcast=False) if states else []
        futures = [connected.submit(run_member, source, member, options,
                                    scattered[start] if start is not None else None, pure=False)
                   for member, start in runs]
        outcomes = _collect(connected, futures, progress, lowered.name)
    return _dataset(lowered, dimensions, runs, outcomes, checked)


def _dimensions(lowered, params) -> list[dict]:
    """The sweep's parameter dimensions: one per name of a dict of value lists, or ``member`` for a list
    of parameter sets. Each: name, coordinate values, extra coordinates, members (params, initial)."""
    if isinstance(params, dict):
        names = list(params)
        _check_names(lowered, names)
        return [{"name": name, "values": np.asarray(values, dtype=float), "coords": {},
                 "members": [({name: float(v)}, None) for v in values]} for name, values in params.items()]
    sets = [dict(member) for member in params]
    if not sets:
        raise OptionError("the list of parameter sets is empty")
    names = list(dict.fromkeys(name for member in sets for name in member))
    _check_names(lowered, names)
    missing = [(k, name) for k, member in enumerate(sets) for name in names if name not in member]
    if missing:
        raise OptionError(f"parameter set {missing[0][0]} has no value of {missing[0][1]!r}: every set names the "
                          "same parameters")
    try:
        columns = {name: np.asarray([float(member[name]) for member in sets]) for name in names}
    except (TypeError, ValueError) as error:
        raise OptionError(f"a parameter set holds a value that is not a number ({error})") from None
    return [{"name": "member", "values": np.arange(len(sets)), "coords": columns,
             "members": [({name: float(member[name]) for name in names}, None) for member in sets]}]


def _check_names(lowered, names) -> None:
    unknown = [name for name in names if name not in lowered.parameters]
    if unknown:
        raise OptionError(f"model {lowered.name!r} has no parameter {unknown[0]!r} (parameters: "
                          f"{', '.join(lowered.parameters) or 'none'})")


def _initial_dimension(lowered, initial) -> list[dict]:
    """``initial``: the states as (fields, *grid) arrays, checked against the grid."""
    if initial is None:
        return []
    from .result import Result
    expected = (len(lowered.fields),) + lowered.shape
    states = []
    for k, state in enumerate(initial):
        if isinstance(state, (str, bytes)) or hasattr(state, "__fspath__"):
            state = Result.load(state)
        if isinstance(state, Result):
            missing = [f for f in lowered.fields if f not in state.fields]
            if missing:
                raise OptionError(f"initial state {k}: the result has no field {missing[0]!r}")
            state = np.stack([np.asarray(state.fields[f])[-1] for f in lowered.fields])
        state = np.asarray(state, dtype=float)
        if state.shape != expected:
            raise OptionError(f"initial state {k} has shape {state.shape}; model {lowered.name!r} needs {expected} "
                              "(fields, *grid)")
        if not np.isfinite(state).all():
            raise OptionError(f"initial state {k} is not finite everywhere")
        states.append(state)
    if not states:
        raise OptionError("the list of initial states is empty")
    return [{"name": "initial", "values": np.arange(len(states)), "coords": {}, "states": states,
             "members": [({}, k) for k in range(len(states))]}]


def _merged(combination) -> tuple[dict, int | None]:
    params, start = {}, None
    for member_params, member_start in combination:
        params.update(member_params)
        start = member_start if member_start is not None else start
    return params, start


class dask_client:
    """The Client to use (a context manager), closing what it started (a LocalCluster of ``workers``
    processes, or a connection to ``scheduler``) and nothing it was given. ``command`` names what
    needs Dask in the message when it is missing."""

    def __init__(self, client, scheduler, workers, command: str = "symsim sweep"):
        if workers is not None and workers < 1:
            raise OptionError(f"--workers {workers}: give at least 1 worker process")
        self.given, self.scheduler, self.workers, self.command = client, scheduler, workers, command
        self.started = []

    def __enter__(self):
        if self.given is not None:
            return self.given
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise OptionError(f"{self.command} needs Dask: pip install 'symsim[dask]'") from None
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise OptionError(f"--scheduler {self.scheduler}: cannot connect ({error})") from None
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            self.started.append(cluster)
            client = Client(cluster)
        self.started.insert(0, client)
        return client

    def __exit__(self, *exc):
        for thing in self.started:
            thing.close()


def _collect(client, futures, progress: bool, name: str) -> list:
    from dask.distributed import as_completed
    outcomes = [None] * len(futures)
    index = {future.key: k for k, future in enumerate(futures)}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(futures), desc=f"sweep {name}", unit="run")
    try:
        for future in as_completed(futures):
            outcomes[index[future.key]] = future.result()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return outcomes


def _dataset(lowered, dimensions: list, runs: list, outcomes: list, options: dict):
    """One Dataset: each field over (sweep dimensions..., t, axes...), ``failed`` and ``error`` per member."""
    import xarray
    good = next((o for o in outcomes if o[0] is not None), None)
    names = [d["name"] for d in dimensions]
    sweep_shape = tuple(len(d["values"]) for d in dimensions)
    if good is None:
        t = np.linspace(0.0, options["t_end"], options["saves"] + 1)
        field_shape = (len(t), len(lowered.fields)) + lowered.shape
    else:
        t, field_shape = good[1], good[0].shape
    values = np.full((len(runs),) + field_shape, np.nan)
    failed = np.zeros(len(runs), dtype=bool)
    errors = np.full(len(runs), "", dtype=object)
    for k, (fields, _, info) in enumerate(outcomes):
        if fields is None:
            failed[k], errors[k] = True, info
        else:
            values[k] = fields
    values = values.reshape(sweep_shape + field_shape)
    axes = [a.name for a in lowered.axes]
    dims = (*names, "t", *axes)
    variables = {f: (dims, values[(..., slice(None), k) + (slice(None),) * len(axes)],
                     {"long_name": f"field {f}"}) for k, f in enumerate(lowered.fields)}
    variables["failed"] = (names, failed.reshape(sweep_shape), {"long_name": "the run of this member failed"})
    variables["error"] = (names, errors.reshape(sweep_shape).astype(str), {"long_name": "why it failed"})
    descriptions = {"member": "parameter set", "initial": "initial state"}
    coords = {d["name"]: (d["name"], d["values"], {"long_name": descriptions.get(d["name"], f"parameter {d['name']}")})
              for d in dimensions}
    for d in dimensions:
        coords.update({name: (d["name"], column, {"long_name": f"parameter {name}"})
                       for name, column in d["coords"].items()})
    coords["t"] = ("t", np.asarray(t), {"long_name": "time"})
    coords.update({a.name: (a.name, a.coordinates, {"long_name": f"coordinate {a.name}"}) for a in lowered.axes})
    from . import __version__
    swept = set(coords)
    attrs = {"model": lowered.name, "symsim_version": __version__, "method": options["method"],
             "space_order": int(lowered.space_order), "members": len(runs), "failed_members": int(failed.sum())}
    attrs.update({f"param_{k}": float(v) for k, v in lowered.parameters.items() if k not in swept})
    return xarray.Dataset(variables, coords=coords, attrs=attrs)


def write_dataset(dataset, path) -> str:
    """``path`` ending in .zarr (a Zarr store, format 2 with consolidated metadata; needs zarr) or .nc
    (NetCDF-4), written whole or not at all."""
    from pathlib import Path

    from .io import atomic_directory, atomic_write
    path = Path(path)
    if path.suffix == ".zarr":
        with atomic_directory(path) as folder:
            dataset.to_zarr(folder, mode="w", zarr_format=2, consolidated=True)
    else:
        atomic_write(path, lambda f: f.write(dataset.to_netcdf()))
    return str(path)
