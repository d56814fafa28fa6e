"""Candidate equations from sparse regression (PySINDy) and from the PROSE network: each distinct
set of terms is one proposal.

    >>> from symsim.discovery.observations import Observations
    >>> t = np.linspace(0.0, 4.0, 81)
    >>> data = Observations("decay", ("u",), (t,), (np.exp(-0.5 * t)[:, None],))
    >>> [str(p.rates[0]) for p in sindy_proposals(data, "sindy")][:1]      # doctest: +SKIP
    ['-0.5*u(t)']

PySINDy (the field's standard library) builds the regression problem: the term library
(polynomials of the states; for PDE snapshots, polynomials times spatial derivatives) and
the left side -- a smoothed time derivative in the strong form (Savitzky-Golay smoothing,
finite differences), or, for ODE series, integrals against compactly supported test functions
in the weak form, which never differentiates noisy data (Messenger & Bortz 2021). PySINDy's
STLSQ then solves it sparsely, each equation on its own, for a ladder of thresholds *relative
to that equation's left side* (columns normalized, so a threshold of 0.01 drops terms that
explain about 1 % of the rate, whatever the units). Every distinct term set becomes a proposal;
which one is right is decided later, by simulating each one (:mod:`.refinement`), not here.

The weak form of PDE snapshots is symsim's own (:mod:`.weak_form`: every term integrated against
bumps on a lattice of the grid, in conservation form), and its term sets come from backward
elimination rather than the STLSQ ladder (:func:`weak_pde_proposals` says why).

The PROSE network (:mod:`symsim.prose`, the checkpoint shipped with the package) reads an ODE
series the way it was trained to: 64 evenly spaced samples of at most five states on its window
[0, 1.98]. Each trajectory's training part is resampled onto that window twice -- its first
1.98 time units as they are, and its whole span with time scaled to fit -- and each reading is
decoded greedily and by beam search; a decoded system becomes a proposal with the time scale
undone (du/dt = (du/dtau) / scale) and every term's coefficient left free for the fit, once
starting from the decoded constants (``prose``) and once from least squares of its terms against
the smoothed time derivative (``prose-lsq``).
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy

from ..errors import OptionError
from ..model import Model
from .observations import DataError, Observations

#: thresholds (share of an equation's left-side norm) of the STLSQ ladder
RELATIVE_THRESHOLDS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
REGRESSION_METHODS = ("sindy", "weak-sindy")
#: weak form: test-function subdomains (PySINDy's K), capped by what the samples allow
WEAK_SUBDOMAINS = 200
#: ridge weight of STLSQ on unit-norm library columns (dimensionless)
RIDGE = 1e-3
#: weak PDE form: term sets proposed per equation from the elimination path, and the least residual jump
#: (residual with one term fewer over the residual) that makes an elbow
ELBOW_PICKS = 3
ELBOW_JUMP = 1.25
#: ... and the weak residual (relative to the rate's) a proposed term set may leave: this share, or this
#: factor times the least one of its equation where that is larger
UNEXPLAINED = 0.1
RESIDUAL_SPREAD = 3.0
#: term sets up to this size are improved by exchanges after the greedy removal
EXCHANGE_LIMIT = 12
#: trajectories of a series the network reads (the first ones), and its beam width
PROSE_TRAJECTORIES = 4
PROSE_BEAM = 4
#: the longest decoded system, in tokens
PROSE_MAX_TOKENS = 200


@dataclass(frozen=True)
class Proposal:
    """One candidate system: ``rates[k]`` is d(field k)/dt in the model's fields and their derivatives."""

    method: str
    rates: tuple[sympy.Expr, ...]
    threshold: float | None = None      # the relative STLSQ threshold that gave it (None: not regression)

    @property
    def terms(self) -> int:
        return sum(len(sympy.Add.make_args(r)) for r in self.rates if r != 0)

    def support(self) -> tuple:
        """The term set, coefficients aside: two proposals with one support are one candidate."""
        return tuple(frozenset(_strip_coefficient(t) for t in sympy.Add.make_args(r)) for r in self.rates)


