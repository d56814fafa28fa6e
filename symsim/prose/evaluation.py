"""How good a PROSE checkpoint is, per family, next to the baselines it must beat::

    metrics = evaluate(network, Samples.load("eval.npz"))
    metrics["overall"]["traj_rel_l2"], metrics["lorenz"]["valid_fraction"]

For every sample of the evaluation set:

- ``traj_rel_l2``: the network's predicted trajectory on the query times (t in (2, 6])
  against the clean truth, relative L2 over points and channels;
- ``data_only_traj_rel_l2``: the same network with the symbol input left out (one
  checkpoint, trained with the symbol input dropped for a share of samples, evaluated
  both ways);
- ``valid_fraction``: the share of decoded token streams that are a system of the
  right dimension, decoded under the token grammar (:mod:`.grammar`: the decoder picks
  the most likely token the language allows next) unless ``constrained=False``;
- ``unconstrained_valid_fraction``: the same share when greedy decoding may write any
  token (the network's own command of the language; computed in the same run);
- ``field_rel_l2``: the decoded vector field against the true one at 50 random points
  of [-5, 5]^d (valid decodes only);
- ``field_rel_l2_refined``: the same after the decoded system is simplified by the
  e-graph pass and its constants (and the initial state) are fitted to the observed
  64 points, with the decoded constants as a weak prior (:func:`refine_constants`) --
  the closed loop beyond PROSE: the decoded system becomes a symsim
  model, compiled (NumPy backend: milliseconds, where a Numba module per decoded
  system would take seconds) and integrated, which also gives
  ``refined_traj_rel_l2``, its own prediction of t in (2, 6];
- ``sindy_field_rel_l2`` and ``sindy_traj_rel_l2``: SINDy (degree-2 library) fitted to
  the same 64 noisy points.

Every figure is the median over the family's samples: a few decoded systems that
blow up would otherwise decide a mean. ``overall`` pools every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import SymsimError
from ..vectorize import numpy_function
from .families import state_symbols, system_model
from .sindy import fit_sindy
from .tokens import DecodedSystem, decode_system

FIELD_POINTS = 50
#: weight of the decoded constants as a prior in refine_constants. Chosen on 150 validation
#: samples (seed 777, apart from the benchmark's evaluation set) decoded by the 58-minute
#: `small` checkpoint: median refined field error 0.0042 / 0.0041 / 0.0040 / 0.0050 for
#: weights 0 / 0.01 / 0.03 / 0.1 overall, and 0.59 / 0.048 / 0.029 / 0.035 on Aizawa.
PRIOR_WEIGHT = 0.03
FIELD_BOX = 5.0


def vector_field_error(candidate: list[sympy.Expr], truth: list[sympy.Expr], points: np.ndarray) -> float:
    """Relative L2 distance of two vector fields at ``points`` (n x d): ||f - g|| / ||g||.

        >>> u_0, u_1 = state_symbols(2)
        >>> points = np.array([[1.0, 2.0], [-1.0, 0.5]])
        >>> round(vector_field_error([1.1*u_1, -u_0], [u_1, -u_0], points), 6)   # ||(0.2, 0, 0.05, 0)|| / 2.5
        0.082462
    """
    return relative_l2(_field_values(candidate, points), _field_values(truth, points))


def _field_values(exprs: list[sympy.Expr], points: np.ndarray) -> np.ndarray:
    state = state_symbols(points.shape[1])
    # expressions come from our own decoder or families (never from user strings)
    function = numpy_function(state, exprs)
    with np.errstate(all="ignore"):
        columns = [np.broadcast_to(np.asarray(c, dtype=complex), points.shape[:1]) for c in function(*points.T)]
    values = np.stack(columns, axis=1)
    return np.where(np.abs(values.imag) < 1e-12, values.real, np.nan)


def relative_l2(prediction: np.ndarray, truth: np.ndarray) -> float:
    """||prediction - truth|| / ||truth|| over every entry; inf where that is not finite."""
    error = np.linalg.norm(prediction - truth) / max(np.linalg.norm(truth), 1e-300)
    return float(error) if np.isfinite(error) else math.inf


# -- the closed loop: fit the decoded constants, compile, integrate ------------------------


@dataclass
class Refinement:
    """A decoded system with its constants (and initial state) fitted to observed data."""

    exprs: list[sympy.Expr]
    initial_state: np.ndarray
    misfit_before: float       # relative L2 on the observed points, decoded constants
    misfit_after: float


def simplify_system(exprs: list[sympy.Expr], time_limit: float = 0.3) -> list[sympy.Expr]:
    """Each equation in its cheapest form by symsim's e-graph pass (same values, often fewer
    constants to fit: 10.2*u_1 - 10.2*u_0 -> 10.2*(u_1 - u_0))."""
    from ..simplify import simplify_expression

    return [simplify_expression(e, time_limit=time_limit)[0] for e in exprs]


def constants_as_parameters(exprs: list[sympy.Expr]) -> tuple[list[sympy.Expr], dict]:
    """Each Float constant of ``exprs`` as a parameter ``c_k``: (exprs in c_k, {c_k: value}).

    Integers stay (exponents, small integer coefficients): they are structure.
    """
    values, replaced = {}, []
    for expr in exprs:
        mapping = {}
        for number in sorted(expr.atoms(sympy.Float), key=lambda f: (float(f), str(f))):
            symbol = sympy.Symbol(f"c_{len(values)}")
            values[symbol] = float(number)
            mapping[number] = symbol
        replaced.append(expr.xreplace(mapping))
    return replaced, values


def integrate_batch(exprs: list[sympy.Expr], initial_states: np.ndarray, times: np.ndarray,
                    params: dict | None = None, substeps: int = 6, bound: float = 1e4) -> np.ndarray:
    """Trajectories of d(u_i)/dt = exprs[i] for every row of ``initial_states`` (batch x d).

    ``params``: symbol name -> (batch,) values of the symbols in ``exprs`` besides u_i.
    The system is compiled by symsim's NumPy backend (a few ms, so every decoded or
    fitted system gets its own module) and integrated by classical RK4 with
    ``substeps`` equal steps between saves, vectorized over the batch: the generated
    right-hand side is elementwise, so a (fields, batch) state evaluates every row at
    once. Rows that leave |u| <= bound are NaN from there on.
    """
    params = {name: np.asarray(v, dtype=float) for name, v in (params or {}).items()}
    return rk4_batch(compiled_rhs(exprs, params), initial_states, times, params, substeps, bound)


def compiled_rhs(exprs: list[sympy.Expr], params: dict):
    """The NumPy backend's ``rhs(t, state, out, p)`` of the system (``params``: name -> any value)."""
    from ..compiler import compile_model

    defaults = {name: float(np.asarray(v, dtype=float).flat[0]) for name, v in params.items()}
    return compile_model(system_model("prose_system", exprs, defaults), target="numpy", egraph=False).module.rhs


