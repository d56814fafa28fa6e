"""The closed loop: each proposal simplified, compiled, its constants fitted by simulating it, and scored.

    candidate = refine(proposal, training, held_back)
    candidate.parameters, candidate.training_misfit, candidate.forecast_error

A proposal's right-hand sides go through symsim's e-graph pass (fewer constants to fit:
``2.1*u - 2.1*v`` -> ``2.1*(u - v)``); each remaining number becomes a parameter ``c_k``
of a symsim model built on the data's grid, compiled once by the NumPy backend. SciPy's
``least_squares`` (trust region reflective) then fits those parameters -- and for ODE
series each trajectory's initial state, since the first sample is as noisy as the rest --
to the *trajectories*, not to derivative estimates:

- ODE series: every trajectory integrated from its fitted start over the training times
  (RK4 on a batch: the current guess and one perturbation per unknown integrate together,
  which is the finite-difference Jacobian in one pass);
- PDE snapshots: multiple shooting -- the training window cut into segments of
  :data:`SEGMENT_SAVES` snapshot intervals, each integrated from its observed first snapshot,
  so that a chaotic system (Kuramoto-Sivashinsky) is compared before its trajectory
  decorrelates, and an error early on does not decide the whole fit.

Scores (relative L2 over points and fields, ||model - data|| / ||data||):

- ``training_misfit``: on the training part;
- ``forecast_error``: on the held-back part, the model run on from where training ends
  (ODE: the fitted trajectory continued; PDE: from the last training snapshot);
- ``replay_error``: over the whole series from its start -- what running the written model
  script reproduces (ODE: trajectory 0 from its fitted start; PDE: from the first snapshot).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import SymsimError
from ..model import Dt, Model, is_field
from ..prose.evaluation import relative_l2
from .observations import Observations
from .proposals import Proposal, template_model, term_values

#: snapshot intervals per multiple-shooting segment of a PDE fit
SEGMENT_SAVES = 10
#: trajectories leaving |u| <= BLOW_UP * (the data's largest |u|) count as blown up
BLOW_UP = 100.0
#: residual given to a sample a blown-up simulation never reached (in units of the data's spread)
FAILED_RESIDUAL = 10.0
#: least-squares evaluations per fit (each one a simulation of the training window; a PDE fit's
#: finite-difference Jacobian adds one per constant, uncounted)
MAX_EVALUATIONS = 25
PDE_MAX_EVALUATIONS = 12
#: RK4 steps per ODE sample interval (more where intervals are uneven: the longest gets its share)
SUBSTEPS = 4
#: tolerances of the PDE simulations (adaptive dopri5, or imex-ark for hyperdiffusion)
RTOL, ATOL = 1e-6, 1e-9


@dataclass
class Candidate:
    """A proposal with its constants fitted and its scores (see the module notes)."""

    proposal: Proposal
    structure: tuple[sympy.Expr, ...]      # rates in the parameters c_k
    parameters: dict[str, float]           # fitted c_k
    initial: tuple[np.ndarray, ...]        # ODE: fitted start per trajectory; PDE: the first snapshot
    training_misfit: float = math.inf
    forecast_error: float = math.inf
    replay_error: float = math.inf
    failure: str | None = None             # why fitting or scoring failed (the candidate stays in the table)
    method: str = "dopri5"                 # the integrator the scores were computed with
    replay: np.ndarray | None = None       # the model over the whole series (trajectory 0), data's layout

    @property
    def rates(self) -> tuple[sympy.Expr, ...]:
        """The fitted right-hand sides, numbers in place of the parameters."""
        values = {sympy.Symbol(n): sympy.Float(v, 8) for n, v in self.parameters.items()}
        return tuple(r.xreplace(values) for r in self.structure)

    @property
    def terms(self) -> int:
        return sum(len(sympy.Add.make_args(sympy.expand(r))) for r in self.rates if r != 0)

    def equations(self, names: tuple[str, ...]) -> list[str]:
        """``d(u)/dt = ...`` per field, in readable notation (u_x for derivatives)."""
        return [f"d{name}/dt = {readable(rate)}" for name, rate in zip(names, self.rates)]


def refine(proposal: Proposal, training: Observations, held_back: Observations,
           time_limit: float = 0.3) -> Candidate:
    """Fit and score one proposal (see the module notes); failures are recorded, not raised."""
    structure, values = parametrize(simplify_rates(proposal.rates, time_limit), training.names)
    candidate = Candidate(proposal, structure, values, tuple(v[0] for v in training.values))
    try:
        model = candidate_model(training, structure, values)
        fit = _OdeFit if training.kind == "ode" else _PdeFit
        fit(model, training, held_back).run(candidate)
    except SymsimError as error:
        candidate.failure = f"failed: {error}"
    return candidate


def refit_on_everything(candidate: Candidate, observations: Observations) -> Candidate:
    """An ODE candidate chosen on the held-back samples, its constants and starts fitted again to every
    sample, those too (more data, the same structure); it keeps the forecast error it was chosen by.
    The first fit stands where the second one fits no better."""
    if observations.kind != "ode" or candidate.failure is not None:
        return candidate
    everything, last = observations.split(0.0)
    final = dataclasses.replace(candidate)
    try:
        _OdeFit(candidate_model(everything, final.structure, final.parameters), everything, last).run(final)
    except SymsimError:
        return candidate
    if not final.replay_error < candidate.replay_error:
        return candidate
    final.forecast_error = candidate.forecast_error
    return final


def simplify_rates(rates, time_limit: float = 0.3) -> tuple[sympy.Expr, ...]:
    """Each rate in its cheapest form by the e-graph pass; fields and their derivatives stand in as symbols."""
    from ..simplify import simplify_expression

    simplified = []
    for rate in rates:
        atoms = sorted({a for a in sympy.preorder_traversal(rate) if is_field(a) or isinstance(a, sympy.Derivative)},
                       key=sympy.default_sort_key)
        stand_ins = {a: sympy.Symbol(f"_v{k}") for k, a in enumerate(atoms)}
        best = simplify_expression(rate.xreplace(stand_ins), time_limit=time_limit)[0]
        simplified.append(best.xreplace({s: a for a, s in stand_ins.items()}))
    return tuple(simplified)


def parametrize(rates, taken) -> tuple[tuple[sympy.Expr, ...], dict[str, float]]:
    """Every Float of ``rates`` as a parameter c_0, c_1, ... (names in ``taken`` skipped); integers stay."""
    values, replaced, index = {}, [], 0
    for rate in rates:
        mapping = {}
        for number in sorted(rate.atoms(sympy.Float), key=lambda f: (float(f), str(f))):
            while f"c_{index}" in taken:
                index += 1
            values[f"c_{index}"] = float(number)
            mapping[number] = sympy.Symbol(f"c_{index}")
            index += 1
        replaced.append(rate.xreplace(mapping))
    return tuple(replaced), values


def candidate_model(data: Observations, structure, parameters: dict, name: str = "discovered") -> Model:
    """The symsim model d(field)/dt = structure[k] on the data's grid, walls inferred from the data."""
    model = template_model(data, name)
    fields = list(model.field_functions.values())
    if parameters:
        model.params(**parameters)
    model.equations(*[sympy.Eq(Dt(f), rate) for f, rate in zip(fields, structure)])
    first = data.values[0][0]
    model.initial(**{n: first[..., k] for k, n in enumerate(data.names)})
    for name_, value, wall in inferred_walls(data):
        model.dirichlet(fields[data.names.index(name_)], value=value, **wall)
    return model