def sindy_proposals(data: Observations, method: str, degree: int = 2, derivative_order: int = 4,
                    fields: tuple | None = None, functions: tuple = ()) -> list[Proposal]:
    """Proposals of PySINDy's strong (``sindy``) or weak (``weak-sindy``) form, one per distinct support.

    ``fields``: the applied fields the rates are written in (default: those of a model built
    on the data's grid, as :func:`template_model` makes them). ``functions``: more library terms,
    SymPy expressions of the states (see :func:`user_functions`; ODE series only).
    """
    if method not in REGRESSION_METHODS:
        raise OptionError(f"unknown regression method {method!r}; choose one of {', '.join(REGRESSION_METHODS)}")
    fields = fields or tuple(template_model(data).field_functions.values())
    if method == "weak-sindy" and data.kind == "pde":
        return weak_pde_proposals(data, fields, degree, derivative_order)
    ps = _pysindy()
    labels = [f"f{k}" for k in range(len(data.names))]
    recorder = _recording_optimizer(ps)
    with warnings.catch_warnings(), _seeded_global_random_state():
        warnings.simplefilter("ignore")      # PySINDy's convergence chatter; the ladder below decides
        library, differentiation, x, t = _problem(ps, data, method, degree, derivative_order, functions)
        model = ps.SINDy(optimizer=recorder, feature_library=library, differentiation_method=differentiation)
        try:
            model.fit(x, t=t, feature_names=labels)
        except (ValueError, IndexError, np.linalg.LinAlgError) as error:
            raise DataError(f"{data.source}: PySINDy cannot set up the {method} regression on this data "
                            f"({type(error).__name__}: {error}); more samples or a lower derivative order may") from None
        theta, target = np.asarray(recorder.Theta_), np.asarray(recorder.target_).reshape(len(recorder.Theta_), -1)
        extra = {f"@{k}": f.xreplace(dict(zip((sympy.Symbol(n) for n in data.names), fields)))
                 for k, f in enumerate(functions)}
        terms = [extra[name] if name in extra else feature_expression(name, fields, data)
                 for name in model.get_feature_names()]
        if theta.shape[0] < theta.shape[1]:
            raise DataError(f"{data.source}: {theta.shape[0]} equations for {theta.shape[1]} library terms "
                            f"({method}); give more samples or a smaller library (degree, derivative order)")
        proposals, seen = [], set()
        for threshold in RELATIVE_THRESHOLDS:
            columns = []
            for k in range(target.shape[1]):
                scale = np.linalg.norm(target[:, k]) or 1.0
                optimizer = ps.STLSQ(threshold=threshold * scale, alpha=RIDGE, normalize_columns=True)
                optimizer.fit(theta, target[:, k])
                columns.append(np.asarray(optimizer.coef_).ravel())
            rates = tuple(sympy.Add(*[sympy.Float(c, 6) * term for c, term in zip(column, terms) if c != 0.0])
                          for column in columns)
            proposal = Proposal(method, rates, threshold)
            if any(r == 0 for r in rates) or proposal.support() in seen:
                continue
            seen.add(proposal.support())
            proposals.append(proposal)
    return proposals