def rk4_batch(rhs, initial_states, times, params, substeps, bound) -> np.ndarray:
    """RK4 (symsim's NumPy stepper, from its tableau) on a (d, batch) state: every row at once."""
    from ..integrators import FixedStepper

    state = np.array(initial_states, dtype=float).T.copy()          # (d, batch)
    out = np.empty((len(times),) + state.shape[::-1])
    out[0] = state.T
    alive = np.ones(state.shape[1], dtype=bool)
    stepper = FixedStepper("rk4", lambda t, y, k: rhs(t, y, k, params), lambda t, y: None, state)
    with np.errstate(all="ignore"):     # a row that blows up is caught by the bound below
        for s in range(1, len(times)):
            dt = (times[s] - times[s - 1]) / substeps
            for n in range(substeps):
                stepper.step(times[s - 1] + n * dt, state, dt)
            alive &= np.all(np.abs(state) <= bound, axis=0)
            state[:, ~alive] = 0.0          # keep dead rows finite; they are reported as NaN
            out[s] = np.where(alive[:, None], state.T, np.nan)
    return out.transpose(1, 0, 2)                                   # (batch, saves, d)


def refine_constants(exprs: list[sympy.Expr], times: np.ndarray, observed: np.ndarray, iterations: int = 10,
                     bound: float = 1e4, prior_weight: float = PRIOR_WEIGHT) -> Refinement:
    """Levenberg-Marquardt on the trajectory misfit over the decoded constants and initial state.

    Each iteration integrates the current guess and one perturbation per unknown
    (finite-difference Jacobian columns) as one batch, with the system compiled once.

    ``prior_weight``: the decoded constants are a prior, not just a starting point. The
    fit minimizes the trajectory misfit (RMS in units of the data's spread) plus
    ``prior_weight`` times each constant's relative change from its decoded value, in
    least squares. A constant the short window pins down (a 1% change moves the whole
    trajectory) moves freely; one it cannot see stays near the decode instead of chasing
    the noise -- Aizawa's 0.1*u_2*u_0**3 is tiny on the attractor, |u| ~ 1, and dominant
    on the [-5, 5]^3 box where vector fields are compared.
    """
    dimension = len(exprs)
    structure, values = constants_as_parameters(exprs)
    names = [s.name for s in values]
    decoded = np.array(list(values.values()), dtype=float)
    unknowns = np.concatenate([observed[0], decoded])
    scale = observed.std(axis=0).mean() + 1e-12
    points = observed.size
    # the prior's rows are scaled with the trajectory's so that its weight is per RMS, not per sum
    prior_scale = prior_weight * np.sqrt(points) / np.maximum(np.abs(decoded), 1e-3)

    rhs = compiled_rhs(structure, {s.name: v for s, v in values.items()})

    def residuals(candidates: np.ndarray) -> np.ndarray:
        params = {name: candidates[:, dimension + k] for k, name in enumerate(names)}
        states = rk4_batch(rhs, candidates[:, :dimension], times, params, substeps=6, bound=bound)
        misfit = ((states - observed[None]) / scale).reshape(len(candidates), -1)
        prior = (candidates[:, dimension:] - decoded[None]) * prior_scale[None]
        return np.concatenate([misfit, prior], axis=1)

    def misfit_of(residual: np.ndarray) -> float:
        return float(np.sqrt(np.mean(residual[..., :points] ** 2)))

    def objective(residual: np.ndarray) -> np.ndarray:
        return np.sum(residual ** 2, axis=-1)

    current = residuals(unknowns[None])[0]
    before = misfit_of(current)
    cost = float(objective(current))
    damping = 1e-2
    for _ in range(iterations if np.isfinite(cost) else 0):
        steps = 1e-6 * np.maximum(np.abs(unknowns), 1e-3)
        jacobian = ((residuals(unknowns[None] + np.diag(steps)) - current[None]) / steps[:, None]).T
        if not np.isfinite(jacobian).all():
            break
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ current
        # a few damping values in one batch: the first that lowers the objective is taken
        dampings = damping * 4.0 ** np.arange(6)
        trials = np.array([unknowns + np.linalg.solve(normal + m * np.diag(np.diag(normal) + 1e-12), -gradient)
                           for m in dampings])
        trial_residuals = residuals(trials)
        trial_costs = objective(trial_residuals)
        better = np.flatnonzero(np.isfinite(trial_costs) & (trial_costs < cost))
        if not better.size:
            break
        k = better[0]
        unknowns, current, cost = trials[k], trial_residuals[k], float(trial_costs[k])
        damping = max(dampings[k] / 3, 1e-9)
        if cost < 1e-20 * points:
            break
    fitted = {sympy.Symbol(n): sympy.Float(v, 15) for n, v in zip(names, unknowns[dimension:])}
    return Refinement([e.xreplace(fitted) for e in structure], unknowns[:dimension], before, misfit_of(current))


