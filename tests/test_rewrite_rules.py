"""Rule-level tests of the rule files that act on SymPy terms."""

import sympy
from sympy import exp

from rewrite_rules.transcendental import combine_exponentials
from symsim.expression_parser import parse_expression
from symsim.simplify import simplify_expression

u, a, b, c = sympy.symbols("u a b c")


def test_two_exponentials_become_one_call():
    assert combine_exponentials(u * exp(a) * exp(b)) == u * exp(a + b)


def test_three_exponentials_with_a_coefficient():
    assert combine_exponentials(3 * exp(a) * exp(b) * exp(c)) == 3 * exp(a + b + c)


def test_a_single_exponential_or_none_is_left_alone():
    assert combine_exponentials(u * exp(a)) == u * exp(a)
    assert combine_exponentials(u * a) == u * a


def test_combined_exponentials_keep_their_value():
    term = u * exp(a) * exp(b / 2)
    values = {u: 0.7, a: -1.3, b: 2.9}
    assert abs(float(combine_exponentials(term).subs(values)) - float(term.subs(values))) < 1e-14


def test_simplify_pays_one_call_for_a_product_of_exponentials():
    simplified, before, after = simplify_expression(parse_expression("u*exp(a)*exp(b)"))
    assert (before["call"], after["call"]) == (2, 1)