def weak_pde_proposals(data: Observations, fields: tuple, degree: int, derivative_order: int) -> list[Proposal]:
    """Proposals of the weak form on gridded snapshots (:mod:`.weak_form`): for two libraries -- spatial
    derivatives of the fields alone, and of every monomial up to ``degree`` -- each equation's terms
    are removed one at a time, always the one whose removal raises the weak residual least, and the
    term sets where the residual jumps (an elbow: the next removal loses real dynamics) are proposed.

    Why not the STLSQ ladder here: a reaction-diffusion right side is a near balance of terms each
    far larger than the rate itself (Gray-Scott: ``F*(1 - u)`` and ``u*v**2`` against ``u_t``), and
    monomials of a field that lives near a few values (``u``, ``u**2``, ``u**3`` where u ~ 1) are
    nearly collinear, so thresholds relative to the rate keep dozens of cancelling terms; the
    elimination path compares whole term sets by what they leave unexplained."""
    from .weak_form import weak_problem

    picks = [[] for _ in fields]       # per equation: (weak residual, rate) from every library
    for derivative_degree in sorted({min(1, degree), degree}):
        theta, target, terms = weak_problem(data, fields, degree, derivative_order, derivative_degree)
        if theta.shape[0] < 2 * theta.shape[1]:
            raise DataError(f"{data.source}: the weak form has {theta.shape[0]} test functions for "
                            f"{theta.shape[1]} library terms; give more snapshots or grid points, or a smaller "
                            f"library (degree, derivative order)")
        for k in range(target.shape[1]):
            scale = float(np.linalg.norm(target[:, k])) or 1.0
            for residual, support in elbow_supports(theta, target[:, k]):
                picks[k].append((residual / scale, sympy.Add(*[sympy.Float(c, 6) * terms[j] for j, c in support])))
    # a term set that leaves much of the rate unexplained, where another one does not, is not a candidate
    # (the library of linear derivatives cannot write u*u_x, and its best elbow there is noise)
    for k, found in enumerate(picks):
        bound = max(RESIDUAL_SPREAD * min(residual for residual, _ in found), UNEXPLAINED)
        picks[k] = [rate for residual, rate in sorted(found, key=lambda pick: pick[0]) if residual <= bound]
    proposals, seen = [], set()
    for rank in range(max(len(p) for p in picks)):
        proposal = Proposal("weak-sindy", tuple(p[min(rank, len(p) - 1)] for p in picks))
        if any(r == 0 for r in proposal.rates) or proposal.support() in seen:
            continue
        seen.add(proposal.support())
        proposals.append(proposal)
    return proposals


def elbow_supports(theta: np.ndarray, target: np.ndarray, picks: int = ELBOW_PICKS) -> list[tuple[float, list]]:
    """Term sets of ``target ~ theta @ w`` at the elbows of backward elimination, most pronounced first:
    each ``(residual, [(column, coefficient), ...])``.

        >>> rng = np.random.default_rng(0)
        >>> theta = rng.standard_normal((200, 6))
        >>> residual, best = elbow_supports(theta, theta[:, [1, 4]] @ [2.0, -0.5] + 1e-3 * rng.standard_normal(200))[0]
        >>> [(j, round(c, 3)) for j, c in best]
        [(1, 2.0), (4, -0.5)]

    Greedy removal can go wrong where columns are nearly collinear (it may drop a true term that three
    others imitate for a while), so the sets of at most EXCHANGE_LIMIT terms are then revised from the
    largest down: each is the better of the greedy set and the best removal from the revised set one
    term larger, improved by exchanges -- one term out, one in -- while an exchange lowers the residual.

    The columns are scaled to unit norm and reduced once by QR (``theta = Q R``), so a term set's
    residual is ``||R_S w - Q^T b||`` plus the fixed part of ``b`` outside the columns' span -- every
    trial removal is a least-squares problem of the library's size, not the data's. An elbow at k
    terms: the residual with k - 1 is at least ELBOW_JUMP times the residual with k.
    """
    norms = np.linalg.norm(theta, axis=0)
    norms[norms == 0] = 1.0
    q, r = np.linalg.qr(theta / norms)
    projected = q.T @ target
    outside = max(float(target @ target - projected @ projected), 0.0)

    def fit(active):
        w = np.linalg.lstsq(r[:, active], projected, rcond=None)[0]
        return math.sqrt(float(np.sum((r[:, active] @ w - projected) ** 2)) + outside), w

    active = list(range(theta.shape[1]))
    sets = []
    while active:
        sets.append(list(active))
        if len(active) == 1:
            break
        trials = [fit(active[:k] + active[k + 1:])[0] for k in range(len(active))]
        active.pop(int(np.argmin(trials)))
    # from the largest exchanged size down: each set is the better of the greedy one and the best removal
    # from the (improved) set one larger, then exchanged
    larger = None
    for k, chosen in enumerate(sets):
        if len(chosen) > EXCHANGE_LIMIT:
            continue
        if larger is not None:
            removal = min((larger[:i] + larger[i + 1:] for i in range(len(larger))), key=lambda c: fit(c)[0])
            chosen = min(chosen, removal, key=lambda c: fit(c)[0])
        sets[k] = larger = _exchanged(sorted(chosen), theta.shape[1], lambda c: fit(c)[0])
    path = [(float(np.linalg.norm(target)), [])]          # path[k]: k terms
    for chosen in reversed(sets):
        residual, w = fit(chosen)
        path.append((residual, [(j, float(c / norms[j])) for j, c in zip(chosen, w)]))
    floor = 1e-300 + 1e-14 * float(np.linalg.norm(target))
    jumps = [(path[k - 1][0] / max(path[k][0], floor), k) for k in range(1, len(path))]
    elbows = [k for jump, k in sorted(jumps, reverse=True) if jump >= ELBOW_JUMP][:picks] or [len(path) - 1]
    return [path[k] for k in elbows]


