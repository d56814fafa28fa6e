"""Many trajectories of an ODE model at once: compiled, in parallel over the batch::

    rng = np.random.default_rng(0)
    ens = solve_ensemble("lorenz", y0=rng.uniform(-2, 2, (4096, 3)),
                         times=np.linspace(0, 6, 192), params={"rho": rng.uniform(20, 30, 4096)})
    ens.states.shape          # (4096, 192, 3)
    ens.ok                    # trajectories that finished inside the bound

The solvers are generated into the model's Numba module
(:mod:`symsim.codegen.templates.ensemble`); this wrapper checks the inputs and raises
symsim errors that name what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import OptionError, ParameterError


@dataclass
class EnsembleResult:
    fields: tuple          # field names, the last axis of states
    times: np.ndarray      # (saves,)
    states: np.ndarray     # (batch, saves, fields); NaN after a trajectory stopped
    status: np.ndarray     # (batch,): 0 finished; s > 0 left the bound at save s; -s step failure before save s
    params: np.ndarray     # (batch, parameters) in param_names order
    param_names: tuple

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0


def solve_ensemble(model, y0, times, params=None, method: str = "dopri5", rtol: float = 1e-6,
                   atol: float = 1e-9, substeps: int = 10, bound: float = np.inf,
                   max_steps: int = 100_000, space_order: int = 2, client=None,
                   batch: int | None = None) -> EnsembleResult:
    """Integrate every row of ``y0`` (batch x fields) with its own parameters and save at ``times``.

    ``params``: None (defaults), a dict of name -> scalar or (batch,) array, or a
    (batch, parameters) array in the model's parameter order. ``method``:
    ``dopri5`` (adaptive, per trajectory) or ``rk4`` (``substeps`` equal steps
    between save times). A trajectory whose state leaves ``|y| <= bound`` stops
    there (status > 0, NaN after).

    ``client``: a ``dask.distributed.Client``; the rows are split into tasks of ``batch`` rows
    (default: four tasks per worker), each solved on a worker as here, and joined in order.
    """
    from .compiler import compile_model
    from .loader import load_model

    source = model      # what a worker loads: the script's path or name (or the Model itself)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        source = str(model)
        model = load_model(model)
    compiled = compile_model(model, target="numba", space_order=space_order)
    lowered = compiled.lowered
    if lowered.axes:
        raise OptionError(f"model {lowered.name!r} has space axes; ensembles are for ODE models "
                          "(no grid) -- run PDE models with simulate")
    if method not in ("dopri5", "rk4"):
        raise OptionError(f"unknown ensemble method {method!r}; choose 'dopri5' or 'rk4'")
    y0 = np.asarray(y0, dtype=float)
    if y0.ndim == 1:
        y0 = y0[None, :]
    if y0.ndim != 2 or y0.shape[1] != len(lowered.fields):
        raise OptionError(f"y0 needs shape (batch, {len(lowered.fields)}) for fields {lowered.fields}, "
                          f"got {y0.shape}")
    if not np.isfinite(y0).all():
        raise OptionError("y0 has NaN or infinite entries")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size < 1 or not np.isfinite(times).all() or np.any(np.diff(times) <= 0):
        raise OptionError("times must be a 1-D array of finite, strictly increasing save times")
    try:    # the generated module's own resolution (it also serves the standalone module's users)
        matrix = compiled.module.parameter_matrix(params, y0.shape[0])
    except ValueError as error:
        raise ParameterError(f"model {lowered.name!r}: {error}") from None
    if not np.isfinite(matrix).all():
        raise ParameterError("parameter values must be finite")
    if client is not None:
        return _on_cluster(client, source, y0, times, matrix, batch, lowered,
                           dict(method=method, rtol=rtol, atol=atol, substeps=substeps, bound=bound,
                                max_steps=max_steps, space_order=space_order))
    if method == "dopri5":
        if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
            raise OptionError(f"tolerances must be >= 0 and not both zero, got rtol={rtol}, atol={atol}")
        states, status = compiled.module.ensemble_dopri5(y0, matrix, times, rtol, atol, bound, max_steps)
    else:
        if int(substeps) < 1:
            raise OptionError(f"substeps must be at least 1, got {substeps}")
        states, status = compiled.module.ensemble_rk4(y0, matrix, times, int(substeps), bound)
    return EnsembleResult(tuple(lowered.fields), times, states, status, matrix, tuple(lowered.parameters))


def _on_cluster(client, model, y0: np.ndarray, times: np.ndarray, matrix: np.ndarray, batch: int | None, lowered,
                options: dict) -> EnsembleResult:
    """Rows in tasks of ``batch`` on a Dask cluster, joined in order (each row's solution does not depend
    on the others, so the batches change nothing)."""
    import gc
    # the e-graph pass's egglog objects must be dropped on this thread, not by a collection that one of
    # Dask's communication threads happens to run
    gc.collect()
    rows = len(y0)
    if batch is None:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        batch = -(-rows // (4 * workers))
    if int(batch) < 1:
        raise OptionError(f"batch must be at least 1, got {batch}")
    starts = range(0, rows, int(batch))
    futures = [client.submit(solve_ensemble, model, y0[k:k + batch], times, matrix[k:k + batch], pure=False,
                             **options) for k in starts]
    parts = client.gather(futures)
    return EnsembleResult(tuple(lowered.fields), times, np.concatenate([p.states for p in parts]),
                          np.concatenate([p.status for p in parts]), matrix, tuple(lowered.parameters))
