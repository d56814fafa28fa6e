"""The e-graph pass: rewrite a lowered kernel to its cheapest equivalent form.

Running example (Gray-Scott, order 2)::

    lowered   Du*((u[x+1,y] + u[x-1,y] - 2*u[x,y])/h_x**2 + (...)/h_y**2) - u*v**2 + F*(1 - u)
    hoisted   c0 = Du/h_x**2, c1 = Du/h_y**2, c2 = -2*Du/h_x**2 - 2*Du/h_y**2 - F, ...  (once per call)
    factored  c0*(u[x+1,y] + u[x-1,y]) + c1*(u[x,y+1] + u[x,y-1]) + u*(c2 - v*v) + F

Four steps, each a small function:

0. :class:`FormSimplifier` runs the term e-graph (``rewrite_rules.simplify_terms``:
   identities, powers, reciprocals, transcendental identities) on each
   right-hand side that has a division, a power or a call, and keeps the
   cheapest form, e.g. ``exp(u)*exp(v) -> exp(u + v)``.
1. :func:`hoist_invariants` (the front end) expands each right-hand side into
   terms, splits every term into a loop-invariant coefficient (parameters,
   spacings, ``t``, numbers) and a varying monomial of atoms (stencil accesses,
   coordinates, calls and reciprocals of varying arguments), and names each
   distinct coefficient once for the whole kernel -- divisions by invariants
   become multiplications by hoisted reciprocals. The inside of each opaque
   atom (call arguments, power bases, varying denominators) is simplified by
   the same pass, recursively: ``sin(c*a + c*b) -> sin(c*(a + b))``.
2. ``rewrite_rules.factor_polynomials`` runs the e-graph over the polynomials of
   all equations at once and returns a few cheap factored variants of each.
3. :func:`egraph_kernel` scores combinations of variants after SymPy's ``cse``
   (so sharing across equations is paid once) with the cycle cost model of
   :mod:`symsim.op_count`, and keeps the cheapest -- never worse than ``cse``
   alone, which is always a candidate, and the step-0 forms are one more
   candidate (expansion in step 1 undoes ``a/b + c/b -> (a + c)/b``).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import sympy

from .ir import Kernel, LoweredModel
from .op_count import count_operations, varies
from .printing import PRODUCT_POWERS

#: a right-hand side whose expansion has more terms than this keeps its factored form
MAX_EXPANDED_TERMS = 400
#: most variant combinations scored with cse before falling back to per-equation choice
MAX_COMBINATIONS = 243


def cse_kernel(lowered: LoweredModel) -> Kernel:
    """The lowered right-hand sides after SymPy's common-subexpression elimination alone."""
    return _cse(lowered.fields, [_evaluated(lowered.rhs[f], {}) for f in lowered.fields], ())


def lowered_kernel(lowered: LoweredModel) -> Kernel:
    """The lowered right-hand sides as they are (for cost reports)."""
    return Kernel(invariants=(), temporaries=(), outputs=dict(lowered.rhs))


def kernel_cost(kernel: Kernel, lowered: LoweredModel, varying=()) -> dict:
    """Operation counts per grid point (hoisted invariants excluded), see :mod:`symsim.op_count`; besides
    stencil accesses and coordinates, the symbols in ``varying`` change from point to point."""
    return count_operations(kernel.outputs.values(), kernel.temporaries,
                            coordinates={*lowered.coordinate_symbols, *varying})


@dataclass(frozen=True)
class Hoisted:
    """Right-hand sides as polynomials over atoms with hoisted invariant coefficients."""

    polynomials: list           # per field: {monomial: number}, monomial = ((atom index, power), ...)
    atoms: list                 # atom index -> SymPy expression (varying values and named invariants)
    invariants: tuple           # ((symbol, expression), ...)
    opaque: dict                # field -> expression kept as is (too large to expand)


