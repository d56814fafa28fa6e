"""Simplify general scalar terms with an e-graph: the SymPy bridge and the engine.

Running example (every symbol varying)::

    exp(a*b)*exp(a*c) + sin(u)**2 + cos(u)**2 + p/q + r/q   ->   exp(a*b + a*c) + 1 + (p + r)/q
    (4 calls, 2 divisions, 4 adds: 236 cycles)                   (1 call, 1 division, 4 adds: 70 cycles)

The polynomial e-graph (:mod:`.polynomial_egraph`) factors sums of products of opaque
atoms; this one sees inside the atoms: calls, powers, reciprocals. Its encoding (sums
and products n-ary over multisets, so associativity and commutativity are free) is in
:mod:`.term_encoding`, the rules one theme per file (:mod:`.identities`, :mod:`.powers`,
:mod:`.reciprocals`, :mod:`.transcendental`), the schedule and its limits in
:mod:`.schedule`. Here: the SymPy bridge (one function per node kind in each direction)
and the engine. Floats are invariant leaves, never folded: their SymPy value comes back
exactly.

egglog 13.2 notes:
- terms are registered one node at a time, children first, so e-class ids (which
  break extraction ties) do not depend on PYTHONHASHSEED;
- the MultiSet defect seen by the polynomial e-graph (counts stored on the wrong
  element) cannot be ruled out here either, so every extracted form is evaluated
  at two fixed points and dropped when it disagrees with its input
  (``EGraphResult.rejected``).
"""

from __future__ import annotations

import math
import random
import time
from fractions import Fraction

import sympy
from egglog import EGraph, MultiSet
from egglog.deconstruct import get_callable_args, get_callable_fn, get_literal_value

from symsim.op_count import count_operations, varies

from .identities import identities
from .powers import powers
from .reciprocals import reciprocals
from .schedule import DEFAULT_TERM_LIMITS, EGraphResult, Limits, run_term_schedule
from .term_encoding import (HALF, MINUS_ONE, ONE, TWO, ZERO, Call, HoistedRecip, Invariant, Num, Pow, Product, Recip,
                            Sum, Term, Varying, memberships, number, operation_costs)
from .transcendental import transcendental

REWRITES = identities | powers | reciprocals | transcendental


# -- SymPy -> egglog, and back ----------------------------------------------------------------
#
# One function per node kind in each direction, side by side in the two tables below.

#: calls the encoding opens, by egglog name (sqrt is a power in SymPy, a call here)
FUNCTIONS = {f.__name__: f for f in (sympy.sin, sympy.cos, sympy.tan, sympy.exp, sympy.log, sympy.sinh,
                                     sympy.cosh, sympy.tanh, sympy.asin, sympy.acos, sympy.atan,
                                     sympy.asinh, sympy.acosh, sympy.atanh)}


