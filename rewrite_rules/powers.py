"""Power rules over the term encoding of :mod:`symsim.rewrite_rules.term_encoding`.

Running example::

    u**5 + v**-4   ->   (u**2)**2*u + 1/(v**2)**2    (100 cycles of pow -> 3 multiplies, 2 multiplies + 1 division)

Costs follow what the backends print (:mod:`symsim.printing`): x**2 and x**3 are one
and two multiplies (a compound base is named once), x**-n a division more, x**(1/2) a
call, any other power a pow call (50 cycles).

| rule                                   | direction     | why |
|----------------------------------------|---------------|-----|
| x*x -> x**2                            | both ways     | same cost (one multiply); each form lets other rules match |
| x**a * x -> x**(a+1), integer a        | left to right | one multiply less; exact for integer exponents |
| x**a * x**b -> x**(a+b), integers      | left to right | one multiply less (and the power stays cheap or is split below) |
| x**(2k) -> (x**k)**2, k >= 2           | left to right | squaring: a pow call (50) becomes multiplies (~log2 n) |
| x**(2k+1) -> x**(2k) * x, k >= 2       | left to right | the same for odd exponents |
| x**-1 -> 1/x                           | left to right | a division, not a pow call |
| x**-n -> 1/x**n, integer n >= 2        | left to right | one division and a few multiplies instead of a pow call |
| x**(1/2) -> sqrt(x)                    | left to right | same cost in the model (a call); sqrt is exact and faster on hardware |
| 1/(1/x) -> x                           | left to right | two divisions less, exact wherever 1/x is finite |

Not here: x**a * x**b -> x**(a+b) for non-integer a, b (NumPy's real pow would
turn a nan of a negative base into a number), (x**a)**b -> x**(a*b) (wrong for
x < 0 unless a is an odd integer).
"""

from __future__ import annotations

from fractions import Fraction

from egglog import BigRat, MultiSet, eq, i64, ne, rule, ruleset, union

from .term_encoding import MINUS_ONE, TWO, Call, HALF, InProduct, Num, Pow, Product, Recip, Term


@ruleset
def powers(terms: MultiSet[Term], x: Term, a: BigRat, b: BigRat):
    # x*x <-> x**2
    yield rule(InProduct(terms, x), terms.count(x) >= i64(2)).then(
        union(Product(terms)).with_(Product(terms.remove(x).remove(x).insert(Pow(x, TWO)))))
    yield rule(Pow(x, TWO)).then(union(Pow(x, TWO)).with_(Product(MultiSet(x, x))))

    # merge powers of one base
    yield rule(InProduct(terms, Pow(x, Num(a))), eq(a).to(a.floor()), terms.contains(x), ne(Pow(x, Num(a))).to(x)).then(
        union(Product(terms)).with_(Product(terms.remove(Pow(x, Num(a))).remove(x).insert(
            Pow(x, Num(a + BigRat(1, 1)))))))
    yield rule(InProduct(terms, Pow(x, Num(a))), InProduct(terms, Pow(x, Num(b))),
               ne(Pow(x, Num(a))).to(Pow(x, Num(b))),
               eq(a).to(a.floor()), eq(b).to(b.floor())).then(
        union(Product(terms)).with_(Product(terms.remove(Pow(x, Num(a))).remove(Pow(x, Num(b))).insert(
            Pow(x, Num(a + b))))))

    # exponentiation by squaring
    yield rule(Pow(x, Num(a)), a >= Fraction(4), eq(a / BigRat(2, 1)).to((a / BigRat(2, 1)).floor())).then(
        union(Pow(x, Num(a))).with_(Pow(Pow(x, Num(a / BigRat(2, 1))), TWO)))
    yield rule(Pow(x, Num(a)), a >= Fraction(5), eq(a).to(a.floor()),
               ne(a / BigRat(2, 1)).to((a / BigRat(2, 1)).floor())).then(
        union(Pow(x, Num(a))).with_(Product(MultiSet(Pow(x, Num(a - BigRat(1, 1))), x))))

    # negative and half exponents
    yield rule(Pow(x, MINUS_ONE)).then(union(Pow(x, MINUS_ONE)).with_(Recip(x)))
    yield rule(Pow(x, Num(a)), a <= Fraction(-2), eq(a).to(a.floor())).then(
        union(Pow(x, Num(a))).with_(Recip(Pow(x, Num(-a)))))
    yield rule(Pow(x, HALF)).then(union(Pow(x, HALF)).with_(Call("sqrt", x)))
    yield rule(Recip(Recip(x))).then(union(Recip(Recip(x))).with_(x))