def egraph_kernel(lowered: LoweredModel, time_limit: float = 1.5, varying=()) -> tuple[Kernel, dict]:
    """The cheapest kernel found by the e-graph pass, and a report of what it did.

    The right-hand sides are expressions over varying atoms: stencil accesses, the coordinates and
    the symbols in ``varying`` (the continuous form's derivatives); everything else is invariant.
    """
    from .rewrite_rules import factor_polynomials

    started = time.perf_counter()
    deadline = started + time_limit
    baseline = cse_kernel(lowered)
    varying = {*lowered.coordinate_symbols, *varying}
    rhs = {f: _evaluated(lowered.rhs[f], {}) for f in lowered.fields}
    simplifier = FormSimplifier(varying, deadline)
    forms = dict(zip(rhs, (simplifier.best(options) for options in simplifier.term_forms(list(rhs.values())))))
    hoisted = hoist_invariants(lowered, forms, varying)
    expandable = [f for f in lowered.fields if f not in hoisted.opaque]
    polynomials = [hoisted.polynomials[lowered.fields.index(f)] for f in expandable]
    result = factor_polynomials(polynomials, time_limit=max(deadline - time.perf_counter(), 0.1))
    placeholders = {sympy.Symbol(f"a{i}"): simplifier.atom(atom) for i, atom in enumerate(hoisted.atoms)}
    variants = [[v.xreplace(placeholders) for v in options] for options in result.variants]

    candidates = [("cse", baseline)]
    if forms != rhs:
        candidates.append(("terms", _cse(lowered.fields, [forms[f] for f in lowered.fields], ())))
    for choice in _combinations(variants):
        outputs = dict(zip(expandable, choice))
        outputs.update(hoisted.opaque)
        expressions = [outputs[f] for f in lowered.fields]
        candidates.append(("egraph", _cse(lowered.fields, expressions, hoisted.invariants)))
    costs = [kernel_cost(k, lowered, varying)["cost"] for _, k in candidates]
    best = min(range(len(candidates)), key=lambda i: (costs[i], i))
    report = {"enodes": result.enodes, "iterations": result.iterations, "saturated": result.saturated,
              "candidates": len(candidates), "chosen": candidates[best][0],
              "seconds": time.perf_counter() - started}
    return candidates[best][1], report


def _combinations(variants: list[list]):
    """All combinations of per-equation variants, or the first-choice ones when there are too many."""
    total = 1
    for options in variants:
        total *= max(len(options), 1)
    if total <= MAX_COMBINATIONS:
        yield from itertools.product(*variants)
        return
    for k in range(max(len(v) for v in variants)):
        yield tuple(options[min(k, len(options) - 1)] for options in variants)


def _cse(fields, expressions, invariants) -> Kernel:
    replacements, reduced = sympy.cse(list(expressions), symbols=sympy.numbered_symbols("tmp"), order="none")
    temporaries, reduced = name_power_bases(replacements, reduced)
    return Kernel(invariants=tuple(invariants), temporaries=temporaries, outputs=dict(zip(fields, reduced)))


def name_power_bases(temporaries, expressions) -> tuple[tuple, list]:
    """Every compound base of a small integer power becomes a temporary of its own.

        (a - b)**2   ->   base0 = a - b;  base0**2      (printed base0*base0: a - b once)

    Backends print small powers as products (:mod:`symsim.printing`), which would
    repeat a compound base; named, it is evaluated once, as the operation count assumes.
    """
    names = sympy.numbered_symbols("base")
    named: dict = {}
    result: list = []

    def visit(expr):
        if expr.is_Atom or not expr.args:
            return expr
        args = [visit(a) for a in expr.args]
        if isinstance(expr, sympy.Pow) and expr.exp.is_Integer and 2 <= abs(expr.exp) <= PRODUCT_POWERS \
                and not args[0].is_Atom:
            if args[0] not in named:
                named[args[0]] = next(names)
                result.append((named[args[0]], args[0]))
            return sympy.Pow(named[args[0]], expr.exp, evaluate=False)
        if args == list(expr.args):
            return expr
        # Piecewise's (value, condition) pairs and the conditions themselves take no evaluate flag
        return expr.func(*args, evaluate=False) if isinstance(expr, sympy.Expr) and \
            not isinstance(expr, sympy.Piecewise) else expr.func(*args)

    for symbol, expr in temporaries:
        result.append((symbol, visit(expr)))
    outputs = [visit(e) for e in expressions]
    return tuple(result), outputs


def simplify_expression(expr, time_limit: float = 1.5) -> tuple[sympy.Expr, dict, dict]:
    """(cheapest form, cost before, cost after) of a standalone expression.

    Every symbol counts as a per-point value; only numbers are invariant.
        >>> a, b, c = sympy.symbols("a b c")
        >>> simplify_expression(c*a + c*b)[0]
        c*(a + b)
    """
    varying = set(expr.free_symbols)
    simplifier = FormSimplifier(varying, time.perf_counter() + time_limit)
    best = simplifier.best(simplifier.candidates(expr))
    return best, _expression_cost(expr, varying), _expression_cost(best, varying)


