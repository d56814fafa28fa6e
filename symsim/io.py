"""Atomic file and directory outputs.

Every file symsim writes (results, pictures, generated sources) goes through
these helpers, so that an interrupted or failing run never leaves a truncated
file behind: the content is written to a temporary file next to the target and
moved onto it with :func:`os.replace` only once it is complete.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = atomic_write_text(Path(folder) / "out" / "notes.txt", "hello\\n")
    ...     print(path.read_text(), end="")
    ...     print(sorted(p.name for p in path.parent.iterdir()))  # no temporary file left behind
    hello
    ['notes.txt']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import OptionError

__all__ = ["atomic_write", "atomic_write_text", "atomic_directory", "check_output_file"]


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    """Best effort: make a rename in ``directory`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file atomically: ``write(fileobj)`` fills a temporary file that then replaces ``path``.

    Missing parent directories are created. If ``write`` (or anything else)
    raises, the temporary file is removed and an existing ``path`` is left
    untouched; the exception propagates.
    """
    with atomic_file(path) as staged, open(staged, "wb") as fileobj:
        write(fileobj)
        fileobj.flush()
        os.fsync(fileobj.fileno())
    return Path(path)


@contextlib.contextmanager
def atomic_file(path) -> Iterator[Path]:
    """The path of a fresh temporary file beside ``path``, for a writer that needs a file name (a NetCDF
    library, say); it replaces ``path`` when the ``with`` block ends, or is removed if the block raises."""
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=directory, prefix="." + path.name + ".", suffix=".tmp")
    os.close(descriptor)
    staged = Path(name)
    try:
        # Temporary files are created 0600; give the result ordinary permissions
        # (those of the file it replaces, else 0666 minus the umask).
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(staged, mode)
        yield staged
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    _fsync_dir(directory)


def check_output_file(path, option: str, size: int = 0) -> Path:
    """Before any long work: ``path`` can be written, and its disk has room for about ``size`` bytes.

    Not a directory; its folder exists or is created and takes a new file (probed with a temporary
    file, removed at once); ``size`` fits in the free space. Raises OptionError naming ``option``.
    """
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"{option} {path}: is a directory; give a file name")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as error:
        raise OptionError(f"{option} {path}: cannot write there ({error.strerror or error})") from None
    free = shutil.disk_usage(folder).free
    if size > free:
        raise OptionError(f"{option} {path}: the result needs about {size / 2**20:.0f} MiB and {folder} has "
                          f"{free / 2**20:.0f} MiB free")
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


@contextlib.contextmanager
def atomic_directory(path) -> Iterator[Path]:
    """Build a directory atomically.

    Yields a fresh temporary directory next to ``path``; fill it inside the
    ``with`` block. On success it is renamed onto ``path`` (an existing
    directory there is first renamed away, then removed once the new one is in
    place). On failure the temporary directory is removed and ``path`` is left
    as it was.

        with atomic_directory("build/model") as d:
            (d / "model.c").write_text(source)
    """
    path = Path(path)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix="." + path.name + ".", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    old = None
    try:
        if path.exists() or path.is_symlink():
            if path.is_dir() and not path.is_symlink():
                old = Path(tempfile.mkdtemp(dir=parent, prefix="." + path.name + ".", suffix=".old"))
                old.rmdir()  # only reserve a unique name; os.rename needs it absent
                os.rename(path, old)
            else:
                path.unlink()
        os.rename(tmp, path)
    except BaseException:
        # Put the previous directory back if the new one could not be moved in.
        if old is not None and not path.exists():
            with contextlib.suppress(OSError):
                os.rename(old, path)
                old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None and path.exists():
            shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(parent)
