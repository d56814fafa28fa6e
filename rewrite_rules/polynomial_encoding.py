"""The polynomial e-graph's encoding: sums of products of opaque atoms, one e-node per sum.

    c1*a1 + c1*a2 + c0*a0   ->   Poly({{Coef(1), Atom(1)}, {Coef(1), Atom(2)}, {Coef(0), Atom(0)}})

    Poly(MultiSet[MultiSet[Ex]])   a sum of monomials, each monomial a multiset of factors
    Atom(i)                        the i-th opaque atom (a stencil access, a coordinate, ...)
    Coef(i)                        the i-th distinct coefficient (hoisted symbol or number)
    NegOne()                       the factor -1 (free: it becomes a subtraction)

Associativity and commutativity cost nothing in it. The rules over it are in
:mod:`~symsim.rewrite_rules.factoring`, the engine in :mod:`~symsim.rewrite_rules.polynomial_egraph`.
"""

from __future__ import annotations

from egglog import Expr, MultiSet, function, i64Like


class Ex(Expr):
    """A factor or a sum: anything that can appear in a monomial."""


@function(cost=0)
def Atom(index: i64Like) -> Ex: ...


@function(cost=0)
def Coef(index: i64Like) -> Ex: ...


@function(cost=0)
def NegOne() -> Ex: ...


@function
def Poly(monomials: MultiSet[MultiSet[Ex]]) -> Ex:
    """Sum of products; its operation cost is set by ``factoring.operation_costs``."""
