"""Model-independent code that generated modules inline verbatim: real modules, imported and tested.

Each template starts with stand-ins for what a generated module defines before the
template's text (its fields, parameters, right-hand side); the text after
:data:`INLINED_FROM` is copied into every generated module unchanged.

    >>> print(inlined_text("ensemble").splitlines()[0])    # what a Numba module of an ODE model carries
    def parameter_matrix(params, batch):
"""

from __future__ import annotations

from pathlib import Path

#: the line after which a template's text is inlined into generated modules
INLINED_FROM = "# -- inlined verbatim into generated modules from here on --"


def inlined_text(name: str) -> str:
    """The part of template ``name`` that generated modules carry (everything after the marker line)."""
    text = (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
    _, marker, inlined = text.partition(INLINED_FROM + "\n")
    if not marker:
        raise ValueError(f"template {name!r} has no line {INLINED_FROM!r}")
    return inlined.strip("\n") + "\n"
