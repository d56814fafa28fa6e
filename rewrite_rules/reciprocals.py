"""Strength reduction of divisions over the term encoding of :mod:`symsim.rewrite_rules.term_encoding`.

Running example (u, p, q, r, s varying; h a parameter)::

    u/h + p/q + r/q   ->   u*(1/h) + (p + r)*(1/q)      (3 divisions -> 1; 1/h once per call)
    p/q + r/s         ->   (p*s + r*q)/(q*s)            (2 divisions -> 1, for 3 multiplies)

A division costs 16 cycles, a multiply 1 (:mod:`symsim.op_count`).

| rule                                  | direction     | why |
|---------------------------------------|---------------|-----|
| 1/x -> hoisted 1/x, x loop-invariant  | left to right | the division runs once per call; per point it is a multiply |
| a/b + c/b -> (a + c)/b                | left to right | one division less (the pair can be any two terms over b) |
| 1/b + c/b -> (1 + c)/b                | left to right | the same when one term is the bare reciprocal |
| (1/a)*(1/b) -> 1/(a*b)                | left to right | one division becomes one multiply |
| a/b + c/d -> (a*d + c*b)/(b*d)        | left to right | one division less for 3 multiplies; sums of at most 4 terms |

Boundedness: merging pairs of fractions in a sum of k fractions can reach every
partition of them (Bell(k) sums), so the pairwise rules are limited to sums of
at most ``MAX_MERGED_TERMS`` terms (4 for different denominators, where every
pair qualifies). Longer sums keep their divisions, or are shortened first by
the polynomial factoring in :mod:`symsim.simplify`.

All rules are exact wherever the input is finite (b, d != 0).
"""

from __future__ import annotations

from egglog import MultiSet, i64, ne, rule, ruleset, union

from .term_encoding import ONE, HoistedRecip, InProduct, InSum, IsInvariant, Product, Recip, Sum, Term

#: longest sum whose fractions are merged pairwise over a shared denominator
MAX_MERGED_TERMS = 8
#: longest sum whose fractions are brought over a common denominator
MAX_CROSS_MULTIPLIED_TERMS = 4


def _over(denominator: Term, *numerators: Term) -> Term:
    """(n1 + n2 + ...) * (1/denominator)"""
    return Product(MultiSet(Recip(denominator), Sum(MultiSet(*numerators))))


@ruleset
def reciprocals(terms: MultiSet[Term], p: MultiSet[Term], q: MultiSet[Term], a: Term, b: Term):
    yield rule(Recip(a), IsInvariant(a)).then(union(Recip(a)).with_(HoistedRecip(a)))

    # a/b + c/b -> (a + c)/b
    yield rule(InSum(terms, Product(p)), InSum(terms, Product(q)), ne(Product(p)).to(Product(q)), InProduct(p, Recip(b)),
               q.contains(Recip(b)), terms.length() <= i64(MAX_MERGED_TERMS)).then(
        union(Sum(terms)).with_(Sum(terms.remove(Product(p)).remove(Product(q)).insert(
            _over(b, Product(p.remove(Recip(b))), Product(q.remove(Recip(b))))))))
    # 1/b + c/b -> (1 + c)/b
    yield rule(InSum(terms, Recip(b)), InSum(terms, Product(q)), q.contains(Recip(b)), ne(Recip(b)).to(Product(q)),
               terms.length() <= i64(MAX_MERGED_TERMS)).then(
        union(Sum(terms)).with_(Sum(terms.remove(Recip(b)).remove(Product(q)).insert(
            _over(b, ONE, Product(q.remove(Recip(b))))))))

    # (1/a)*(1/b) -> 1/(a*b)
    yield rule(InProduct(terms, Recip(a)), InProduct(terms, Recip(b)), ne(Recip(a)).to(Recip(b))).then(
        union(Product(terms)).with_(Product(terms.remove(Recip(a)).remove(Recip(b)).insert(
            Recip(Product(MultiSet(a, b)))))))

    # a/b + c/d -> (a*d + c*b)/(b*d)
    yield rule(InSum(terms, Product(p)), InSum(terms, Product(q)), InProduct(p, Recip(a)), InProduct(q, Recip(b)),
               ne(Product(p)).to(Product(q)), ne(a).to(b), terms.length() <= i64(MAX_CROSS_MULTIPLIED_TERMS)).then(
        union(Sum(terms)).with_(Sum(terms.remove(Product(p)).remove(Product(q)).insert(
            _over(Product(MultiSet(a, b)), Product(p.remove(Recip(a)).insert(b)),
                  Product(q.remove(Recip(b)).insert(a)))))))