def _exchanged(chosen: list, columns: int, residual) -> list:
    """``chosen`` after the best single exchanges (one term out, one in) while they lower ``residual``."""
    best = residual(chosen)
    for _ in range(4 * len(chosen)):
        outside = [j for j in range(columns) if j not in chosen]
        trials = [(residual(chosen[:i] + [j] + chosen[i + 1:]), i, j) for i in range(len(chosen)) for j in outside]
        if not trials:
            break
        value, i, j = min(trials)
        if not value < best * (1 - 1e-9):
            break
        best, chosen = value, sorted(chosen[:i] + [j] + chosen[i + 1:])
    return chosen


def prose_proposals(data: Observations, checkpoint=None, fields: tuple | None = None) -> tuple[list[Proposal], str]:
    """Proposals the PROSE network decodes from each trajectory (see the module notes), and one line
    saying how the series was resampled for it. ``checkpoint``: a checkpoint or exported weights
    (default: the shipped ones)."""
    if data.kind != "ode":
        raise DataError(f"{data.source}: PROSE reads ODE series (states over time), not PDE snapshots; "
                        f"use --method sindy or weak-sindy")
    from ..prose.data import MAX_DIMENSION, DataSpec, window_batch

    if len(data.names) > MAX_DIMENSION:
        raise DataError(f"{data.source}: PROSE reads at most {MAX_DIMENSION} states, the data have "
                        f"{len(data.names)}")
    torch = _torch()
    from ..prose.evaluation import is_valid_decode
    from ..prose.grammar import SymbolGrammar
    from ..prose.tokens import VOCAB, decode_system

    network = _pretrained_network(str(checkpoint) if checkpoint is not None else None)
    fields = fields or tuple(template_model(data).field_functions.values())
    spec = DataSpec()
    window = spec.times[:spec.input_points]
    readings = []
    for times, values in list(zip(data.times, data.values))[:PROSE_TRAJECTORIES]:
        span = times[-1] - times[0]
        for scale in sorted({1.0, span / window[-1]}, reverse=True):
            if scale * window[-1] <= span * (1 + 1e-9):
                at = times[0] + scale * window
                readings.append((scale, np.stack([np.interp(at, times, v) for v in values.T], axis=1)))
    if not readings:
        raise DataError(f"{data.source}: no trajectory spans a time interval for PROSE to read")
    d = len(data.names)
    batch = window_batch(np.stack([r[1] for r in readings]), spec)
    grammar = SymbolGrammar(VOCAB)
    with torch.no_grad():
        streams = [network.greedy_decode(batch, PROSE_MAX_TOKENS, grammar=grammar),
                   network.beam_decode(batch, PROSE_BEAM, PROSE_MAX_TOKENS, grammar=grammar)]
    variables = {sympy.Symbol(f"u_{k}"): field for k, field in enumerate(fields)}
    proposals, seen = [], set()
    for decoded_streams in streams:
        for (scale, _), tokens in zip(readings, decoded_streams):
            decoded = decode_system(tokens)
            if not is_valid_decode(decoded, d):
                continue
            rates = tuple(_free_coefficients(e.xreplace(variables), 1.0 / scale) for e in decoded.exprs)
            proposal = Proposal("prose", rates)
            if any(r == 0 for r in rates) or proposal.support() in seen:
                continue
            seen.add(proposal.support())
            # the decoded constants are sometimes far off (8.1 for 1) and sometimes better than a regression
            # on noisy derivatives: both starts are fitted, the held-back data decide
            proposals += [proposal, Proposal("prose-lsq", _regressed_coefficients(rates, data, fields))]
    scales = sorted({f"{r[0]:.3g}" for r in readings})
    note = (f"PROSE read {len(readings)} resampled window(s) of {len(window)} points (linear interpolation; "
            f"time scaled by {', '.join(scales)} onto its window [0, {window[-1]:.3g}])")
    return proposals, note