def integrate(exprs: list[sympy.Expr], initial_state: np.ndarray, times: np.ndarray, bound: float = 1e4) -> np.ndarray:
    """One trajectory of the system at ``times`` (NaN after it leaves |u| <= bound)."""
    return integrate_batch(exprs, np.asarray(initial_state, dtype=float)[None], times, bound=bound)[0]


# -- the evaluation run ---------------------------------------------------------------------


METRICS = ("valid_fraction", "unconstrained_valid_fraction", "traj_rel_l2", "field_rel_l2", "field_rel_l2_refined",
           "refined_traj_rel_l2", "data_only_traj_rel_l2", "sindy_field_rel_l2", "sindy_traj_rel_l2")


def is_valid_decode(decoded, dimension: int) -> bool:
    """Whether a decoded stream is a system of ``dimension`` equations with values (no placeholders)."""
    return isinstance(decoded, DecodedSystem) and decoded.dimension == dimension and not decoded.placeholders


def sample_metrics(samples, i: int, predicted: np.ndarray, predicted_without_symbols: np.ndarray,
                   decoded_tokens, rng: np.random.Generator, refine: bool = True,
                   unconstrained_tokens=None) -> dict:
    """Every metric of sample ``i`` (see the module notes); NaN where a metric does not apply.

    ``unconstrained_tokens``: the stream greedy decoding wrote without the grammar, when the
    caller decoded both ways.
    """
    spec = samples.spec
    d = int(samples.dimension[i])
    split = spec.input_points
    times = spec.times
    truth = samples.clean[i, :, :d]
    observed = samples.noisy[i, :split, :d]
    true_system = samples.system(i)
    points = rng.uniform(-FIELD_BOX, FIELD_BOX, (FIELD_POINTS, d))
    row = dict.fromkeys(METRICS, math.nan)
    row["traj_rel_l2"] = relative_l2(predicted[:, :d], truth[split:])
    row["data_only_traj_rel_l2"] = relative_l2(predicted_without_symbols[:, :d], truth[split:])

    decoded = decode_system(decoded_tokens)
    valid = is_valid_decode(decoded, d)
    row["valid_fraction"] = float(valid)
    if unconstrained_tokens is not None:
        row["unconstrained_valid_fraction"] = float(is_valid_decode(decode_system(unconstrained_tokens), d))
    if valid:
        row["field_rel_l2"] = vector_field_error(decoded.exprs, true_system, points)
        if refine:
            try:
                refined = refine_constants(simplify_system(decoded.exprs), times[:split], observed)
                row["field_rel_l2_refined"] = vector_field_error(refined.exprs, true_system, points)
                forward = integrate(refined.exprs, refined.initial_state, times)
                row["refined_traj_rel_l2"] = relative_l2(forward[split:], truth[split:])
            except SymsimError:
                # a decoded system symsim cannot compile (e.g. log of a negative constant): unrefined
                row["field_rel_l2_refined"] = row["field_rel_l2"]
    sindy = fit_sindy(times[:split], observed)
    row["sindy_field_rel_l2"] = vector_field_error(sindy.exprs, true_system, points)
    try:
        forward = integrate(sindy.exprs, observed[0], times)
        row["sindy_traj_rel_l2"] = relative_l2(forward[split:], truth[split:])
    except SymsimError:
        row["sindy_traj_rel_l2"] = math.inf
    return row


