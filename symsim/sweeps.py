"""Many runs of one model -- a parameter study -- as Dask tasks, assembled into one xarray Dataset.

    symsim sweep examples/gray_scott.py --param F=0.02:0.06:16 --param k=0.055,0.06 --workers 2 -o sweep.nc

    >>> values = sweep_values(["D=0.1:0.3:3", "k=2"])
    >>> values
    {'D': [0.1, 0.2, 0.3], 'k': [2.0]}
    >>> members(values)
    [{'D': 0.1, 'k': 2.0}, {'D': 0.2, 'k': 2.0}, {'D': 0.3, 'k': 2.0}]

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


def members(values: dict) -> list[dict]:
    """The Cartesian product of the parameter values, the last parameter fastest."""
    names = list(values)
    return [dict(zip(names, combination)) for combination in itertools.product(*values.values())]


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


def run_member(model_source, params: dict, options: dict) -> tuple:
    """One member on a worker: (saved fields (saves, fields, *grid), t, stats) or (None, None, error line)."""
    from .solve import integrate
    try:
        compiled, checked = _compiled(model_source, tuple(sorted(options.items())))
        result = integrate(compiled, checked, params)
    except SymsimError as error:
        return None, None, " ".join(str(error).split())
    fields = np.stack([np.asarray(result.fields[f]) for f in result.fields], axis=1)
    stats = {k: v for k, v in result.stats.items() if isinstance(v, (int, float, str))}
    return fields, np.asarray(result.t), stats


def sweep(model, params: dict, t_end: float | None = None, method: str | None = None, saves: int | None = None,
          dt: float | None = None, target: str = "numpy", space_order: int | None = None, workers: int | None = None,
          scheduler: str | None = None, progress: bool = False, client=None):
    """Run ``model`` (a script path or shipped name, or a Model) for every member of ``params`` (name ->
    list of values, their Cartesian product) as Dask tasks; the xarray Dataset of all runs (see the module
    docstring). ``client``: a ``dask.distributed.Client`` to use; else ``scheduler`` (an address) or a
    LocalCluster of ``workers`` processes (default: one per core)."""
    from .loader import load_model
    from .lowering import lower_to_stencils
    from .solve import run_options

    if not params:
        raise OptionError("a sweep needs at least one --param NAME=VALUES")
    source = str(model) if isinstance(model, str) or hasattr(model, "__fspath__") else model
    loaded = load_model(source) if isinstance(source, str) else source
    options = {k: v for k, v in {"t_end": t_end, "method": method, "saves": saves, "dt": dt, "target": target,
                                 "space_order": space_order}.items() if v is not None}
    checked = run_options(loaded, **{k: v for k, v in options.items() if k != "target"})
    lowered = lower_to_stencils(loaded, checked["space_order"])
    unknown = sorted(set(params) - set(lowered.parameters))
    if unknown:
        raise OptionError(f"model {lowered.name!r} has no parameter {unknown[0]!r} (parameters: "
                          f"{', '.join(lowered.parameters) or 'none'})")
    runs = members(params)
    with _client(client, scheduler, workers) as dask_client:
        futures = [dask_client.submit(run_member, source, member, options, pure=False) for member in runs]
        outcomes = _collect(dask_client, futures, progress, lowered.name)
    return _dataset(lowered, params, runs, outcomes, checked)


class _client:
    """The Client to use, closing what this sweep started (a LocalCluster) and nothing it was given."""

    def __init__(self, client, scheduler, workers):
        self.given, self.scheduler, self.workers = client, scheduler, workers
        self.started = []

    def __enter__(self):
        if self.given is not None:
            return self.given
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise OptionError("symsim sweep needs Dask: pip install 'symsim[dask]'") from None
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


def _dataset(lowered, params: dict, runs: list, outcomes: list, options: dict):
    """One Dataset: each field over (sweep parameters..., t, axes...), ``failed`` and ``error`` per member."""
    import xarray
    good = next((o for o in outcomes if o[0] is not None), None)
    names = list(params)
    sweep_shape = tuple(len(v) for v in params.values())
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
    coords = {name: (name, np.asarray(v), {"long_name": f"parameter {name}"}) for name, v in params.items()}
    coords["t"] = ("t", np.asarray(t), {"long_name": "time"})
    coords.update({a.name: (a.name, a.coordinates, {"long_name": f"coordinate {a.name}"}) for a in lowered.axes})
    from . import __version__
    attrs = {"model": lowered.name, "symsim_version": __version__, "method": options["method"],
             "space_order": int(lowered.space_order), "members": len(runs), "failed_members": int(failed.sum())}
    attrs.update({f"param_{k}": float(v) for k, v in lowered.parameters.items() if k not in params})
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