def _regressed_coefficients(rates: tuple, data: Observations, fields: tuple) -> tuple:
    """``rates`` with each term's coefficient from least squares against the smoothed time derivative of
    every trajectory (the network's terms, the data's coefficients: a decoded constant can be far off --
    8.1 for 1 -- and the simulation fit then starts near the answer). Kept as decoded where that fails."""
    ps = _pysindy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        derivative = np.concatenate([ps.SmoothedFiniteDifference()(v, t) for t, v in zip(data.times, data.values)])
    states = np.concatenate(data.values)
    regressed = []
    for k, rate in enumerate(rates):
        terms = [t.as_coeff_Mul()[1] for t in sympy.Add.make_args(rate)]
        library = term_values(terms, fields, states).T
        if not (np.isfinite(library).all() and np.isfinite(derivative[:, k]).all()):
            regressed.append(rate)
            continue
        coefficients = np.linalg.lstsq(library, derivative[:, k], rcond=None)[0]
        regressed.append(sympy.Add(*[sympy.Float(c, 6) * t for c, t in zip(coefficients, terms)]))
    return tuple(regressed)


def term_values(terms, fields, states: np.ndarray) -> np.ndarray:
    """(len(terms), samples): each term, an expression in the applied ``fields``, at every row of ``states``
    (samples, fields); a constant term broadcast to every sample."""
    from ..vectorize import numpy_function

    symbols = tuple(sympy.Symbol(f"_s{k}") for k in range(len(fields)))
    on_symbols = dict(zip(fields, symbols))
    values = numpy_function(symbols, [t.xreplace(on_symbols) for t in terms])(*states.T)
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), states.shape[:1]) for v in values])


def _free_coefficients(rate: sympy.Expr, factor: float) -> sympy.Expr:
    """``rate`` expanded, each term's coefficient times ``factor`` as a Float (a constant to fit)."""
    terms = []
    for term in sympy.Add.make_args(sympy.expand(rate)):
        coefficient, rest = term.as_coeff_Mul()
        terms.append(sympy.Float(float(coefficient) * factor, 6) * rest)
    return sympy.Add(*terms)


def _torch():
    try:
        import torch
    except ImportError:
        raise OptionError("PROSE proposals need PyTorch: pip install \"symsim[torch]\"") from None
    return torch


@functools.lru_cache(maxsize=2)
def _pretrained_network(checkpoint: str | None):
    from ..prose.training import PRETRAINED, load_trained_model

    path = Path(checkpoint) if checkpoint is not None else PRETRAINED
    if not path.is_file():
        raise OptionError(f"no PROSE checkpoint at {path}")
    return load_trained_model(path)


@contextmanager
def _seeded_global_random_state(seed: int = 0):
    """PySINDy's weak form places its test subdomains with NumPy's global generator: seed it for
    reproducible proposals, and give the caller's state back afterwards."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def template_model(data: Observations, name: str = "discovered") -> Model:
    """A symsim model with the data's fields on the data's grid (no equations yet)."""
    model = Model(name, data.grid() if data.kind == "pde" else None)
    model.fields(" ".join(data.names))
    return model


def user_functions(texts, data: Observations) -> tuple[sympy.Expr, ...]:
    """Library terms a user names, as text in the data's state names (``"sin(theta)"``, ``"x*exp(-y)"``):
    parsed by symsim's whitelisting parser (never ``eval``), every name checked against the states."""
    from ..expression_parser import parse_expression

    if texts and data.kind != "ode":
        raise OptionError("user library functions are for ODE series; PDE libraries are polynomials times "
                          "spatial derivatives")
    states = {sympy.Symbol(n) for n in data.names}
    parsed = []
    for text in texts:
        expression = parse_expression(str(text))
        unknown = sorted(str(s) for s in expression.free_symbols - states)
        if unknown:
            raise OptionError(f"library function {text!r} uses {', '.join(unknown)}, which are not states of "
                              f"{data.source} ({', '.join(data.names)})")
        if not expression.free_symbols:
            raise OptionError(f"library function {text!r} is a constant; the library has one already")
        parsed.append(expression)
    return tuple(parsed)


