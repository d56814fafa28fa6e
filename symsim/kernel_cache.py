"""On-disk cache of generated kernel modules, keyed by a hash of the IR, the backend and its options.

    <cache>/kernels/symsim_gray_scott_numba_3f9c0d2a61b7e845.py     generated source (Numba caches
    <cache>/kernels/symsim_gray_scott_numba_3f9c0d2a61b7e845.json   its machine code in __pycache__)

``<cache>`` is ``$SYMSIM_CACHE_DIR``, else the platform's user cache directory
(platformdirs: ``$XDG_CACHE_HOME/symsim`` or ``~/.cache/symsim`` on Linux). A second
run of the same model finds the module, skips the
e-graph pass and rendering, and Numba loads the compiled kernels instead of
compiling them again (``cache=True`` needs the module imported from a file under
its own name, which :func:`load_module_file` does).

Several processes may compile the same model at once: each writes its files to a
temporary name and links them into place only if no other process got there
first, so a module file is never rewritten (that would make Numba discard its
cached kernels) and never read half-written; the metadata file is written last
and marks the entry complete. Numba's own cache files are written the same way
(temporary file, then rename).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import sympy

from .ir import LoweredModel


def cache_root() -> Path:
    """``$SYMSIM_CACHE_DIR``, else the platform's user cache directory (platformdirs)."""
    if os.environ.get("SYMSIM_CACHE_DIR"):
        return Path(os.environ["SYMSIM_CACHE_DIR"])
    import platformdirs
    return Path(platformdirs.user_cache_dir("symsim", appauthor=False))


def ir_fingerprint(lowered: LoweredModel) -> str:
    """Canonical text of everything in the IR a kernel depends on (not initial values)."""
    parts = [repr(lowered.name), repr(lowered.space_order), repr(lowered.halo), repr(lowered.fields),
             repr(sorted(lowered.parameters.items())), repr(lowered.equations)]
    parts += [repr((a.name, a.start, a.stop, a.points, a.periodic, a.spacing)) for a in lowered.axes]
    parts += [repr(lowered.exchanged)] if lowered.exchanged else []
    parts += ["overlap"] if lowered.overlap else []
    parts += [f"{f}: {sympy.srepr(lowered.rhs[f])}" for f in lowered.fields]
    parts += [repr((w.field, w.axis, w.side, w.kind, sympy.srepr(w.value), w.neumann_weights, w.ghost_weights))
              for w in lowered.walls]
    return "\n".join(parts)


@functools.lru_cache(maxsize=1)
def compiler_fingerprint() -> str:
    """Hash of the code between the IR and the rendered source (optimization passes, backends).

    A changed renderer must not be served an old module under the same IR, even
    before the version number moves.
    """
    package = Path(__file__).resolve().parent
    files = []
    for stage in ("codegen", "rewrite_rules"):   # found, not imported (installed inside the package or beside it)
        folder = Path(importlib.util.find_spec(f"symsim.{stage}").submodule_search_locations[0])
        files += sorted(folder.rglob("*.py"))
    files += [package / name for name in ("simplify.py", "op_count.py", "printing.py", "tableaus.py", "ir.py",
                                          "kernel_cache.py")]
    digest = hashlib.sha256()
    for path in files:
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cache_key(lowered: LoweredModel, target: str, options: dict) -> str:
    """Hash of the IR, the backend, its options and the versions of what renders and compiles it."""
    from . import __version__
    versions = {"symsim": __version__, "python": sys.version.split()[0], "compiler": compiler_fingerprint()}
    try:       # the installed version, read without importing Numba (0.2 s) to ask whether a kernel is cached
        versions["numba"] = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        pass
    text = json.dumps({"ir": ir_fingerprint(lowered), "target": target, "options": options,
                       "versions": versions}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _entry(directory: Path, name: str, key: str) -> tuple[str, Path, Path]:
    """The module name of entry ``name`` for ``key``, and the paths of its source and metadata."""
    module_name = f"symsim_{_identifier(name)}_{key}"
    return module_name, directory / f"{module_name}.py", directory / f"{module_name}.json"


def is_cached(name: str, key: str) -> bool:
    """Whether :func:`load_or_build` would find module ``name`` for ``key`` (nothing built or loaded)."""
    _, source_path, metadata_path = _entry(cache_root() / "kernels", name, key)
    return source_path.exists() and metadata_path.exists()


@dataclass
class CacheEntry:
    module: types.ModuleType
    source: str
    metadata: dict
    hit: bool             # True when the module came from the cache (nothing was generated)
    path: Path


def load_or_build(name: str, key: str, build) -> CacheEntry:
    """The cached module ``name`` for ``key``, or ``build() -> (source, metadata)`` stored then loaded."""
    module_name, source_path, metadata_path = _entry(_writable_directory(cache_root() / "kernels"), name, key)
    hit = source_path.exists() and metadata_path.exists()
    if hit:
        source = source_path.read_text(encoding="utf-8")
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    else:
        source, metadata = build()
        _publish(source_path, source)
        _publish(metadata_path, json.dumps(metadata, sort_keys=True))
        source = source_path.read_text(encoding="utf-8")   # another process's identical copy may have won
    module = load_module_file(source_path, module_name)
    return CacheEntry(module, source, metadata, hit, source_path)


def load_module_file(path: Path, module_name: str) -> types.ModuleType:
    """Import ``path`` as ``module_name`` and register it in sys.modules (Numba's cache needs both)."""
    if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) == str(path):
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _publish(path: Path, text: str) -> None:
    """Create ``path`` with ``text`` unless it exists; never expose a partly written file."""
    if path.exists():
        return
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            os.link(temporary, path)        # fails if another process published first: keep theirs
        except FileExistsError:
            pass
        except OSError:
            os.replace(temporary, path)     # file systems without hard links
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _writable_directory(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"symsim-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    warnings.warn(f"kernel cache {directory} is not writable; using {fallback} (set SYMSIM_CACHE_DIR)",
                  stacklevel=3)
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)
