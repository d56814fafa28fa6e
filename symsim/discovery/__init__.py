"""Equation discovery: a user's observations in, a ranked table of fitted equations and a model script out.

    found = discover("lorenz.csv", holdout=0.25)       # or symsim.discover(...)
    print(found.table())                                 # every candidate, best first
    found.best.equations(found.data.names)              # ['dx/dt = -10.03*x + 10.06*y', ...]
    found.write("lorenz_model")                          # model.py, candidates.json/.md, discover.png

The loop, one module per step:

1. :mod:`.observations` reads and checks the file (npz or CSV; ODE series or PDE snapshots);
2. :mod:`.proposals`: sparse regression -- strong form (smoothed derivatives) and weak form
   (test-function integrals; for PDE snapshots :mod:`.weak_form`) -- proposes term sets; for
   ODE series the pretrained PROSE network decodes more. PDE snapshots try the weak form
   first and the strong form only if no weak candidate fits the data to the noise;
3. :mod:`.refinement`: each proposal simplified by the e-graph pass, compiled, its constants
   (and an ODE's starting states) fitted to the training part by simulating it, then run on
   over the held-back part; the best ODE candidates are then pruned term by term while the
   trajectories allow;
4. ranking by the held-back forecast error; the best is the sparsest candidate within
   :data:`PARSIMONY` of the lowest error (an extra term must earn its place); an ODE best is then
   fitted once more to every sample, the held-back ones too;
5. :mod:`.script` writes the best as a model script that ``symsim run`` reproduces.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError
from .observations import DataError, Observations, read_observations
from .proposals import REGRESSION_METHODS, prose_proposals, sindy_proposals, user_functions
from .refinement import (INDISTINGUISHABLE, Candidate, inferred_walls, noise_floor, prune, refine,
                         refit_on_everything)

__all__ = ["discover", "Discovery", "DataError", "read_observations", "DISCOVERY_METHODS"]

#: what ``method`` may be: one regression form, the PROSE network, or every one
DISCOVERY_METHODS = (*REGRESSION_METHODS, "prose", "all")
#: the best candidate: the fewest terms among those whose forecast error is within this factor of the lowest
PARSIMONY = 1.10
#: a PDE candidate whose training misfit is within this factor of the noise floor fits the data (no denser
#: candidate is fitted after it)
NOISE_MARGIN = 1.5
#: ODE candidates (best by forecast error) that are pruned term by term, if their held-back forecast error is
#: below PRUNE_FORECAST_LIMIT (pruning refines a candidate that forecasts; it does not rescue one that does not)
PRUNED_CANDIDATES = 2
PRUNE_FORECAST_LIMIT = 0.5
#: candidates drawn in the picture
PLOTTED = 3


@dataclass
class Discovery:
    """The outcome of :func:`discover`: ``candidates`` best first, ``best`` the one written as the model."""

    data: Observations
    holdout: float
    candidates: list[Candidate]
    skipped: dict = field(default_factory=dict)       # method -> why it proposed nothing
    seconds: float = 0.0
    notes: list = field(default_factory=list)         # how the data were read (e.g. PROSE's resampling)
    chosen: Candidate | None = None                   # the best one after its refit on all the data

    @property
    def best(self) -> Candidate:
        """``chosen`` when set, else the sparsest candidate whose forecast is as good as the best one's
        (within PARSIMONY)."""
        if self.chosen is not None:
            return self.chosen
        usable = [c for c in self.candidates if math.isfinite(c.forecast_error)]
        if not usable:
            raise DataError(f"{self.data.source}: no candidate could be simulated over the held-back data "
                            f"({self._failures()})")
        lowest = min(c.forecast_error for c in usable)
        return min((c for c in usable if c.forecast_error <= PARSIMONY * lowest + INDISTINGUISHABLE),
                   key=lambda c: (c.terms, c.forecast_error))

    def _failures(self) -> str:
        reasons = [c.failure for c in self.candidates if c.failure] + list(self.skipped.values())
        return "; ".join(dict.fromkeys(reasons)) or "every candidate blew up"

    @property
    def model_script(self) -> str:
        from .script import model_script

        return model_script(self.best, self.data)

    def rows(self) -> list[dict]:
        """One plain dict per candidate, best first (what ``candidates.json`` holds)."""
        best = self.best if any(math.isfinite(c.forecast_error) for c in self.candidates) else None
        return [{"rank": k + 1, "best": c is best, "method": c.proposal.method,
                 "threshold": c.proposal.threshold, "terms": c.terms,
                 "equations": c.equations(self.data.names),
                 "parameters": c.parameters,
                 "training_misfit": _finite_or_none(c.training_misfit),
                 "forecast_error": _finite_or_none(c.forecast_error),
                 "replay_error": _finite_or_none(c.replay_error),
                 "integrator": c.method, "failure": c.failure}
                for k, c in enumerate(self.candidates)]

    def table(self) -> str:
        """The candidates as a Markdown table (it reads as plain text in a terminal too)."""
        lines = [f"{self.data.describe()}; {self.holdout:.0%} held back",
                 "", "| rank | method | terms | training | forecast | replay | equations |",
                 "|---:|---|---:|---:|---:|---:|---|"]
        for row in self.rows():
            mark = "**" if row["best"] else ""
            numbers = [_cell(row[k]) for k in ("training_misfit", "forecast_error", "replay_error")]
            equations = "; ".join(row["equations"]) if not row["failure"] else row["failure"]
            lines.append(f"| {mark}{row['rank']}{mark} | {row['method']} | {row['terms']} | "
                         + " | ".join(numbers) + f" | {equations} |")
        for method, reason in self.skipped.items():
            lines.append(f"\n{method}: no candidates ({reason})")
        lines.extend(f"\n{note}" for note in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"source": self.data.source, "kind": self.data.kind, "holdout": self.holdout,
                "fields": list(self.data.names), "seconds": self.seconds, "skipped": self.skipped,
                "notes": self.notes,
                "candidates": self.rows()}

    def plot(self, path=None):
        """Data against the best candidates' runs (a Figure; written to ``path`` when given)."""
        from .picture import discovery_figure

        figure = discovery_figure(self, PLOTTED)
        if path is not None:
            from ..plotting import save_figure

            save_figure(figure, path)
        return figure

    def write(self, directory) -> Path:
        """``model.py`` (+ ``initial_state.npz`` for PDE data), ``candidates.json``, ``candidates.md`` and
        ``discover.png`` into ``directory``, all or nothing."""
        from ..io import atomic_directory
        from ..plotting import save_figure
        from ..result import _write_npz
        from .script import INITIAL_STATE_FILE, initial_state_arrays

        script = self.model_script
        figure = self.plot()
        with atomic_directory(directory) as folder:
            (folder / "model.py").write_text(script, encoding="utf-8")
            if self.data.kind == "pde":
                with open(folder / INITIAL_STATE_FILE, "wb") as handle:
                    _write_npz(handle, initial_state_arrays(self.data))
            (folder / "candidates.json").write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
            (folder / "candidates.md").write_text(self.table() + "\n", encoding="utf-8")
            save_figure(figure, folder / "discover.png")
        return Path(directory)


