"""E-graph rewrite rules (egglog) that factor the polynomials of a lowered kernel.

    c0*a1 + c0*a2 + c1*a0   ->   c0*(a1 + a2) + c1*a0

- ``polynomial_egraph``: the encoding (a sum of monomials as one ``Poly`` node
  over multisets, so associativity and commutativity are free) and the engine,
  :func:`factor_polynomials`, which returns a few factored variants per polynomial;
- ``factoring``: the rules, as a table (factor a shared factor out of a sum);
- ``schedule``: the order the rules run in and the node, iteration and time limits.

- ``transcendental``: exp(a)*exp(b) -> exp(a + b), applied to terms before factoring.

``symsim.simplify`` hoists loop invariants into named coefficients, hands the
resulting polynomials here, and scores the variants after SymPy's ``cse``.

Where each kind of rewrite lives:

| rewrite                                  | where                                                          |
|------------------------------------------|----------------------------------------------------------------|
| associativity, commutativity             | free: sums and products are multisets (``polynomial_egraph``)  |
| c*a + c*b -> c*(a + b)                   | ``factoring`` (egglog)                                         |
| x*x <-> x**2, small integer powers       | one factor with multiplicity 2; extraction costs it as x*x     |
| a / (invariant) -> a * hoisted reciprocal| ``symsim.simplify.hoist_invariants``                           |
| constant folding, x*1, x+0               | SymPy's automatic evaluation before the e-graph                |
| subterms shared between equations        | variants scored together after ``cse`` (``symsim.simplify``)   |
| exp(a)*exp(b) -> exp(a + b)              | ``transcendental``                                             |
"""

from rewrite_rules.polynomial_egraph import FactoringResult, Monomial, Polynomial, factor_polynomials, operation_cost
from rewrite_rules.schedule import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_LIMITS", "FactoringResult", "Limits", "Monomial", "Polynomial", "factor_polynomials",
           "operation_cost"]
