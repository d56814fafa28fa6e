"""Transcendental identities over the term encoding of :mod:`symsim.rewrite_rules.term_encoding`.

Running example::

    u*exp(a)*exp(2*b) + sin(v)**2 + cos(v)**2   ->   u*exp(a + 2*b) + 1      (4 calls -> 1)

A call costs 50 cycles (:mod:`symsim.op_count`); every rule here removes at least one.

| rule                                   | direction     | why |
|----------------------------------------|---------------|-----|
| exp(a)*exp(b) -> exp(a + b)            | left to right | one call instead of two, for one add |
| exp(a)*exp(a) -> exp(2*a)              | left to right | the same when SymPy has not merged them |
| 1/exp(a) -> exp(-a)                    | left to right | a division less; exp(-a) then merges with other exps |
| sin(x)**2 + cos(x)**2 -> 1             | left to right | two calls, two multiplies and an add less |
| c*sin(x)**2 + c*cos(x)**2 -> c         | left to right | the same with a common cofactor c (any product) |
| cosh(x)**2 - sinh(x)**2 -> 1           | left to right | two calls less |
| log(exp(x)) -> x                       | left to right | two calls less; exact for every real x |

Each holds for every real argument (up to round-off), so none changes a value
where the input is finite. Deliberately absent:

- log(a*b) -> log(a) + log(b): wrong when a and b are both negative;
- exp(log(x)) -> x: wrong for x <= 0 (log is not real there);
- sqrt(x)**2 -> x: wrong for x < 0 in real arithmetic (nan becomes a number).
"""

from __future__ import annotations

from egglog import MultiSet, i64, ne, rule, ruleset, union

from .term_encoding import (MINUS_ONE, ONE, TWO, Call, InProduct, InSum, Pow, Product, Recip, Sum,
                                       Term)


def _square(name: str, x: Term) -> Term:
    return Pow(Call(name, x), TWO)


@ruleset
def transcendental(terms: MultiSet[Term], p: MultiSet[Term], a: Term, b: Term, x: Term):
    exp_a, exp_b = Call("exp", a), Call("exp", b)
    # exp(a)*exp(b) -> exp(a + b)
    yield rule(InProduct(terms, exp_a), InProduct(terms, exp_b), ne(exp_a).to(exp_b)).then(
        union(Product(terms)).with_(Product(terms.remove(exp_a).remove(exp_b).insert(
            Call("exp", Sum(MultiSet(a, b)))))))
    yield rule(InProduct(terms, exp_a), terms.count(exp_a) >= i64(2)).then(
        union(Product(terms)).with_(Product(terms.remove(exp_a).remove(exp_a).insert(
            Call("exp", Product(MultiSet(TWO, a)))))))
    yield rule(Recip(exp_a)).then(union(Recip(exp_a)).with_(Call("exp", Product(MultiSet(MINUS_ONE, a)))))

    # sin(x)**2 + cos(x)**2 -> 1, alone or times a common cofactor
    sin2, cos2 = _square("sin", x), _square("cos", x)
    yield rule(InSum(terms, sin2), terms.contains(cos2), ne(sin2).to(cos2)).then(
        union(Sum(terms)).with_(Sum(terms.remove(sin2).remove(cos2).insert(ONE))))
    yield rule(InSum(terms, Product(p)), InProduct(p, sin2),
               terms.contains(Product(p.remove(sin2).insert(cos2))),
               ne(Product(p)).to(Product(p.remove(sin2).insert(cos2)))).then(
        union(Sum(terms)).with_(Sum(terms.remove(Product(p)).remove(Product(p.remove(sin2).insert(cos2))).insert(
            Product(p.remove(sin2))))))

    # cosh(x)**2 - sinh(x)**2 -> 1
    cosh2, sinh2 = _square("cosh", x), _square("sinh", x)
    yield rule(InSum(terms, cosh2), terms.contains(Product(MultiSet(MINUS_ONE, sinh2))),
               ne(cosh2).to(Product(MultiSet(MINUS_ONE, sinh2)))).then(
        union(Sum(terms)).with_(Sum(terms.remove(cosh2).remove(Product(MultiSet(MINUS_ONE, sinh2))).insert(ONE))))

    yield rule(Call("log", Call("exp", x))).then(union(Call("log", Call("exp", x))).with_(x))
