"""The schedules of the two e-graphs and their limits, stated in one place.

Polynomial e-graph (:mod:`symsim.rewrite_rules.polynomial_egraph`). One iteration is two single steps, then costs once at the end::

    repeat until saturated or a limit is reached:
        run factor_candidates once      # list the factors of the newest sums
        run factor_out_shared once      # factor each listed factor out of its sum
    run operation_costs to saturation   # last: set_cost only costs nodes that exist

Limits are checked between steps, because egglog checks nothing inside one.
Before a step runs, its worst-case growth is compared with ``node_limit`` and the
run stops if the step could cross it, so the e-graph never overshoots (the bound
is loose: dense polynomials stop well below the limit, unsaturated):

- ``factor_out_shared`` adds at most 2 sums per new candidate (the factored
  sum and the quotient);
- ``factor_candidates`` adds at most ``factors_per_sum`` candidates per new sum
  (half its factor occurrences: a shared factor occurs in two monomials or more,
  and factoring replaces k >= 2 monomials by the two factors of ``f*(...)``, so
  no derived sum has more occurrences than the input it came from).

Term e-graph (:mod:`symsim.rewrite_rules.term_egraph`)::

    repeat until saturated or a limit is reached:
        run memberships once            # list the elements of the newest sums and products
        run the rewrites once           # identities | powers | reciprocals | transcendental
    run operation_costs to saturation

Its growth per step has no useful closed-form bound (pairwise rules such as
a/b + c/b meet k**2 pairs of a k-term sum), so the rules that could multiply
variants carry their own size guards (see ``reciprocals``) and the run stops
as soon as the graph is past ``node_limit`` or ``time_limit`` between steps.
Its limits are smaller than the polynomial e-graph's: it runs once per call
argument, power base and denominator, on small terms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from egglog import EGraph

from .factoring import Candidate, factor_candidates, factor_out_shared, operation_costs
from .polynomial_encoding import Poly


@dataclass(frozen=True)
class Limits:
    max_iterations: int = 30     # stencils saturate in 1-2 (components are factored independently)
    node_limit: int = 20_000     # rows in all tables (sums, candidates, leaves)
    time_limit: float = 1.0      # seconds, checked between steps


DEFAULT_LIMITS = Limits()
DEFAULT_TERM_LIMITS = Limits(max_iterations=12, node_limit=4_000, time_limit=0.5)


@dataclass
class EGraphResult:
    """What an e-graph run returns: a few forms of each input, cheapest first, and what the run cost.

    ``enodes`` counts rows in all egglog tables; ``iterations`` the rule steps run;
    ``rejected`` the extracted forms that did not equal their input (an egglog 13.2 MultiSet
    defect, see :mod:`.polynomial_egraph`) and were dropped.
    """

    variants: list
    enodes: int
    iterations: int
    seconds: float
    saturated: bool
    rejected: int = 0


@dataclass(frozen=True)
class RunStats:
    enodes: int
    iterations: int
    saturated: bool


def run_schedule(egraph: EGraph, limits: Limits, started: float, factors_per_sum: int) -> RunStats:
    """Run the factoring schedule on ``egraph`` (sums already registered) within ``limits``.

    ``started`` is the ``time.perf_counter()`` the time limit counts from.
    """
    iterations, saturated = 0, False
    sums, candidates = egraph.function_size(Poly), 0
    new_sums = sums
    while iterations < limits.max_iterations:
        if time.perf_counter() - started > limits.time_limit:
            break
        if _size(egraph) + new_sums * factors_per_sum > limits.node_limit:
            break
        egraph.run(1, ruleset=factor_candidates)
        new_candidates = egraph.function_size(Candidate) - candidates
        candidates += new_candidates
        if new_candidates == 0:
            saturated = True
            break
        if time.perf_counter() - started > limits.time_limit:
            break
        if _size(egraph) + 2 * new_candidates > limits.node_limit:
            break
        egraph.run(1, ruleset=factor_out_shared)
        iterations += 1
        new_sums = max(egraph.function_size(Poly) - sums, 0)
        sums += new_sums
    egraph.run(operation_costs.saturate())
    return RunStats(_size(egraph), iterations, saturated)


def _size(egraph: EGraph) -> int:
    return sum(size for _, size in egraph.all_function_sizes())


def run_term_schedule(egraph: EGraph, limits: Limits, started: float, memberships, rewrites,
                      costs) -> RunStats:
    """Run the term e-graph's rulesets on ``egraph`` (terms already registered) within ``limits``."""
    iterations, saturated = 0, False
    while iterations < limits.max_iterations:
        # the first iteration always runs (its size is bounded by the input's), so a loaded
        # machine cannot turn the pass into a no-op: small inputs come out the same every time
        if iterations and (time.perf_counter() - started > limits.time_limit or _size(egraph) > limits.node_limit):
            break
        egraph.run(1, ruleset=memberships)
        if not egraph.run(1, ruleset=rewrites).updated:
            saturated = True
            break
        iterations += 1
    egraph.run(costs.saturate())
    return RunStats(_size(egraph), iterations, saturated)
