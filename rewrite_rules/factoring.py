"""Factoring rules over the ``Poly`` encoding of :mod:`symsim.rewrite_rules.polynomial_encoding`.

Running example::

    c0*a1 + c0*a2 + c1*a0   ->   c0*(a1 + a2) + c1*a0          (factor out c0)
    u*v*v + u*w             ->   u*(v*v + w)                   (factor out u)

| ruleset                | rule                                                   | direction | reason |
|------------------------|--------------------------------------------------------|-----------|--------|
| ``factor_candidates``  | ``Poly(m)`` -> ``Candidate(m, f)`` per factor f in >= 2 monomials | adds facts | egglog cannot loop over a multiset in a query; this lists the shared factors |
| ``factor_out_shared``  | ``sum_{f in t} t + rest`` = ``f * sum_{f in t} (t / f) + rest`` | union (both kept) | f in k >= 2 monomials: k-1 fewer multiplies; the unfactored form stays for sharing |
| ``operation_costs``    | ``cost(Poly(m)) = adds + multiplies of m's own level``   | cost only | extraction by operations; a -1 factor is free (subtraction) |

The factor -1 is never factored out (it is free either way). Factoring never
raises the operation count (k monomials containing f lose one multiply each and
gain one ``f * (...)``), so one rule suffices; what to keep is extraction's job.
"""

from __future__ import annotations

from functools import partial

from egglog import Expr, MultiSet, function, i64, rule, ruleset, set_cost, union
from egglog.builtins import multiset_contains_swapped, multiset_not_contains_swapped, multiset_remove_swapped

from .polynomial_encoding import Ex, NegOne, Poly


class Candidates(Expr):
    """Bookkeeping, not algebra: which factors occur in a ``Poly``'s monomials."""


@function
def Candidate(monomials: MultiSet[MultiSet[Ex]], factor: Ex) -> Candidates: ...


@ruleset
def factor_candidates(monomials: MultiSet[MultiSet[Ex]], occurrences: MultiSet[Ex]):
    # occurrences: each factor once per monomial that has it; taking one copy of
    # each away leaves exactly the factors shared by >= 2 monomials
    yield rule(
        Poly(monomials),
        occurrences == MultiSet.sum_multisets(monomials.map(MultiSet.reset_counts)),
    ).then(
        (occurrences - occurrences.reset_counts()).reset_counts().map(partial(Candidate, monomials)),
    )


@ruleset
def factor_out_shared(monomials: MultiSet[MultiSet[Ex]], factor: Ex, having: MultiSet[MultiSet[Ex]]):
    # f*t1 + f*t2 + ... + rest  ==  f*(t1 + t2 + ...) + rest
    yield rule(
        Candidate(monomials, factor),
        factor != NegOne(),
        having == monomials.filter(partial(multiset_contains_swapped, factor)),
        having.length() >= i64(2),
    ).then(
        union(Poly(monomials)).with_(
            Poly(
                monomials.filter(partial(multiset_not_contains_swapped, factor)).insert(
                    MultiSet(factor, Poly(having.map(partial(multiset_remove_swapped, factor))))
                )
            )
        ),
    )


@ruleset
def operation_costs(monomials: MultiSet[MultiSet[Ex]], factors: MultiSet[Ex]):
    # adds:  monomials - 1
    # muls:  sum over monomials of (factors - 1), where a -1 factor is free and an
    #        empty monomial (the constant 1) or a lone -1 costs 0, not -1
    # total: factors - (-1 factors) + (empty or lone -1 monomials) - 1
    yield rule(Poly(monomials), factors == MultiSet.sum_multisets(monomials)).then(
        set_cost(
            Poly(monomials),
            factors.length()
            - factors.count(NegOne())
            + monomials.count(MultiSet[Ex]())
            + monomials.count(MultiSet(NegOne()))
            - i64(1),
        ),
    )