class FormSimplifier:
    """The term and polynomial e-graphs on an expression and, recursively, on the insides
    of its atoms (call arguments, power bases and exponents), for one set of varying symbols.

        >>> u, v, c = sympy.symbols("u v c")
        >>> simplifier = FormSimplifier({u, v, c}, time.perf_counter() + 1)
        >>> simplifier.best(simplifier.candidates(sympy.exp(c*u + c*v)*sympy.exp(v)))
        exp(c*(u + v) + v)

    Results are remembered per expression: atoms recur (within a kernel, and between
    the right-hand sides and their hoisted polynomials). E-graph runs stop at ``deadline``
    (``time.perf_counter()``); then every expression is its own only candidate.
    """

    def __init__(self, varying: set, deadline: float):
        self.varying = varying
        self.deadline = deadline
        self._candidates: dict = {}
        self._costs: dict = {}

    def cost(self, expr) -> int:
        if expr not in self._costs:
            self._costs[expr] = _expression_cost(expr, self.varying)["cost"]
        return self._costs[expr]

    def best(self, candidates: list):
        """The cheapest of ``candidates``, the earliest on a tie (callers list the input first)."""
        return min(candidates, key=self.cost)

    def candidates(self, expr) -> list:
        """``expr``, its term e-graph forms, and the factored forms of ``expr`` and of the best
        term form (factoring expands sums, which undoes a/b + c/b -> (a + c)/b)."""
        if expr not in self._candidates:
            (terms,) = self.term_forms([expr])
            found = terms + self.factored_forms(expr)
            if self.best(terms) != expr:
                found += self.factored_forms(self.best(terms))
            self._candidates[expr] = _unique_forms(found)
        return self._candidates[expr]

    def term_forms(self, exprs: list) -> list[list]:
        """Each expression followed by its term e-graph forms (one e-graph for all). The
        term e-graph opens calls and powers, so this covers their insides too; an expression
        with no per-point division, power or call is left alone (SymPy's evaluation has
        done what the term rules could)."""
        from .rewrite_rules import DEFAULT_TERM_LIMITS, Limits, simplify_terms

        forms = [[e] for e in exprs]
        opened = [i for i, e in enumerate(exprs) if _opens(e, self.varying)]
        left = self.deadline - time.perf_counter()
        if left <= 0 or not opened:
            return forms
        limits = Limits(DEFAULT_TERM_LIMITS.max_iterations, DEFAULT_TERM_LIMITS.node_limit,
                        min(DEFAULT_TERM_LIMITS.time_limit, left))
        result = simplify_terms([exprs[i] for i in opened], self.varying, limits=limits)
        for i, variants in zip(opened, result.variants):
            forms[i] = _unique_forms(forms[i] + variants)
        return forms

    def factored_forms(self, expr) -> list:
        """Factored forms of ``expr`` as a polynomial over its atoms, each atom simplified inside."""
        from .rewrite_rules import factor_polynomials

        atoms: dict = {}
        grouped = _group_terms(expr, self.varying, lambda a: atoms.setdefault(a, len(atoms))) or {}
        polynomial = {m: c for m, c in grouped.items() if c != 0}
        placeholders = {sympy.Symbol(f"a{i}"): self.atom(atom) for atom, i in atoms.items()}
        if len(polynomial) < 2 or time.perf_counter() > self.deadline:
            # nothing to factor, but the atoms' insides may have simplified (the atoms are
            # those of the expansion, which also expands call arguments: rebuild from them)
            return [sympy.Add(*[coefficient * sympy.Mul(*[placeholders[sympy.Symbol(f"a{i}")] ** power
                                                          for i, power in monomial])
                                for monomial, coefficient in polynomial.items()])]
        result = factor_polynomials([polynomial], time_limit=max(self.deadline - time.perf_counter(), 0.05))
        return [v.xreplace(placeholders) for v in result.variants[0]]

    def atom(self, atom):
        """``atom`` with its varying insides factored: the polynomial pass, one level down.

        (The term e-graph has already seen the insides: it opens calls and powers.)
        """
        if not (isinstance(atom, (sympy.Function, sympy.Pow)) and varies(atom, self.varying)):
            return atom
        if isinstance(atom, sympy.Piecewise):
            return atom     # its arguments are (expression, condition) pairs, not expressions
        args = [self.best([a, *self.factored_forms(a)])
                if isinstance(a, sympy.Expr) and varies(a, self.varying) and not a.is_Atom else a
                for a in atom.args]
        if args == list(atom.args):
            return atom
        if isinstance(atom, sympy.Pow):
            return sympy.Pow(*args, evaluate=False)
        return atom.func(*args)


def _opens(expr, varying: set) -> bool:
    """True when ``expr`` has per-point divisions, powers or calls: the term e-graph's business."""
    counts = count_operations([expr], coordinates=varying)
    return counts["div"] + counts["pow"] + counts["call"] > 0


def _unique_forms(exprs) -> list:
    return list(dict.fromkeys(exprs))  # structural equality, first occurrence kept


