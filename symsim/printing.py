"""How every backend prints an expression, and what :mod:`symsim.op_count` counts: the same code.

    x**2 -> x*x     x**-3 -> 1.0/(x*x*x)     x**0.5 -> sqrt(x)     x**4 -> x**4     2/3 -> 0.6666666666666666

One mixin for SymPy's code printers (NumPy, ``math``, PyTorch) fixes the policy
that changes what a point costs -- powers -- and the literals, which decide the
numbers a kernel computes with. :func:`power_operations` states the cost of that
policy for the operation counter, so a reported cost is the cost of the code printed.
"""

from __future__ import annotations

import sympy
from sympy.printing.precedence import PRECEDENCE

#: integer powers up to this magnitude are printed as products (exact, and no call into pow); the
#: e-graph pass writes higher ones by squaring, (x**2)**2, with the compound base named once
PRODUCT_POWERS = 3


def power_operations(exponent) -> dict:
    """Operations of the printed ``base**exponent`` beyond evaluating the base.

        >>> power_operations(sympy.Integer(3)), power_operations(sympy.Integer(-2))
        ({'mul': 2}, {'mul': 1, 'div': 1})
    """
    if exponent.is_Integer and 1 <= abs(exponent) <= PRODUCT_POWERS:
        counts = {"mul": int(abs(exponent)) - 1}
        return counts | ({"div": 1} if exponent < 0 else {})
    if exponent == sympy.S.Half:
        return {"call": 1}
    if exponent == -sympy.S.Half:
        return {"call": 1, "div": 1}
    return {"pow": 1}


class KernelPrinting:
    """Mixin for SymPy code printers (put it first among the bases).

    Numbers print as the exact double the kernels compute with: ``repr`` round-trips a
    double (SymPy's default prints 15 digits), and a rational becomes its nearest
    double once, at render time, instead of a division per call. Small integer powers
    print as products.
    """

    def _print_Float(self, number) -> str:
        return repr(float(number))

    def _print_Rational(self, number) -> str:
        return repr(float(number))

    def _print_Pow(self, power, rational=False):
        base, exponent = power.args
        if exponent.is_Integer and 1 <= abs(exponent) <= PRODUCT_POWERS:
            factor = self.parenthesize(base, PRECEDENCE["Mul"])
            product = "*".join([factor] * int(abs(exponent)))
            if exponent > 0:
                # parenthesized: SymPy places a power as a divisor without parentheses
                return product if exponent == 1 else f"({product})"
            return f"(1.0/{factor})" if exponent == -1 else f"(1.0/({product}))"
        return super()._print_Pow(power, rational=True) if rational else super()._print_Pow(power)

    def _chain(self, function: str, args) -> str:
        """``function`` applied pairwise from the left: f(f(a, b), c), for backends' two-argument functions."""
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{function}({text}, {self._print(arg)})"
        return text