class _Bridge:
    """Numbers the leaves of the terms it encodes and registers every node, children first."""

    def __init__(self, egraph: EGraph, varying: set):
        self.egraph = egraph
        self.varying = varying
        self.invariants: list = []
        self.varyings: list = []
        self._index: dict = {}
        self._terms: dict = {}
        for constant in (ZERO, ONE, MINUS_ONE, TWO, HALF):  # a rule never matches a term the graph lacks
            egraph.register(constant)

    def encode(self, expr: sympy.Expr) -> Term:
        if expr not in self._terms:
            term = self._encode(expr)
            self.egraph.register(term)
            self._terms[expr] = term
        return self._terms[expr]

    def _encode(self, expr: sympy.Expr) -> Term:
        if expr.is_Rational:
            return number(Fraction(int(expr.p), int(expr.q)))
        if not varies(expr, self.varying):
            return Invariant(self._leaf(expr, self.invariants, "invariant"))
        if isinstance(expr, sympy.Add):
            return Sum(MultiSet(*[self.encode(a) for a in expr.args]))
        if isinstance(expr, sympy.Mul):
            return self._product(expr)
        if isinstance(expr, sympy.Pow) and expr.exp == -1:
            return Recip(self.encode(expr.base))  # how SymPy writes a division
        if isinstance(expr, sympy.Pow):
            return Pow(self.encode(expr.base), self.encode(expr.exp))
        if isinstance(expr, sympy.Function) and len(expr.args) == 1 and type(expr).__name__ in FUNCTIONS:
            return Call(type(expr).__name__, self.encode(expr.args[0]))
        return Varying(self._leaf(expr, self.varyings, "varying"))

    def _product(self, expr: sympy.Mul) -> Term:
        """Invariant factors of a varying product become one coefficient and, when there is
        one, the reciprocal of one invariant denominator (a division the rules can hoist)."""
        numerator, denominator, factors = [], [], []
        for factor in expr.args:
            if factor.is_Rational or varies(factor, self.varying):
                factors.append(self.encode(factor))
            elif factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denominator.append(sympy.Pow(factor.base, -factor.exp))
            else:
                numerator.append(factor)
        if numerator:
            factors.append(self.encode(sympy.Mul(*numerator)))
        if denominator:
            reciprocal = Recip(self.encode(sympy.Mul(*denominator)))
            self.egraph.register(reciprocal)
            factors.append(reciprocal)
        return Product(MultiSet(*factors))

    def _leaf(self, expr, table: list, kind: str) -> int:
        key = (kind, sympy.srepr(expr))  # exact: Float(0.5) and Rational(1, 2) stay distinct
        if key not in self._index:
            self._index[key] = len(table)
            table.append(expr)
        return self._index[key]

    # -- egglog -> SymPy (unevaluated, so x*x**4 stays a chain of multiplies) --

    def decode(self, term: Term) -> sympy.Expr:
        kind, args = get_callable_fn(term), get_callable_args(term)
        if kind == Num:
            value = args[0].value
            return sympy.Rational(value.numerator, value.denominator)
        if kind == Invariant:
            return self.invariants[get_literal_value(args[0])]
        if kind == Varying:
            return self.varyings[get_literal_value(args[0])]
        if kind == Sum:
            return _ordered(sympy.Add, [self.decode(a) for a in get_callable_args(args[0])])
        if kind == Product:
            return _ordered(sympy.Mul, [self.decode(a) for a in get_callable_args(args[0])])
        if kind == Pow:
            return sympy.Pow(self.decode(args[0]), self.decode(args[1]), evaluate=False)
        if kind in (Recip, HoistedRecip):
            return sympy.Pow(self.decode(args[0]), -1, evaluate=False)
        name, argument = get_literal_value(args[0]), self.decode(args[1])
        if name == "sqrt":
            return sympy.Pow(argument, sympy.S.Half, evaluate=False)
        return FUNCTIONS[name](argument, evaluate=False)


def _ordered(operation, args: list) -> sympy.Expr:
    """Unevaluated flat sum or product with its arguments in SymPy's order (egglog's varies
    between runs). Nested sums are spliced in: extraction may pick ``a + (b + c)``, which costs
    the same, but SymPy's expansion would then see ``b + c`` as one term."""
    args = [a for arg in args for a in operation.make_args(arg)]
    if not args:
        return operation.identity
    if len(args) == 1:
        return args[0]
    return operation(*sorted(args, key=sympy.default_sort_key), evaluate=False)


# -- the engine -----------------------------------------------------------------------


