"""Checks shared by the backend tests."""

import ast

import numpy as np
import sympy


def relative_difference(a, b) -> float:
    """max |a - b| / max |a|: how far a backend's answer is from the reference's."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


def imported_modules(source: str) -> set:
    """Top-level names of every module a generated source imports (a standalone module's dependencies)."""
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    return imported


DIGITS = 50


class Unmeasurable(Exception):
    """A function's argument is too large to evaluate the function in bounded time."""


def value_at(expr, point: dict, argument_bound: float = 1e6) -> complex | None:
    """``expr`` at ``point``, node by node in 50-digit arithmetic; None where it cannot be measured.

    Random expressions nest functions: sin(exp(x**27)) at x = 2 asks mpmath for pi to
    ~10**7 digits, and tanh of a huge number for a number with a huge exponent, which
    runs for hours or raises MemoryError. sympy's ``evalf`` of the whole tree gives no
    way to stop that, so each function is applied only to arguments whose magnitude is
    at most ``argument_bound`` (None otherwise): a test compares expressions only where
    both can be measured. 50 digits leave 20 to spare for cancellation between nodes
    when the test wants ~1e-9 agreement of values up to 1e12 in magnitude.
    """
    number = number_at(expr, point, argument_bound)
    return None if number is None else complex(number)   # zoo and nan come back as nan


def number_at(expr, point: dict, argument_bound: float = 1e6):
    """As ``value_at``, but the 50-digit sympy number (to feed into later statements)."""
    try:
        return _value(expr, point, argument_bound)
    except Unmeasurable:
        return None


def _value(expr, point, bound):
    if expr in point:
        return sympy.sympify(point[expr]).evalf(DIGITS)
    if expr.is_Number:
        return expr.evalf(DIGITS)
    args = [_value(a, point, bound) for a in expr.args]
    if isinstance(expr, sympy.Function) and any(abs(complex(a)) > bound for a in args):
        raise Unmeasurable(expr)
    return expr.func(*args).evalf(DIGITS)


def interrupt_at_save(monkeypatch, count, signal_number=None):
    """Ctrl-C as the run reaches its ``count``-th save (the progress bar's update at that save raises), or
    the signal ``signal_number`` sent to this process there."""
    import os

    import symsim.solve

    calls = []
    original = symsim.solve._Progress.move_to

    def move_to(self, t):
        calls.append(t)
        if len(calls) == count:
            if signal_number is None:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal_number)
        original(self, t)
    monkeypatch.setattr(symsim.solve._Progress, "move_to", move_to)