def _expression_cost(expr, varying: set) -> dict:
    """Cost of evaluating ``expr`` once, a repeated subterm paid once (after cse)."""
    replacements, reduced = sympy.cse([expr], symbols=sympy.numbered_symbols("tmp"), order="none")
    return count_operations(reduced, replacements, coordinates=varying)


# -- front end: hoist loop invariants -----------------------------------------------

def hoist_invariants(lowered: LoweredModel, rhs: dict | None = None, varying=None) -> Hoisted:
    """Polynomials over varying atoms with named invariant coefficients shared by all equations.

    ``rhs`` (field -> expression) replaces the lowered right-hand sides, e.g. by their term e-graph forms;
    ``varying``: the symbols that change from point to point (default: the coordinates).
    """
    varying = set(lowered.coordinate_symbols) if varying is None else set(varying)
    atoms: dict = {}
    coefficient_names: dict = {}
    invariants = []
    polynomials, opaque = [], {}

    def atom_index(expr) -> int:
        if expr not in atoms:
            atoms[expr] = len(atoms)
        return atoms[expr]

    spacing = lowered.spacing

    def coefficient(expr):
        """invariant expression -> (sign or number, named invariant or None).

        One name per distinct magnitude: a stencil then costs one multiply per
        distinct weight, and c*a - c*b can become c*(a - b). (Sharing a name up to
        any numeric factor was measured worse: every weight then needs its own
        multiply by a number.)"""
        if expr.is_number:
            return expr, None
        number, rest = sympy.Integer(1), sympy.cancel(expr)
        if rest.could_extract_minus_sign():
            number, rest = -number, -rest
        # equal values share a name: D/h_x**2 and D/h_y**2 on a square grid are one invariant
        key = sympy.cancel(rest.subs(spacing))
        if key not in coefficient_names:
            symbol = sympy.Symbol(f"c{len(coefficient_names)}")
            coefficient_names[key] = symbol
            invariants.append((symbol, rest))
        return number, coefficient_names[key]

    for field in lowered.fields:
        expr = rhs[field] if rhs is not None else _evaluated(lowered.rhs[field], {})
        grouped = _group_terms(expr, varying, atom_index)
        if grouped is None:
            opaque[field] = expr
            polynomials.append({})
            continue
        polynomial = {}
        for monomial, invariant_part in grouped.items():
            invariant_part = sympy.expand(invariant_part)
            if invariant_part == 0:
                continue
            number, name = coefficient(invariant_part)
            if name is not None:
                # the named invariant is a factor like any other, open to factoring
                monomial = tuple(sorted(monomial + ((atom_index(name), 1),)))
            polynomial[monomial] = polynomial.get(monomial, 0) + number
        polynomials.append({m: c for m, c in polynomial.items() if c != 0})
    ordered_atoms = sorted(atoms, key=atoms.get)
    return Hoisted(polynomials, ordered_atoms, tuple(invariants), opaque)


def _group_terms(expr, varying: set, atom_index) -> dict | None:
    """Expanded ``expr`` as {monomial: sum of the invariant parts of its terms}; None if too large to expand."""
    terms = sympy.Add.make_args(sympy.expand(expr, power_base=False, power_exp=False, log=False))
    if len(terms) > MAX_EXPANDED_TERMS:
        return None
    grouped: dict = {}
    for term in terms:
        invariant_part, monomial = _split_term(term, varying, atom_index)
        grouped[monomial] = grouped.get(monomial, 0) + invariant_part
    return grouped


def _split_term(term, varying: set, atom_index):
    """term -> (invariant factor, monomial ((atom, power), ...)) with positive integer powers."""
    invariant, powers = [], {}
    for factor in sympy.Mul.make_args(term):
        if not varies(factor, varying):
            invariant.append(factor)
            continue
        base, exponent = factor.as_base_exp()
        if exponent.is_Integer and exponent > 0 and (base.is_Symbol or not base.is_Pow):
            index, power = atom_index(base), int(exponent)
        elif exponent.is_Integer and exponent < 0:
            # a reciprocal is its own atom: one division per point, then multiplications
            index, power = atom_index(sympy.Pow(base, -1)), int(-exponent)
        else:
            index, power = atom_index(factor), 1
        powers[index] = powers.get(index, 0) + power
    return sympy.Mul(*invariant), tuple(sorted(powers.items()))


def _evaluated(expr, cache: dict):
    """``expr`` rebuilt bottom-up with SymPy's automatic evaluation (same value, canonical form).

    SymPy's cse mis-handles an unevaluated Rational*Add (which diff() itself
    produces, e.g. cos((5*t - 12*y + 2)/10)) when the distributed form also occurs.
    """
    if expr.is_Atom or not expr.args:
        return expr
    if expr not in cache:
        cache[expr] = expr.func(*[_evaluated(a, cache) for a in expr.args])
    return cache[expr]