def discover(data, method: str = "all", holdout: float = 0.25, periodic=None, degree: int = 2,
             derivative_order: int = 4, progress: bool = False, checkpoint=None, functions=(), axes=None) -> Discovery:
    """Candidate equations for ``data`` (a path to an npz/CSV file, or :class:`Observations`), fitted and ranked.

    ``method``: ``sindy`` (strong form), ``weak-sindy``, ``prose`` (the pretrained network; ODE
    series, PyTorch needed) or ``all`` (each that applies). ``checkpoint``: PROSE weights other
    than the shipped ones. ``functions``: more terms for the sparse-regression library, as text in the
    states' names (``["sin(theta)", "x*exp(-y)"]``; ODE series). ``holdout``: the share
    of each series kept back to score forecasts (0 < holdout < 1). ``periodic``: axis
    names of PDE snapshots whose ends wrap (default: none; walls then take the data's
    fixed wall values). ``degree``: of the polynomial library; ``derivative_order``: the
    highest spatial derivative of a PDE library. ``axes``: the grid axes of PDE snapshots in a CSV
    file (its coordinate columns, one row per time and point; periodic axes count as named).
    """
    started = time.perf_counter()
    if method not in DISCOVERY_METHODS:
        raise OptionError(f"unknown discovery method {method!r}; choose one of {', '.join(DISCOVERY_METHODS)}")
    if not 0.0 < holdout < 1.0:
        raise OptionError(f"holdout must be a fraction between 0 and 1, got {holdout}")
    if not (isinstance(degree, int) and 1 <= degree <= 5):
        raise OptionError(f"degree must be an integer from 1 to 5, got {degree!r}")
    if not (isinstance(derivative_order, int) and 1 <= derivative_order <= 4):
        raise OptionError(f"derivative_order must be an integer from 1 to 4, got {derivative_order!r}")
    if isinstance(data, Observations):
        observations = data
    else:
        observations = read_observations(data, periodic=periodic, holdout=holdout, axes=axes)
    training, held_back = observations.split(holdout)
    extra = user_functions(tuple(functions or ()), observations)
    methods = REGRESSION_METHODS if method == "all" else (method,)
    proposals, skipped, notes = [], {}, []
    if observations.kind == "pde":
        inferred_walls(observations)     # a wall symsim cannot model is refused before any fitting
    # a PDE library up to second derivatives besides the full one for the strong form: on coarse grids
    # its smoothed fourth derivatives blur u_xx with u_xxxx, and the small library keeps them apart
    orders = sorted({min(2, derivative_order), derivative_order}) if observations.kind == "pde" else [1]
    seen = set()
    if method == "prose" or (method == "all" and observations.kind == "ode"):
        try:
            found, note = prose_proposals(training, checkpoint)
        except (DataError, OptionError) as error:
            if method == "prose":
                raise
            skipped["prose"] = str(error).removeprefix(f"{observations.source}: ")
        else:
            notes.append(note)
            if not found:
                skipped["prose"] = "no decoded system was valid for these states"
            for proposal in found:
                seen.add(proposal.support())
                proposals.append(proposal)
        methods = () if method == "prose" else methods
    if observations.kind == "pde" and method == "all":
        # the weak form first: when one of its candidates fits to the noise, the strong form's derivative
        # estimates (the slow part on 2-D grids) are not needed
        methods = ("weak-sindy", "sindy")
    bar = _progress(len(proposals), progress)
    candidates = []
    floor = max(NOISE_MARGIN * noise_floor(training), INDISTINGUISHABLE)

    def fitted_to_the_noise():
        """The latest PDE candidate whose training misfit is at the noise floor (each one fitted after such a
        candidate is no denser than it), or None."""
        return next((c for c in reversed(candidates) if observations.kind == "pde" and c.failure is None
                     and c.training_misfit <= floor), None)

    def fit(batch):
        # sparsest first: once a PDE candidate fits to the noise, denser ones (each fit is a few hundred
        # simulations) could only tie it, and the tie goes to the sparser one
        for proposal in sorted(batch, key=lambda p: p.terms):
            enough = fitted_to_the_noise()
            if enough is not None and proposal.terms > enough.terms:
                candidates.append(Candidate(proposal, proposal.rates, {}, (), failure=(
                    f"not fitted: the {enough.terms}-term candidate already fits the training data to the noise "
                    f"({enough.training_misfit:.2g})")))
            else:
                candidates.append(refine(proposal, training, held_back))
            bar.update(1)

    fit(proposals)                   # the PROSE network's
    for name in methods:
        enough = fitted_to_the_noise()
        if enough is not None:
            skipped[name] = (f"not needed: the {enough.terms}-term {enough.proposal.method} candidate fits the "
                             f"training data to the noise")
            continue
        found_here = []
        # the weak PDE form compares whole term sets by their residual, a smaller library adds nothing
        libraries = orders[-1:] if name == "weak-sindy" else orders
        for order in libraries:
            try:
                found = sindy_proposals(training, name, degree, order, functions=extra)
            except DataError as error:
                if len(methods) == 1 and order == orders[-1] and not candidates and not found_here:
                    raise
                skipped[f"{name} (order {order})" if len(libraries) > 1 else name] = \
                    str(error).removeprefix(f"{observations.source}: ")
                continue
            for proposal in found:
                if proposal.support() not in seen:      # one support is one candidate, whichever method found it
                    seen.add(proposal.support())
                    found_here.append(proposal)
        bar.total += len(found_here)
        bar.refresh()
        fit(found_here)
    if not candidates:
        raise DataError(f"{observations.source}: no method proposed equations "
                        f"({'; '.join(skipped.values()) or 'every threshold left an equation empty'})")
    if observations.kind == "ode":
        ranked = sorted(candidates, key=_rank)
        bar.total += PRUNED_CANDIDATES
        for candidate in ranked[:PRUNED_CANDIDATES]:
            if not candidate.forecast_error < PRUNE_FORECAST_LIMIT:
                bar.update(1)
                continue
            pruned = prune(candidate, training, held_back)
            if pruned is not candidate and pruned.proposal.support() not in {c.proposal.support() for c in candidates}:
                candidates.append(pruned)
            bar.update(1)
    bar.close()
    found = Discovery(observations, holdout, sorted(candidates, key=_rank), skipped, 0.0, notes)
    if observations.kind == "ode" and any(math.isfinite(c.forecast_error) for c in found.candidates):
        chosen = found.best
        final = refit_on_everything(chosen, observations)
        found.candidates[found.candidates.index(chosen)] = final
        found.chosen = final
    found.seconds = time.perf_counter() - started
    return found


def _rank(candidate: Candidate) -> tuple:
    return (candidate.forecast_error, candidate.terms)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="fitting candidates", unit="candidate", disable=not enabled, leave=False)