def simplify_terms(exprs: list[sympy.Expr], varying: set, *, limits: Limits = DEFAULT_TERM_LIMITS,
                   variants_per_term: int = 3, rewrites=REWRITES) -> EGraphResult:
    """Cheap equivalent forms of ``exprs``, found together in one e-graph.

    ``varying`` holds the symbols that change per point (stencil accesses always do);
    everything else is loop-invariant and free. ``rewrites`` picks the rule sets
    (all four themes unless told, e.g. ``identities | powers``).

        >>> u = sympy.Symbol("u")
        >>> simplify_terms([sympy.sin(u)**2 + sympy.cos(u)**2 + u], {u}).variants[0][0]
        u + 1
    """
    egraph = _egraph_with(memberships, rewrites, operation_costs)
    with egraph:  # push: the run below is undone on exit, the declared rules stay
        bridge = _Bridge(egraph, varying)
        roots = [bridge.encode(e) for e in exprs]
        # after declaring the rules (once per process) and registering the terms (slow on the first
        # call of a process, and slower on a loaded machine): the limit is for the rewriting
        started = time.perf_counter()
        stats = run_term_schedule(egraph, limits, started, memberships, rewrites, operation_costs)
        rejected = 0
        variants = []
        for expr, root in zip(exprs, roots):
            forms, wrong = _alternatives(egraph, bridge, expr, root, variants_per_term)
            variants.append(forms)
            rejected += wrong
    return EGraphResult(variants, stats.enodes, stats.iterations, time.perf_counter() - started, stats.saturated,
                      rejected)


_EGRAPH: EGraph | None = None
_DECLARED: set = set()


def _egraph_with(*rulesets) -> EGraph:
    """One empty e-graph per process with ``rulesets`` declared in it.

    Declaring the rules costs ~0.1 s per new EGraph (egglog-python translates every
    rule), more than a typical run; so rules are declared once, on the empty graph,
    and every run happens between a push and a pop, which restore the empty graph
    (and its e-class numbering, so runs do not depend on earlier ones).
    """
    global _EGRAPH
    if _EGRAPH is None:
        _EGRAPH = EGraph()
    for ruleset_ in rulesets:
        if id(ruleset_) not in _DECLARED:  # rulesets are module constants (or unions made once by a caller)
            _EGRAPH.run(1, ruleset=ruleset_)  # declares it; the graph is empty, so nothing fires
            _DECLARED.add(id(ruleset_))
    return _EGRAPH


def term_cost(expr: sympy.Expr, varying: set) -> int:
    """Cycles per evaluation of ``expr`` (:mod:`symsim.op_count`)."""
    return count_operations([expr], coordinates=varying)["cost"]


def _alternatives(egraph: EGraph, bridge: _Bridge, expr: sympy.Expr, root: Term,
                  count: int) -> tuple[list[sympy.Expr], int]:
    """The input and the root's cheapest extracted forms that evaluate like it, by cost, then
    size (op_count treats -(-u) and 2*(1/2)*u like u), then structure."""
    points = _points(expr)
    reference = _values(expr, points)
    forms, rejected = {expr: None}, 0
    for term in egraph.extract_multiple(root, 2 * count):
        form = bridge.decode(term)
        if form in forms:
            continue
        if not _agrees(_values(form, points), reference):
            rejected += 1
            continue
        forms[form] = None
    ranked = sorted(forms, key=lambda f: (term_cost(f, bridge.varying), _size(f), sympy.default_sort_key(f)))
    return ranked[:count], rejected


def _size(expr: sympy.Expr) -> int:
    return sum(1 for _ in sympy.preorder_traversal(expr))


def _points(expr: sympy.Expr) -> list[dict]:
    """Two fixed points, every symbol drawn from [0.3, 1.7]: inside the domain of every opened call."""
    symbols = sorted(expr.free_symbols, key=sympy.default_sort_key)
    points = []
    for seed in (1, 2):
        rng = random.Random(seed)
        points.append({s: sympy.Float(rng.uniform(0.3, 1.7), 30) for s in symbols})
    return points


def _values(expr: sympy.Expr, points: list[dict]) -> list[complex]:
    values = []
    for point in points:
        try:
            values.append(complex(expr.xreplace(point).evalf(30)))
        except (TypeError, ValueError, ZeroDivisionError):  # zoo, nan or a leftover symbol
            values.append(complex(math.nan, math.nan))
    return values


def _agrees(got: list[complex], expected: list[complex]) -> bool:
    for g, e in zip(got, expected):
        if not (math.isfinite(e.real) and math.isfinite(e.imag)):
            continue  # the input is not finite here: nothing to compare
        if not abs(g - e) <= 1e-12 * max(1.0, abs(e)):
            return False
    return True
