"""Factor polynomials of opaque atoms with an e-graph: the engine over :mod:`.polynomial_encoding`.

Running example (5-point Laplacian, coefficients hoisted by the front end)::

    c1*a1 + c1*a2 + c1*a3 + c1*a4 + c0*a0   ->   c1*(a1 + a2 + a3 + a4) + c0*a0
    (4 mul + 4 add)                               (2 mul + 4 add)

Encoding (one e-node per sum of products, so associativity and commutativity
cost nothing: with binary + and * and AC rules, 13-25-term stencil sums grew to
0.5-5M e-nodes in 25 s; over multisets every kernel saturates in 5-11 iterations at
28-416 e-nodes):

    Poly(MultiSet[MultiSet[Ex]])   a sum of monomials, each monomial a multiset of factors
    Atom(i)                        the i-th opaque atom (a stencil access, a coordinate, ...)
    Coef(i)                        the i-th distinct coefficient (hoisted symbol or number)
    NegOne()                       the factor -1 (free: it becomes a subtraction)

A power is a repeated factor (``a0**2`` is ``{Atom(0), Atom(0)}``), a coefficient
1 is no factor at all, and a factored sum is a factor ``Poly(...)`` inside a
monomial. The rules are in :mod:`symsim.rewrite_rules.factoring`, the schedule and its
limits in :mod:`symsim.rewrite_rules.schedule`.

Before the e-graph sees a polynomial, its monomials are split into connected
components (two monomials are connected when they share a factor other than
-1). Components cannot share a factor, so factoring one never changes another;
giving each its own ``Poly`` avoids the 2**k orderings in which k independent
groups (``c1*(...)``, ``c2*(...)``, ...) could otherwise be factored one by one.

egglog 13.2 notes (measured here, see also the findings note):
- extraction is by tree cost; egglog adds 1 per i64 literal, so its reported
  cost is operations + leaf occurrences (the ranking is the same: in this
  encoding operations = leaf occurrences - 1). Variants are ranked in Python
  with :func:`symsim.op_count.count_operations`, the cost the lead scores with.
- ``EGraph.extract_multiple`` returns the cheapest choices at the root e-class
  only (children at their best), so variants are taken per component and
  combined here.
- egglog-python numbers the subterms of one registered expression in an order
  that depends on PYTHONHASHSEED, and extraction breaks cost ties by those
  numbers; :func:`_register` adds terms one by one so every process gets the
  same output. Equal-cost nestings (``a*(b*X)`` vs ``b*(a*X)``) are also
  flattened when read back. Only ``time_limit`` can make two runs differ.
- egglog 13.2 sometimes stores a MultiSet with its counts on the wrong
  elements: ``(multiset-of A0 A0 A1 C6)`` read back as ``A0 A1 C6 C6``. It
  depends on hash values (renaming the constructors hides one reproducer), so
  it cannot be ruled out by construction: every extracted form is expanded and
  compared with its input, and dropped if it differs (``EGraphResult.rejected``).
"""

from __future__ import annotations

import time
from collections import Counter
from functools import lru_cache

import sympy
from egglog import EGraph, MultiSet
from egglog.deconstruct import get_callable_args, get_callable_fn, get_literal_value

from .polynomial_encoding import Atom, Coef, Ex, NegOne, Poly
from .schedule import DEFAULT_LIMITS, EGraphResult, Limits, run_schedule

Monomial = tuple[tuple[int, int], ...]  # ((atom, power), ...) sorted by atom, powers >= 1; () is the constant monomial
Polynomial = dict[Monomial, object]     # monomial -> coefficient: a SymPy Symbol or number, never 0