def inferred_walls(data: Observations) -> list[tuple]:
    """Dirichlet values on every wall of a non-periodic axis: the data's wall values, when they hold still.

    Returns (field name, value, {axis: position}) per field and wall. A wall whose values
    move in time (by more than 1 % of the field's range) is refused: symsim cannot guess a
    time-dependent condition, and fitting with a wrong one would bias every coefficient.
    """
    from .observations import DataError

    walls = []
    values = data.values[0]
    for axis_number, (axis, points) in enumerate(data.coords.items()):
        if axis in data.periodic:
            continue
        for side, index in (("low", 0), ("high", -1)):
            wall = np.take(values, index, axis=1 + axis_number)         # (times, *other axes, fields)
            for k, name in enumerate(data.names):
                series = wall[..., k]
                spread = np.ptp(values[..., k]) or 1.0
                if np.ptp(series) > 0.01 * spread + 3 * noise_amplitude([values[..., k]]):
                    raise DataError(f"{data.source}: the {side} wall of axis {axis!r} ({axis} = {points[index]:g}) "
                                    f"is not fixed in {name!r}; if the axis wraps around, give --periodic {axis}")
                walls.append((name, float(np.mean(series)), {axis: float(points[index])}))
    return walls


def ill_posed_term(model: Model, params: dict, snapshot: np.ndarray) -> str | None:
    """Why ``model`` is ill-posed with ``params`` on the data, or None: the highest even derivative of a
    field along an axis, in its own equation, must damp (u_xx with a positive coefficient, u_xxxx with a
    negative one) at every grid point; otherwise the finest modes grow at any step size (backward heat)."""
    return ill_posedness_check(model)(params, snapshot)


