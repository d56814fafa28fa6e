"""Parse a user's expression string into SymPy without evaluating Python.

    >>> parse_expression("c*a + c*b - exp(x)**2")
    a*c + b*c - exp(2*x)

SymPy's ``parse_expr`` runs ``eval`` on the text; this walks Python's syntax
tree instead and accepts only numbers, names, + - * / **, unary minus and calls
of the functions in :data:`FUNCTIONS` -- anything else is a
:class:`ExpressionSyntaxError` naming the offending piece and its column.
"""

from __future__ import annotations

import ast
import operator
from fractions import Fraction

import sympy

from .errors import ExpressionSyntaxError


FUNCTIONS = {name: getattr(sympy, name) for name in (
    "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "Abs", "sign", "Min", "Max", "floor", "ceiling")}
FUNCTIONS["abs"] = sympy.Abs
CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
MAX_LENGTH = 10_000
MAX_EXPONENT = 64


def parse_expression(text: str) -> sympy.Expr:
    if len(text) > MAX_LENGTH:
        raise ExpressionSyntaxError(f"expression is longer than {MAX_LENGTH} characters")
    stripped = text.strip()
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        # Python counts columns of the stripped text from 1, and gives 0 for an expression cut short
        if error.offset and 0 < error.offset <= len(stripped):
            where = f"column {error.offset + len(text) - len(text.lstrip())}"
        else:
            where = "the end of the expression"
        raise ExpressionSyntaxError(f"cannot parse {text!r}: {error.msg} at {where}") from None
    expression = _build(tree.body, text)
    if expression.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ExpressionSyntaxError(f"{text!r} is undefined: it divides by zero or takes a logarithm of zero "
                                    f"(SymPy evaluates it to {expression})")
    return expression


def _build(node, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id) or sympy.Symbol(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left, text), _build(node.right, text)
        if isinstance(node.op, ast.Pow) and right.is_number and abs(right) > MAX_EXPONENT:
            # 9**9**9 would make SymPy compute a gigantic integer
            raise ExpressionSyntaxError(f"exponent {right} at column {node.col_offset + 1} is larger than {MAX_EXPONENT}")
        if isinstance(node.op, ast.Pow) and right.is_Float:
            # x**0.5 is sqrt(x): an exponent written as a decimal that is a small fraction is that fraction
            # (so that x**0.5 * x**0.5 is x, not x**1.0)
            fraction = Fraction(float(right)).limit_denominator(1000)
            if float(fraction) == float(right):
                right = sympy.Rational(fraction.numerator, fraction.denominator)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _build(node.operand, text)
        return -value if isinstance(node.op, ast.USub) else value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            and not node.keywords):
        return FUNCTIONS[node.func.id](*[_build(a, text) for a in node.args])
    piece = ast.get_source_segment(text.strip(), node) or type(node).__name__
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        raise ExpressionSyntaxError(
            f"unknown function {node.func.id!r} at column {node.col_offset + 1}; allowed: {', '.join(sorted(FUNCTIONS))}")
    raise ExpressionSyntaxError(f"unsupported syntax {piece!r} at column {node.col_offset + 1} "
                                "(numbers, names, + - * / **, and function calls only)")