def summarize(rows: list[dict], families: list[str]) -> dict:
    """Per family and ``overall``: the median of each metric (the mean of valid_fraction)."""
    groups = {}
    for family, row in zip(families, rows):
        groups.setdefault(family, []).append(row)
    groups["overall"] = rows
    summary = {}
    for name, group in groups.items():
        entry = {"samples": len(group)}
        for metric in METRICS:
            values = np.array([r[metric] for r in group], dtype=float)
            values = values[~np.isnan(values)]
            if metric.endswith("valid_fraction"):
                entry[metric] = float(values.mean()) if values.size else math.nan
            else:
                entry[metric] = float(np.median(values)) if values.size else math.nan
        summary[name] = entry
    return summary


def format_table(summary: dict) -> str:
    """The metrics as a plain-text table, one line per family and ``overall`` last."""
    columns = ("samples",) + METRICS
    names = [n for n in summary if n != "overall"] + ["overall"]
    width = max(len(n) for n in names) + 2
    # each column as wide as its whole name (two metrics share their first 12 characters)
    sizes = [max(len(c), 9) for c in columns]
    lines = ["family".ljust(width) + " ".join(f"{c:>{n}}" for c, n in zip(columns, sizes))]
    for name in names:
        cells = []
        for column, size in zip(columns, sizes):
            value = summary[name][column]
            cells.append(f"{value:>{size}d}" if column == "samples" else f"{value:>{size}.3g}")
        lines.append(name.ljust(width) + " ".join(cells))
    return "\n".join(lines)


def evaluate(network, samples, batch_size: int = 64, beam_size: int = 1, max_symbol_length: int = 200,
             refine: bool = True, constrained: bool = True, seed: int = 0, progress=None) -> dict:
    """Run ``network`` (a ProseModel) on every sample and summarize (see the module notes).

    ``constrained``: decode under the token grammar, and also greedily without it for
    ``unconstrained_valid_fraction``. ``progress``: a callable taking the number of samples
    just finished.
    """
    import torch

    from .grammar import SymbolGrammar
    from .model import evaluation_mode
    from .tokens import VOCAB

    grammar = SymbolGrammar(VOCAB) if constrained else None

    rng = np.random.default_rng(seed)
    rows, families = [], []
    with evaluation_mode(network), torch.no_grad():
        for start in range(0, len(samples), batch_size):
            index = np.arange(start, min(start + batch_size, len(samples)))
            batch = samples.batch(index, device=next(network.parameters()).device)
            predicted = network.predict_trajectory(batch).cpu().numpy()
            without = dict(batch, symbol_input=batch["symbol_input"][:, :0])
            predicted_without = network.predict_trajectory(without).cpu().numpy()
            if beam_size > 1:
                decoded = network.beam_decode(batch, beam_size, max_symbol_length, grammar=grammar)
            else:
                decoded = network.greedy_decode(batch, max_symbol_length, grammar=grammar)
            unconstrained = network.greedy_decode(batch, max_symbol_length) if constrained else decoded
            for k, i in enumerate(index):
                rows.append(sample_metrics(samples, int(i), predicted[k], predicted_without[k], decoded[k], rng,
                                           refine=refine, unconstrained_tokens=unconstrained[k]))
                families.append(samples.family_name(int(i)))
            if progress is not None:
                progress(len(index))
    return summarize(rows, families)
