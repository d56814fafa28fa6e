"""Load a model script: run it as a module and take its module-level ``model``.

    >>> model = load_model("gray_scott")     # a path, or the name of a shipped example
    >>> model.name, list(model.field_functions), model.grid.shape
    ('gray_scott', ['u', 'v'], (256, 256))
    >>> load_model("no_such_model")
    Traceback (most recent call last):
    ...
    symsim.errors.ModelScriptError: no_such_model: no such model script

Any failure becomes a :class:`ModelScriptError` that names the script's file and
line, so the CLI can print it as one line.
"""

from __future__ import annotations

import os
import traceback
import types
from pathlib import Path

from .errors import ModelScriptError, SymsimError
from .model import Model

#: shipped examples: inside the installed package, or beside it in a source checkout
EXAMPLE_DIRS = (Path(__file__).resolve().parent / "examples", Path(__file__).resolve().parent.parent / "examples")


def resolve_script(path) -> Path:
    """The script at ``path``; a bare example name ('gray_scott') also finds a shipped example."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.parent.parts:
        # the PINN examples (models on a geometry, which only symsim pinn solves) in their own folder
        for directory in [d / sub for d in EXAMPLE_DIRS for sub in ("", "pinn")]:
            for candidate in (directory / path.name, directory / f"{path.name}.py"):
                if candidate.is_file():
                    return candidate
    raise ModelScriptError(f"{path}: no such model script")


def load_model(path) -> Model:
    """Execute the script at ``path`` and return its ``model`` (a :class:`symsim.Model`)."""
    path = resolve_script(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelScriptError(f"{path}: cannot read the script ({error})") from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as error:
        raise ModelScriptError(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    try:
        exec(code, module.__dict__)
    except SymsimError as error:
        raise type(error)(_with_location(str(error), error, path)) from None
    except Exception as error:  # the user's own code failed: say where, not how symsim looks inside
        raise ModelScriptError(f"{_script_line(error, path)}: {type(error).__name__}: {error}") from None
    model = module.__dict__.get("model")
    if model is None:
        raise ModelScriptError(f"{path}: the script defines no module-level `model` (model = Model(...))")
    if not isinstance(model, Model):
        raise ModelScriptError(f"{path}: `model` is a {type(model).__name__}, not a symsim.Model")
    return model


def _script_line(error: BaseException, path: Path) -> str:
    """'path:LINE' of the deepest traceback frame inside the script."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return f"{path}:{line}" if line is not None else str(path)


def _with_location(message: str, error: BaseException, path: Path) -> str:
    """Prefix a symsim error raised while the script ran with the script line, unless it has one."""
    if f"{path.name}:" in message.split(" ")[0]:
        return message
    return f"{_script_line(error, path)}: {message}"