def factor_polynomials(
    polynomials: list[Polynomial],
    *,
    max_iterations: int = DEFAULT_LIMITS.max_iterations,
    node_limit: int = DEFAULT_LIMITS.node_limit,
    time_limit: float = DEFAULT_LIMITS.time_limit,
    variants_per_polynomial: int = 3,
) -> EGraphResult:
    """Cheap factored forms of ``polynomials``, found together in one e-graph.

        >>> c0, c1 = sympy.symbols("c0 c1")
        >>> factor_polynomials([{((1, 1),): c0, ((2, 1),): c0, ((0, 1),): c1}]).variants[0][0]
        a0*c1 + c0*(a1 + a2)
    """
    started = time.perf_counter()
    coefficients = _CoefficientTable()
    components = [_components(p) for p in polynomials]
    searched = {id(part): _encode(part, coefficients) for parts in components for part in parts if len(part) > 1}
    factors_per_sum = max((_factor_count(part) for parts in components for part in parts), default=0) // 2

    egraph = EGraph()
    _register(egraph, components, coefficients, searched.values())
    limits = Limits(max_iterations, node_limit, time_limit)
    stats = run_schedule(egraph, limits, started, factors_per_sum)

    rejected = 0

    def alternatives(part: Polynomial) -> list[sympy.Expr]:
        nonlocal rejected
        if id(part) not in searched:  # a lone monomial: nothing to factor
            ((monomial, coefficient),) = part.items()
            return [_monomial_form(monomial, coefficient)]
        forms, wrong = _alternatives(egraph, searched[id(part)], part, coefficients, variants_per_polynomial)
        rejected += wrong
        return forms

    variants = [_combine([alternatives(part) for part in parts], variants_per_polynomial) for parts in components]
    seconds = time.perf_counter() - started
    return EGraphResult(variants, stats.enodes, stats.iterations, seconds, stats.saturated, rejected)


def _register(egraph: EGraph, components, coefficients: _CoefficientTable, sums) -> None:
    """Add the leaves in a fixed order, then one sum per call.

    egglog-python numbers the subterms of one registered expression in an order
    that varies with PYTHONHASHSEED, and extraction breaks cost ties by those
    numbers; registering term by term keeps the output the same in every process.
    Coefficients go before atoms: with atoms first, egglog's MultiSet defect (see
    the module notes) showed up in about one run in ten on random polynomials,
    with coefficients first in none of thousands. NegOne goes in even when
    unused: a rule that tests against a term the graph lacks never fires.
    """
    atoms = sorted({atom for parts in components for part in parts for monomial in part for atom, _ in monomial})
    for leaf in [NegOne(), *map(Coef, range(len(coefficients.values))), *map(_atom, atoms)]:
        egraph.register(leaf)
    for poly in sums:
        egraph.register(poly)


# -- Python -> egglog -----------------------------------------------------------------

class _CoefficientTable:
    """Distinct coefficients, numbered in order of first appearance (so runs are repeatable)."""

    def __init__(self):
        self.values: list = []
        self._index: dict[str, int] = {}

    def index(self, value) -> int:
        key = sympy.srepr(value)  # exact: Float(0.5) and Rational(1, 2) stay distinct
        if key not in self._index:
            self._index[key] = len(self.values)
            self.values.append(value)
        return self._index[key]


