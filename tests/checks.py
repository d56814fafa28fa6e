"""Checks shared by the backend tests."""

import ast

import numpy as np


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
