"""The term e-graph's encoding: general scalar terms, sums and products n-ary over multisets.

    Num(r)              an exact rational (BigRat)
    Invariant(i)        the i-th loop-invariant leaf: a parameter, a Float, pi, or a
                        whole invariant subexpression (evaluated once per call: free)
    Varying(i)          the i-th varying leaf: a symbol, a stencil access, or a node
                        this encoding does not open (atan2(a, b), Piecewise, ...)
    Sum(terms)          terms: MultiSet[Term]
    Product(factors)    factors: MultiSet[Term]; -x is Product({Num(-1), x})
    Pow(base, exponent) as written, e.g. Pow(x, Num(5)); rules rewrite it
    Recip(x)            1/x: one division (SymPy's x**-1)
    HoistedRecip(x)     1/x of an invariant x: computed once per call, free per point
    Call(name, x)       sin, cos, exp, log, sqrt, tanh, ... of one argument

with the bookkeeping every rule file matches on (``InSum``, ``InProduct``, ``IsInvariant``:
an egglog query cannot bind a variable to a multiset element) and the operation costs.
The rules are in the theme files (:mod:`~symsim.rewrite_rules.identities`, ``powers``,
``reciprocals``, ``transcendental``), the engine in :mod:`~symsim.rewrite_rules.term_egraph`.
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial

import sympy
from egglog import (BigRat, BigRatLike, Expr, MultiSet, StringLike, function, i64, i64Like, relation, rule, ruleset,
                    set_cost)

from symsim.op_count import CYCLES
from symsim.printing import power_operations


class Term(Expr):
    """A scalar value: a leaf, a sum, a product, a power, a reciprocal or a call."""


@function(cost=0)
def Num(value: BigRatLike) -> Term: ...


@function(cost=0)
def Invariant(index: i64Like) -> Term: ...


@function(cost=0)
def Varying(index: i64Like) -> Term: ...


@function
def Sum(terms: MultiSet[Term]) -> Term:
    """Its cost (adds) is set by ``operation_costs``."""


@function
def Product(factors: MultiSet[Term]) -> Term:
    """Its cost (multiplies; a -1 factor is free) is set by ``operation_costs``."""


@function(cost=50)
def Pow(base: Term, exponent: Term) -> Term:
    """A general power costs a pow call; small integer exponents are costed by ``operation_costs``."""


@function(cost=16)
def Recip(x: Term) -> Term: ...


@function(cost=0)
def HoistedRecip(x: Term) -> Term: ...


@function(cost=50)
def Call(name: StringLike, argument: Term) -> Term: ...


class Membership(Expr):
    """Bookkeeping, not algebra: which terms a sum or product has."""


@function
def InSum(terms: MultiSet[Term], term: Term) -> Membership: ...


@function
def InProduct(factors: MultiSet[Term], factor: Term) -> Membership: ...


IsInvariant = relation("IsInvariant", Term)


def number(value) -> Term:
    """Num of an int or Fraction (egglog needs the BigRat spelled out)."""
    return Num(Fraction(value))


ZERO, ONE, MINUS_ONE, TWO, HALF = number(0), number(1), number(-1), number(2), number(Fraction(1, 2))


@ruleset
def memberships(terms: MultiSet[Term], index: i64, value: BigRat):
    yield rule(Sum(terms)).then(terms.map(partial(InSum, terms)))
    yield rule(Product(terms)).then(terms.map(partial(InProduct, terms)))
    yield rule(Invariant(index)).then(IsInvariant(Invariant(index)))
    yield rule(Num(value)).then(IsInvariant(Num(value)))


@ruleset
def operation_costs(terms: MultiSet[Term], x: Term):
    # adds: terms - 1 (a negated term is a subtraction, same cost)
    yield rule(Sum(terms), terms.length() >= i64(1)).then(set_cost(Sum(terms), terms.length() - i64(1)))
    # multiplies: factors - 1, a -1 factor free (it becomes a subtraction or a negation)
    yield rule(Product(terms), terms.length() - terms.count(MINUS_ONE) >= i64(1)).then(
        set_cost(Product(terms), terms.length() - terms.count(MINUS_ONE) - i64(1)))
    # small integer powers cost what the backends print for them (symsim.printing.power_operations)
    for exponent in (2, 3, -1, -2, -3):
        cycles = sum(CYCLES[kind] * count for kind, count in power_operations(sympy.Integer(exponent)).items())
        yield rule(Pow(x, number(exponent))).then(set_cost(Pow(x, number(exponent)), i64(cycles)))