def _components(polynomial: Polynomial) -> list[Polynomial]:
    """Split into groups of monomials linked by shared factors (atoms or coefficients)."""
    monomials = list(polynomial)
    parent = list(range(len(monomials)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict = {}
    for i, monomial in enumerate(monomials):
        keys = [("atom", atom) for atom, _ in monomial]
        _, magnitude = _split_sign(polynomial[monomial])
        if magnitude is not None:
            keys.append(("coef", sympy.srepr(magnitude)))
        for key in keys:
            j = owner.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict[int, Polynomial] = {}
    for i, monomial in enumerate(monomials):
        groups.setdefault(root(i), {})[monomial] = polynomial[monomial]
    return list(groups.values())


def _split_sign(coefficient) -> tuple[bool, sympy.Expr | None]:
    """-c -> (True, c), so c*a1 - c*a2 can factor to c*(a1 - a2); a magnitude of exactly 1 is None."""
    coefficient = sympy.sympify(coefficient)
    negative = coefficient.could_extract_minus_sign()
    magnitude = -coefficient if negative else coefficient
    return negative, None if magnitude == 1 and magnitude.is_Integer else magnitude


@lru_cache(maxsize=None)
def _atom(index: int) -> Ex:
    return Atom(index)  # building egglog terms is slow in Python; atoms repeat, so reuse them


def _encode(polynomial: Polynomial, coefficients: _CoefficientTable) -> Ex:
    monomials = []
    for monomial, coefficient in polynomial.items():
        factors = [_atom(atom) for atom, power in monomial for _ in range(power)]
        negative, magnitude = _split_sign(coefficient)
        if negative:
            factors.append(NegOne())
        if magnitude is not None:
            factors.append(Coef(coefficients.index(magnitude)))
        monomials.append(MultiSet(*factors) if factors else MultiSet[Ex]())
    return Poly(MultiSet(*monomials))


def _factor_count(polynomial: Polynomial) -> int:
    """Factor occurrences in the encoded sum: powers, plus the coefficient and its sign."""
    count = 0
    for monomial, coefficient in polynomial.items():
        negative, magnitude = _split_sign(coefficient)
        count += sum(power for _, power in monomial) + negative + (magnitude is not None)
    return count


# -- egglog -> SymPy ------------------------------------------------------------------
#
# An extracted term is first read into plain tuples, once (egglog's deconstruction
# is the slow part), then turned into SymPy and into its expansion over the leaves.
#   ("coef", k) | ("atom", i) | ("neg",) | ("sum", ((factor, ...), ...))

def _plain(term: Ex) -> tuple:
    """One small case per constructor; the inverse of ``_encode``."""
    kind, args = get_callable_fn(term), get_callable_args(term)
    if kind == Coef:
        return ("coef", get_literal_value(args[0]))
    if kind == Atom:
        return ("atom", get_literal_value(args[0]))
    if kind == NegOne:
        return ("neg",)
    (monomials,) = args  # MultiSet(...) elements: get_callable_args is much faster than .value
    return ("sum", tuple(tuple(_plain(f) for f in get_callable_args(m)) for m in get_callable_args(monomials)))


def _leaf_key(plain: tuple) -> tuple:
    return (0, plain[1]) if plain[0] == "coef" else (1, plain[1])


def _expansion(plain: tuple) -> Counter:
    """The polynomial a term stands for: {sorted leaf keys: integer coefficient}."""
    if plain[0] == "neg":
        return Counter({(): -1})
    if plain[0] != "sum":
        return Counter({(_leaf_key(plain),): 1})
    total: Counter = Counter()
    for monomial in plain[1]:
        product = Counter({(): 1})
        for factor in monomial:
            product = _multiply(product, _expansion(factor))
        total.update(product)
    return Counter({k: v for k, v in total.items() if v})


def _multiply(left: Counter, right: Counter) -> Counter:
    product: Counter = Counter()
    for lk, lv in left.items():
        for rk, rv in right.items():
            product[tuple(sorted(lk + rk))] += lv * rv
    return product


def _expected_expansion(polynomial: Polynomial, coefficients: _CoefficientTable) -> Counter:
    """``_expansion`` of the encoded input, computed from the Python side."""
    expected: Counter = Counter()
    for monomial, coefficient in polynomial.items():
        negative, magnitude = _split_sign(coefficient)
        leaves = [(1, atom) for atom, power in monomial for _ in range(power)]
        if magnitude is not None:
            leaves.append((0, coefficients.index(magnitude)))
        expected[tuple(sorted(leaves))] += -1 if negative else 1
    return expected


def _keyed_sympy(plain: tuple, coefficients: _CoefficientTable) -> tuple[tuple, sympy.Expr]:
    """(order key, SymPy form) of a plain term.

    The key orders terms and factors cheaply (coefficients, then atoms, then
    sums), where SymPy's own sort key would cost more than the e-graph run.
    """
    if plain[0] == "coef":
        return (0, plain[1]), coefficients.values[plain[1]]
    if plain[0] == "atom":
        return (1, plain[1]), sympy.Symbol(f"a{plain[1]}")
    terms = sorted((_keyed_monomial(m, coefficients) for m in plain[1]), key=lambda keyed: keyed[0])
    return (2, tuple(key for key, _ in terms)), _sum([form for _, form in terms])


def _keyed_monomial(monomial: tuple, coefficients: _CoefficientTable) -> tuple[tuple, sympy.Expr]:
    powers: dict = {}
    negative = _collect_factors(monomial, coefficients, powers) % 2 == 1
    return _keyed_product(powers, negative)


def _collect_factors(monomial: tuple, coefficients: _CoefficientTable, powers: dict) -> int:
    """Count the factors of ``monomial`` into ``powers``; returns how many were -1.

    A sum of one product is spliced in, so ``a*(b*(c + d))`` and ``b*(a*(c + d))``
    (equal cost; egglog breaks such ties by e-class ids, which vary between
    processes) both read ``a*b*(c + d)``.
    """
    signs = 0
    for factor in monomial:
        if factor[0] == "neg":
            signs += 1
        elif factor[0] == "sum" and len(factor[1]) == 1:
            signs += _collect_factors(factor[1][0], coefficients, powers)
        else:
            keyed = _keyed_sympy(factor, coefficients)
            powers[keyed] = powers.get(keyed, 0) + 1
    return signs


def _monomial_form(monomial: Monomial, coefficient) -> sympy.Expr:
    """The SymPy form of one monomial that never went through the e-graph (same layout)."""
    negative, magnitude = _split_sign(coefficient)
    powers = {((1, atom), sympy.Symbol(f"a{atom}")): power for atom, power in monomial}
    if magnitude is not None:
        powers[(0, -1), magnitude] = 1
    return _keyed_product(powers, negative)[1]


def _keyed_product(powers: dict, negative: bool) -> tuple[tuple, sympy.Expr]:
    """(key, unevaluated product) of {(key, base): power}, coefficients first, sign in front."""
    ordered = sorted(powers.items(), key=lambda item: item[0][0])
    factors = []
    for (_, base), power in ordered:
        if isinstance(base, sympy.Add) and all(_is_negated(t) for t in base.args):
            base = sympy.Add(*[_negated(t) for t in base.args], evaluate=False)  # c*(-a - b) reads -c*(a + b)
            negative ^= power % 2 == 1
        factors.append(base if power == 1 else sympy.Pow(base, power, evaluate=False))
    key = tuple((factor_key, power) for (factor_key, _), power in ordered) + (((-1,), 1),) * negative
    if negative and factors and factors[0].is_Number:
        factors[0], negative = -factors[0], False  # -(1/12)*a3 reads -1/12*a3
    if negative:
        factors.insert(0, sympy.S.NegativeOne)
    if not factors:
        return key, sympy.S.One
    return key, factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False)


# -- variants -------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def operation_cost(expr: sympy.Expr) -> int:
    """Adds and multiplies per point, the atoms ``a<i>`` varying and everything else invariant."""
    from symsim.op_count import count_operations

    atoms = [s for s in expr.free_symbols if s.name.startswith("a") and s.name[1:].isdigit()]
    return count_operations([expr], coordinates=atoms)["cost"]


def _alternatives(egraph: EGraph, poly: Ex, part: Polynomial, coefficients: _CoefficientTable,
                  count: int) -> tuple[list[sympy.Expr], int]:
    """Cheapest forms of one component and how many extracted forms were rejected.

    The forms are the root e-class's cheapest choices (the best among them),
    ordered by operation cost, then by structure (not by egglog's order, which
    varies between runs). Each is checked against the input by expanding it:
    egglog 13.2 can store a wrong MultiSet (see the module notes), and a wrong
    form must never reach the lead. The unfactored input is the fallback.
    """
    expected = _expected_expansion(part, coefficients)
    keyed, rejected = {}, 0
    for term in egraph.extract_multiple(poly, 2 * count):
        plain = _plain(term)
        if _expansion(plain) != expected:
            rejected += 1
            continue
        key, form = _keyed_sympy(plain, coefficients)
        keyed[key] = form
    if not keyed:
        return [_sum([_monomial_form(m, c) for m, c in part.items()])], rejected
    ranked = sorted(keyed.items(), key=lambda item: (operation_cost(item[1]), item[0]))
    return [form for _, form in ranked[:count]], rejected


def _combine(alternatives: list[list[sympy.Expr]], count: int) -> list[sympy.Expr]:
    """Variant 0 takes every component's best form; each further variant swaps one
    component for an alternative, the least costly swaps first."""
    if not alternatives:
        return [sympy.S.Zero]
    best = [forms[0] for forms in alternatives]
    costs = [[operation_cost(form) for form in forms] for forms in alternatives]
    swaps = sorted((cost[k] - cost[0], part, k) for part, cost in enumerate(costs) for k in range(1, len(cost)))
    choices = [best] + [best[:part] + [alternatives[part][k]] + best[part + 1:] for _, part, k in swaps]
    sums = _unique(_sum(choice) for choice in choices)
    return sums[:count]


def _is_negated(term: sympy.Expr) -> bool:
    leading = term.args[0] if isinstance(term, sympy.Mul) else term
    return leading.is_Number and leading.is_negative


def _negated(term: sympy.Expr) -> sympy.Expr:
    """-term for a term built by ``_keyed_monomial`` (a leading -1 or negative number)."""
    if not isinstance(term, sympy.Mul):
        return -term
    leading, rest = term.args[0], list(term.args[1:])
    factors = rest if leading == -1 else [-leading, *rest]
    return factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False)


def _sum(terms: list[sympy.Expr]) -> sympy.Expr:
    """Unevaluated flat sum, in the given order (nested sums are spliced in)."""
    flat = [t for term in terms for t in sympy.Add.make_args(term)]
    return flat[0] if len(flat) == 1 else sympy.Add(*flat, evaluate=False)


def _unique(exprs) -> list[sympy.Expr]:
    return list(dict.fromkeys(exprs))  # structural equality, first occurrence kept