def ill_posedness_check(model: Model):
    """:func:`ill_posed_term` for one model, its coefficients differentiated and compiled once."""
    from ..vectorize import numpy_function

    fields = list(model.field_functions.values())
    stand_ins = sympy.symbols(" ".join(f"_f{k}" for k in range(len(fields))), seq=True)
    parameters = [symbol for symbol, _ in model.parameters.values()]
    checks = []
    for field, equation in zip(fields, model.equation_list):
        rate = equation.rhs
        for axis in model.coords:
            orders = [a.variable_count[0][1] for a in rate.atoms(sympy.Derivative)
                      if a.expr == field and a.variables == (axis,) * len(a.variables)]
            if not orders or max(orders) % 2:
                continue
            order = max(orders)
            highest = field.diff(axis, order)
            coefficient = rate.diff(highest).xreplace({a: 0 for a in rate.atoms(sympy.Derivative)})
            checks.append((field, highest, order, coefficient,
                           numpy_function([*stand_ins, *parameters], coefficient.xreplace(dict(zip(fields, stand_ins))))))

    def check(params: dict, snapshot: np.ndarray) -> str | None:
        values = [params[symbol.name] for symbol in parameters]
        for field, highest, order, coefficient, evaluate in checks:
            with np.errstate(all="ignore"):
                damping = (-1) ** (order // 2 + 1) * np.asarray(evaluate(*snapshot, *values), dtype=float)
            if not np.all(damping >= 0):
                numbers = {symbol: sympy.Float(v, 3) for symbol, v in zip(parameters, values)}
                return (f"ill-posed: the coefficient of {readable(highest)} in d{field.func.__name__}/dt "
                        f"({readable(sympy.N(coefficient.xreplace(numbers), 3))}) lets the finest modes grow")
        return None

    return check


def noise_floor(data: Observations) -> float:
    """The relative L2 misfit that noise alone leaves: a model cannot fit the samples better than this
    (:func:`noise_amplitude` over the data's RMS)."""
    values = [v.reshape(len(v), -1) for v in data.values]
    rms = float(np.sqrt(np.mean(np.concatenate(values) ** 2)))
    return noise_amplitude(values) / max(rms, 1e-300)


def noise_amplitude(series) -> float:
    """The standard deviation of white noise on ``series`` (arrays with time first), from fourth differences
    in time -- which a smooth signal barely reaches -- as a robust median (sqrt(70) is the norm of the
    stencil 1, -4, 6, -4, 1)."""
    differences = [v[4:] - 4 * v[3:-1] + 6 * v[2:-2] - 4 * v[1:-3] + v[:-4] for v in series if len(v) >= 5]
    if not differences:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.concatenate([d.ravel() for d in differences]))) / math.sqrt(70))


def readable(expr: sympy.Expr) -> str:
    """An expression with u(t, x) written u and Derivative(u, x, 2) written u_xx."""
    replacements = {}
    for atom in sympy.preorder_traversal(expr):
        if isinstance(atom, sympy.Derivative) and is_field(atom.expr):
            suffix = "".join(str(v) * n for v, n in atom.variable_count)
            replacements[atom] = sympy.Symbol(f"{atom.expr.func.__name__}_{suffix}")
    expr = expr.xreplace(replacements)
    fields = {a: sympy.Symbol(a.func.__name__) for a in expr.atoms(sympy.Function) if is_field(a)}
    return str(expr.xreplace(fields))