def _custom_library(ps, functions: tuple, names: tuple):
    """PySINDy's CustomLibrary of ``functions``, each evaluated on all states at once, named ``@k``."""
    from ..vectorize import numpy_function

    # PySINDy reads each function's arity from its signature: lambdify's functions take one argument per state
    symbols = tuple(sympy.Symbol(n) for n in names)
    calls = [numpy_function(symbols, f) for f in functions]
    labels = [lambda *columns, k=k: f"@{k}" for k in range(len(functions))]
    return ps.CustomLibrary(library_functions=calls, function_names=labels)


def _problem(ps, data: Observations, method: str, degree: int, derivative_order: int, extra: tuple = ()):
    """PySINDy's library, time differentiation, data and times for ``data`` (``extra``: user functions): ODE
    series in either form, PDE snapshots in the strong form (their weak form is :mod:`.weak_form`)."""
    # the constant term: in the library itself for the ODE strong form, else added by the (weak) PDE library
    functions = ps.PolynomialLibrary(degree=degree, include_bias=method == "sindy" and data.kind == "ode")
    if data.kind == "ode":
        if extra:
            functions = ps.ConcatLibrary([functions, _custom_library(ps, extra, data.names)])
        if method == "sindy":
            return functions, ps.SmoothedFiniteDifference(), list(data.values), list(data.times)
        times = data.times[0]
        if any(len(t) != len(times) or not np.allclose(t, times) for t in data.times):
            raise DataError(f"{data.source}: the weak form needs every trajectory sampled at the same times")
        library = ps.WeakPDELibrary(function_library=functions, spatiotemporal_grid=times, include_bias=True,
                                    K=min(WEAK_SUBDOMAINS, 4 * len(times)))
        return library, None, list(data.values), times
    times = data.times[0]
    coords = list(data.coords.values())
    # PySINDy's layout: (*grid, time, fields)
    x = np.moveaxis(data.values[0], 0, -2)
    periodic = bool(data.periodic) and len(data.periodic) == len(coords)
    spatial = coords[0] if len(coords) == 1 else np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1)
    library = ps.PDELibrary(function_library=functions, derivative_order=derivative_order, spatial_grid=spatial,
                            include_bias=True, differentiation_method=ps.SmoothedFiniteDifference,
                            diff_kwargs={"is_uniform": True, "periodic": periodic})
    return library, ps.SmoothedFiniteDifference(axis=-2), x, times


_FACTOR = re.compile(r"f(\d+)(?:_(\d+))?(?:\^(\d+))?")


def feature_expression(name: str, fields: tuple, data: Observations) -> sympy.Expr:
    """PySINDy's name of a library term as SymPy, in ``fields``: ``"f0^2f1_11"`` -> u**2 * v_xx.

    PySINDy names states as given (f0, f1, ...), powers with ``^``, products of states with a
    space and a function term times a derivative term by juxtaposition; ``_11`` is the second
    derivative along the first axis, ``_12`` the mixed one of the first two.
    """
    if name == "1":
        return sympy.Integer(1)
    axes = [sympy.Symbol(a) for a in data.coords]
    product = sympy.Integer(1)
    for token in name.split():
        position = 0
        while position < len(token):
            match = _FACTOR.match(token, position)
            if match is None:
                raise AssertionError(f"unexpected PySINDy feature name {name!r}")
            field = fields[int(match.group(1))]
            if match.group(2):
                field = field.diff(*[axes[int(d) - 1] for d in match.group(2)])
            product *= field ** int(match.group(3) or 1)
            position = match.end()
    return product


def _strip_coefficient(term: sympy.Expr) -> sympy.Expr:
    coefficient, rest = term.as_coeff_Mul()
    return rest


def _recording_optimizer(ps):
    """PySINDy's STLSQ that keeps the left side it was given (PySINDy keeps only the library, ``Theta_``)."""

    class Recording(ps.STLSQ):
        def fit(self, x_, y, *args, **kwargs):
            self.target_ = np.asarray(y)
            return super().fit(x_, y, *args, **kwargs)

    return Recording(threshold=0.0)


def _pysindy():
    try:
        import pysindy
    except ImportError:
        raise OptionError("sparse regression needs PySINDy: pip install 'symsim[discover]'") from None
    return pysindy
