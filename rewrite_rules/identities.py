"""Algebraic identities and constant folding over the term encoding of :mod:`symsim.rewrite_rules.term_encoding`.

Running example (what other rules leave behind, cleaned up)::

    u*(1 + 1/2 - 3/2) + 0   ->   0            (fold the sum, x*0, x + 0)
    -(-(u)) * 2 * (1/2)     ->   u            (flatten, fold -1*-1 and 2*(1/2), x*1)

SymPy applies most of these on construction; here they act on what the other
rule files build (``Sum({a, b})`` for exp(a)*exp(b), ``Num(1)`` for
sin**2 + cos**2, nested products from strength reduction) and on unevaluated input.

| rule                                   | direction     | why |
|----------------------------------------|---------------|-----|
| x + 0 -> x,  x*1 -> x                  | left to right | one add or multiply less |
| x*0 -> 0                               | left to right | drops x entirely (equal wherever x is finite) |
| sum or product of one term -> the term | left to right | no operation; lets other rules see the term |
| empty sum -> 0, empty product -> 1     | left to right | what removing the last term leaves |
| Sum{..., Sum{ts}} -> Sum{..., ts}      | left to right | flattening (associativity) so folding sees all terms |
| Product{..., Product{fs}} -> flat      | left to right | the same for products; with folding, -(-x) -> x |
| a + b -> (a+b), a*b -> (ab) on numbers | left to right | constant folding, exact (BigRat) |
| a**n -> (a**n) on numbers, integer n   | left to right | constant folding; 0**-n is left alone, |n| <= 64 |
| 1/a -> (1/a) on a number a != 0        | left to right | constant folding |
| x - x -> 0                             | left to right | two terms and a subtraction less |
| x**1 -> x, x**0 -> 1                   | left to right | no operation (merged powers can leave them) |

Floats are invariant leaves, never numbers here, so folding is exact.
"""

from __future__ import annotations

from fractions import Fraction

from egglog import BigRat, MultiSet, eq, i64, ne, rule, ruleset, union

from .term_encoding import (ONE, ZERO, InProduct, InSum, MINUS_ONE, Num, Pow, Product, Recip, Sum,
                                       Term)


@ruleset
def identities(terms: MultiSet[Term], inner: MultiSet[Term], x: Term, a: BigRat, b: BigRat):
    # neutral and absorbing elements
    yield rule(Sum(terms), terms.contains(ZERO)).then(union(Sum(terms)).with_(Sum(terms.remove(ZERO))))
    yield rule(Product(terms), terms.contains(ONE)).then(union(Product(terms)).with_(Product(terms.remove(ONE))))
    yield rule(Product(terms), terms.contains(ZERO)).then(union(Product(terms)).with_(ZERO))
    yield rule(Pow(x, ONE)).then(union(Pow(x, ONE)).with_(x))
    yield rule(Pow(x, ZERO)).then(union(Pow(x, ZERO)).with_(ONE))

    # one term or none
    for operation, empty in ((Sum, ZERO), (Product, ONE)):
        yield rule(operation(terms), eq(terms.length()).to(i64(1))).then(union(operation(terms)).with_(terms.pick()))
        yield rule(operation(terms), eq(terms.length()).to(i64(0))).then(union(operation(terms)).with_(empty))

    # flattening: associativity for free, one level per step. Not when the inner sum
    # contains itself (u = Sum{0, u} once x + 0 -> x has fired): that would grow forever
    yield rule(InSum(terms, Sum(inner)), inner.not_contains(Sum(inner))).then(
        union(Sum(terms)).with_(Sum(terms.remove(Sum(inner)) + inner)))
    yield rule(InProduct(terms, Product(inner)), inner.not_contains(Product(inner))).then(
        union(Product(terms)).with_(Product(terms.remove(Product(inner)) + inner)))

    # constant folding: two distinct numbers, or one number twice
    yield rule(InSum(terms, Num(a)), InSum(terms, Num(b)), ne(a).to(b)).then(
        union(Sum(terms)).with_(Sum(terms.remove(Num(a)).remove(Num(b)).insert(Num(a + b)))))
    yield rule(InSum(terms, Num(a)), terms.count(Num(a)) >= i64(2)).then(
        union(Sum(terms)).with_(Sum(terms.remove(Num(a)).remove(Num(a)).insert(Num(a + a)))))
    yield rule(InProduct(terms, Num(a)), InProduct(terms, Num(b)), ne(a).to(b)).then(
        union(Product(terms)).with_(Product(terms.remove(Num(a)).remove(Num(b)).insert(Num(a * b)))))
    yield rule(InProduct(terms, Num(a)), terms.count(Num(a)) >= i64(2)).then(
        union(Product(terms)).with_(Product(terms.remove(Num(a)).remove(Num(a)).insert(Num(a * a)))))
    yield rule(Pow(Num(a), Num(b)), eq(b).to(b.floor()), b >= Fraction(0), b <= Fraction(64)).then(
        union(Pow(Num(a), Num(b))).with_(Num(a ** b)))
    yield rule(Pow(Num(a), Num(b)), eq(b).to(b.floor()), b < Fraction(0), b >= Fraction(-64), ne(a).to(BigRat(0, 1))).then(
        union(Pow(Num(a), Num(b))).with_(Num(a ** b)))
    yield rule(Recip(Num(a)), ne(a).to(BigRat(0, 1))).then(
        union(Recip(Num(a))).with_(Num(BigRat(1, 1) / a)))

    # x - x
    yield rule(InSum(terms, x), terms.contains(Product(MultiSet(MINUS_ONE, x))),
               ne(x).to(Product(MultiSet(MINUS_ONE, x)))).then(
        union(Sum(terms)).with_(Sum(terms.remove(x).remove(Product(MultiSet(MINUS_ONE, x))))))