class _OdeFit:
    """Fit constants and starting states of an ODE candidate to every training trajectory at once."""

    def __init__(self, model: Model, training: Observations, held_back: Observations):
        from ..compiler import compile_model

        self.names = list(model.parameters)
        self.rhs = compile_model(model, target="numpy", egraph=False).module.rhs
        self.training, self.held_back = training, held_back
        self.dimension = len(training.names)
        everything = np.concatenate([np.abs(v).ravel() for v in training.values])
        self.bound = BLOW_UP * max(float(everything.max()), 1e-12)
        self.scale = float(np.mean([v.std(axis=0).mean() for v in training.values])) or 1.0

    def run(self, candidate: Candidate) -> None:
        from scipy.optimize import least_squares

        d, k = self.dimension, len(self.training.values)
        start = np.concatenate([*[v[0] for v in self.training.values], list(candidate.parameters.values())])
        fit = least_squares(self.residuals, start, jac=self.jacobian, method="trf", x_scale="jac",
                            max_nfev=MAX_EVALUATIONS)
        unknowns = fit.x
        candidate.parameters = dict(zip(self.names, map(float, unknowns[k * d:])))
        candidate.initial = tuple(unknowns[j * d:(j + 1) * d].copy() for j in range(k))
        params = unknowns[k * d:]
        modelled, observed, held_model, held_data = [], [], [], []
        for j, (times, values) in enumerate(zip(self.training.times, self.training.values)):
            everything = np.concatenate([times, self.held_back.times[j][1:]])
            path = self._integrate(unknowns[j * d:(j + 1) * d][None], params[None], everything)[0]
            modelled.append(path[:len(times)])
            observed.append(values)
            held_model.append(path[len(times) - 1:])
            held_data.append(self.held_back.values[j])
            if j == 0:
                candidate.replay = path
                candidate.replay_error = relative_l2(path, np.concatenate([values, self.held_back.values[j][1:]]))
        candidate.training_misfit = relative_l2(np.concatenate(modelled), np.concatenate(observed))
        candidate.forecast_error = relative_l2(np.concatenate(held_model), np.concatenate(held_data))
        candidate.method = "rk4"

    def _integrate(self, starts: np.ndarray, params: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(batch, samples, d) trajectories from ``starts`` (batch, d) with parameter rows ``params``."""
        from ..prose.evaluation import rk4_batch

        steps = np.diff(times)
        substeps = max(SUBSTEPS, math.ceil(SUBSTEPS * steps.max() / np.median(steps)))
        columns = {n: params[:, i] for i, n in enumerate(self.names)}
        return rk4_batch(self.rhs, starts, times, columns, substeps, self.bound)

    def _batch_residuals(self, rows: np.ndarray) -> np.ndarray:
        """Residuals (batch, all samples) of every row of unknowns."""
        d, k = self.dimension, len(self.training.values)
        parts = []
        for j, (times, values) in enumerate(zip(self.training.times, self.training.values)):
            paths = self._integrate(rows[:, j * d:(j + 1) * d], rows[:, k * d:], times)
            misfit = (paths - values[None]) / self.scale
            parts.append(np.nan_to_num(misfit, nan=FAILED_RESIDUAL).reshape(len(rows), -1))
        return np.concatenate(parts, axis=1)

    def residuals(self, unknowns: np.ndarray) -> np.ndarray:
        """The residuals at ``unknowns``; the forward-difference Jacobian there comes from the same batch.

        A batched RK4 step costs about as much for 40 rows as for one (the generated right-hand
        side's NumPy calls dominate), and SciPy asks for the Jacobian at every accepted point.
        """
        steps = 1e-7 * np.maximum(np.abs(unknowns), 1e-3)
        rows = np.vstack([unknowns[None], unknowns[None] + np.diag(steps)])
        batch = self._batch_residuals(rows)
        self._jacobian_at = (unknowns.copy(), ((batch[1:] - batch[0][None]) / steps[:, None]).T)
        return batch[0]

    def jacobian(self, unknowns: np.ndarray) -> np.ndarray:
        point, jacobian = self._jacobian_at
        if not np.array_equal(point, unknowns):
            self.residuals(unknowns)
            point, jacobian = self._jacobian_at
        return jacobian


class _PdeFit:
    """Fit the constants of a PDE candidate by multiple shooting over the training snapshots."""

    def __init__(self, model: Model, training: Observations, held_back: Observations):
        from ..compiler import compile_model
        from ..lowering import lower_to_stencils

        self.names = list(model.parameters)
        self.ill_posed = ill_posedness_check(model)
        derivative_orders = [sum(n for _, n in a.variable_count)
                             for r in model.equation_list for a in r.rhs.atoms(sympy.Derivative)]
        # hyperdiffusion (u_xxxx) makes explicit steps tiny; the implicit-explicit method steps over it
        self.method = "imex-ark" if max(derivative_orders, default=0) >= 3 else "dopri5"
        lowered = lower_to_stencils(model, 4)
        self.compiled = compile_model(lowered, target="numpy", space_order=4, egraph=False,
                                      jacobian=self.method == "imex-ark")
        self.training, self.held_back = training, held_back
        self.observed = np.moveaxis(training.values[0], -1, 1)            # (times, fields, *grid)
        self.held = np.moveaxis(held_back.values[0], -1, 1)
        self.interval = float(np.mean(np.diff(training.times[0])))
        self.scale = float(self.observed.std()) or 1.0
        self.bound = BLOW_UP * max(float(np.abs(self.observed).max()), 1e-12)

    def run(self, candidate: Candidate) -> None:
        from scipy.optimize import least_squares

        start = np.array(list(candidate.parameters.values()), dtype=float)
        reason = self.ill_posed(candidate.parameters, self.observed[0])
        if reason is not None:
            candidate.failure = reason
            return
        # a candidate that blows up with the regression's constants is not worth a fit (each evaluation
        # would run until it blows up again): the proposals that matter start close to the data
        segments = self._segments()
        for a, b in segments:
            if np.isnan(self.simulate(candidate.parameters, self.observed[a], b - a)).any():
                candidate.failure = (f"blows up over the training snapshots from t = "
                                     f"{self.training.times[0][a]:g} with the proposed constants")
                return
        if start.size:
            fit = least_squares(self.residuals, start, method="trf", x_scale="jac", diff_step=1e-6,
                                max_nfev=PDE_MAX_EVALUATIONS)
            candidate.parameters = dict(zip(self.names, map(float, fit.x)))
        params = candidate.parameters
        candidate.method = self.method
        modelled = np.concatenate([self.simulate(params, self.observed[a], b - a)[1:] for a, b in segments])
        observed = np.concatenate([self.observed[a + 1:b + 1] for a, b in segments])
        candidate.training_misfit = relative_l2(modelled, observed)
        forecast = self.simulate(params, self.held[0], len(self.held) - 1)
        candidate.forecast_error = relative_l2(forecast[1:], self.held[1:])
        whole = np.concatenate([self.observed, self.held[1:]])
        replay = self.simulate(params, whole[0], len(whole) - 1)
        candidate.replay_error = relative_l2(replay, whole)
        candidate.replay = np.moveaxis(replay, 1, -1)

    def _segments(self) -> list[tuple[int, int]]:
        last = len(self.observed) - 1
        return [(a, min(a + SEGMENT_SAVES, last)) for a in range(0, last, SEGMENT_SAVES)]

    def simulate(self, params: dict, start: np.ndarray, saves: int) -> np.ndarray:
        """(saves + 1, fields, *grid) from ``start``, one save per snapshot interval; NaN once blown up
        (at once when the parameters make the model ill-posed: it could only blow up, slowly)."""
        from ..solve import integrate

        if self.ill_posed(params, self.observed[0]) is not None:
            return np.full((saves + 1,) + start.shape, np.nan)
        options = {"t_end": saves * self.interval, "saves": saves, "method": self.method, "dt": None,
                   "rtol": RTOL, "atol": ATOL * self.scale, "space_order": 4}
        out = np.full((saves + 1,) + start.shape, np.nan)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")      # stiffness and step warnings: a bad candidate scores badly
                result = integrate(self.compiled, options, params, initial=start)
        except SymsimError:
            return out
        stacked = np.stack([result[name] for name in self.training.names], axis=1)
        finite = np.isfinite(stacked).all(axis=tuple(range(1, stacked.ndim)))
        finite &= np.abs(np.nan_to_num(stacked)).max(axis=tuple(range(1, stacked.ndim))) <= self.bound
        good = int(np.argmin(finite)) if not finite.all() else len(finite)
        out[:good] = stacked[:good]
        return out

    def residuals(self, unknowns: np.ndarray) -> np.ndarray:
        params = dict(zip(self.names, unknowns))
        parts = []
        for a, b in self._segments():
            path = self.simulate(params, self.observed[a], b - a)
            parts.append(np.nan_to_num((path[1:] - self.observed[a + 1:b + 1]) / self.scale,
                                       nan=FAILED_RESIDUAL).ravel())
        return np.concatenate(parts)


#: pruning: terms explaining less than this share of their equation's rate (RMS on the data) go in one step
NEGLIGIBLE_SHARE = 0.01
#: pruning: then one term at a time, the least contributing, while it explains less than this share ...
PRUNE_SHARE = 0.25
#: ... and the refitted training misfit stays within this factor of the misfit before
PRUNE_SLACK = 1.05
#: relative L2 errors closer than this are one error (integration and round-off, on clean data)
INDISTINGUISHABLE = 1e-4
PRUNE_STEPS = 12


def prune(candidate: Candidate, training: Observations, held_back: Observations) -> Candidate:
    """Backward elimination on a fitted ODE candidate: drop the terms the data does not need.

    Sparse regression on noisy derivatives keeps small spurious terms (0.003*x**2 beside
    -10*x); refitting against trajectories makes their absence testable. Terms below
    :data:`NEGLIGIBLE_SHARE` of their equation's rate go at once, then the least
    contributing term one at a time, each removal kept only if the refitted training misfit
    stays within :data:`PRUNE_SLACK` of what it was. Returns the sparsest candidate reached
    (``candidate`` itself when nothing could go).
    """
    if training.kind != "ode" or candidate.failure is not None:
        return candidate
    best = candidate
    shares = _term_shares(best, training)
    negligible = [key for key, share in shares.items() if share < NEGLIGIBLE_SHARE]
    if negligible:
        best = _accepted(best, _without(best, negligible, training, held_back))
    kept = set()         # (equation, monomial) whose removal was tried and refused
    for _ in range(PRUNE_STEPS):
        shares = _term_shares(best, training)
        terms = _expanded_terms(best)
        options = [key for key, share in sorted(shares.items(), key=lambda item: item[1])
                   if share < PRUNE_SHARE and (key[0], _monomial_of(terms[key[0]][key[1]])) not in kept]
        if not options:
            break
        trial = _accepted(best, _without(best, options[:1], training, held_back))
        if trial is best:
            kept.add((options[0][0], _monomial_of(terms[options[0][0]][options[0][1]])))
        best = trial
    return best


def _accepted(best: Candidate, trial: Candidate | None) -> Candidate:
    """``trial`` if it fitted the training data within the slack of ``best``, else ``best``."""
    if trial is not None and trial.failure is None and \
            trial.training_misfit <= PRUNE_SLACK * best.training_misfit + INDISTINGUISHABLE:
        return trial
    return best


def _monomial_of(term: sympy.Expr) -> sympy.Expr:
    return term.as_coeff_Mul()[1]


def _expanded_terms(candidate: Candidate) -> list[list[sympy.Expr]]:
    return [list(sympy.Add.make_args(sympy.expand(r))) if r != 0 else [] for r in candidate.rates]


def _term_shares(candidate: Candidate, training: Observations) -> dict:
    """(equation, term index) -> RMS of the term over the training samples / RMS of the equation's rate."""
    states = np.concatenate(training.values)
    fields = [sympy.Function(n)(sympy.Symbol("t")) for n in training.names]
    shares = {}
    for k, terms in enumerate(_expanded_terms(candidate)):
        if len(terms) < 2:
            continue       # an equation keeps at least one term
        values = term_values(terms, fields, states)
        rate = np.sqrt(np.mean(values.sum(axis=0) ** 2)) or 1.0
        for j, row in enumerate(values):
            shares[(k, j)] = float(np.sqrt(np.mean(row**2)) / rate)
    return shares


def _without(candidate: Candidate, removal, training: Observations, held_back: Observations) -> Candidate | None:
    terms = _expanded_terms(candidate)
    dropped = set(removal)
    rates = tuple(sympy.Add(*[t for j, t in enumerate(ts) if (k, j) not in dropped]) for k, ts in enumerate(terms))
    if any(r == 0 for r in rates):
        return None
    proposal = Proposal(candidate.proposal.method.split("+")[0] + "+pruned", rates, candidate.proposal.threshold)
    return refine(proposal, training, held_back)
