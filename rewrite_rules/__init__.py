"""E-graph rewrite rules (egglog) for the kernels and expressions symsim simplifies.

    c0*a1 + c0*a2 + c1*a0              ->   c0*(a1 + a2) + c1*a0      (polynomial e-graph)
    exp(u)*exp(v) + sin(w)**2 + cos(w)**2   ->   exp(u + v) + 1        (term e-graph)

Two e-graphs, each an encoding plus an engine, with rule sets one theme per file:

- ``polynomial_egraph``: sums of products of opaque atoms as one ``Poly`` node over
  multisets (associativity and commutativity free); :func:`factor_polynomials`
  returns a few factored variants per polynomial. Rules: ``factoring``.
- ``term_egraph``: general scalar terms -- numbers, leaves, n-ary sums and
  products, powers, reciprocals, calls -- with a SymPy bridge;
  :func:`simplify_terms` returns a few cheaper forms per term. Rules:
  ``identities``, ``powers``, ``reciprocals``, ``transcendental``.
- ``schedule``: the order the rule sets run in and the node, iteration and time limits of both.

``symsim.simplify`` runs the term e-graph on right-hand sides (and, recursively,
on the insides of atoms: call arguments, power bases, varying denominators),
hoists loop invariants into named coefficients, hands the resulting polynomials
to the polynomial e-graph, and scores the variants after SymPy's ``cse``.

Where each kind of rewrite lives:

| rewrite                                    | where                                                         |
|--------------------------------------------|---------------------------------------------------------------|
| associativity, commutativity               | free: sums and products are multisets (both e-graphs)         |
| c*a + c*b -> c*(a + b)                     | ``factoring`` (egglog, polynomial e-graph)                    |
| x + 0, x*1, x*0, x - x, -(-x), folding     | ``identities`` (egglog); SymPy's evaluation before, too       |
| x*x <-> x**2, x**n as multiplies           | ``powers`` (egglog); the polynomial e-graph: repeated factors |
| x**-1 -> 1/x, x**-n -> 1/x**n, x**(1/2)    | ``powers`` (egglog)                                           |
| a / (invariant) -> a * hoisted reciprocal  | ``reciprocals`` (egglog); kernels: ``symsim.simplify.hoist_invariants`` |
| a/b + c/b -> (a + c)/b, 1/a * 1/b          | ``reciprocals`` (egglog); kernels: also ``factoring`` (1/b is an atom) |
| exp(a)*exp(b) -> exp(a + b), sin^2+cos^2   | ``transcendental`` (egglog)                                   |
| insides of calls, powers, denominators     | ``symsim.simplify``: the same pass, recursively               |
| subterms shared between equations          | variants scored together after ``cse`` (``symsim.simplify``)  |
"""

import importlib

#: public name -> the module that defines it (imported on first use: egglog loads with it)
_EXPORTS = {"EGraphResult": "schedule", "Monomial": "polynomial_egraph", "Polynomial": "polynomial_egraph",
            "factor_polynomials": "polynomial_egraph", "operation_cost": "polynomial_egraph",
            "DEFAULT_LIMITS": "schedule", "DEFAULT_TERM_LIMITS": "schedule", "Limits": "schedule",
            "simplify_terms": "term_egraph", "term_cost": "term_egraph"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
