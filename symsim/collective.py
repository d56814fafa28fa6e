"""Reductions over the processes that run one model together: one process, or the ranks of a decomposed grid.

    >>> ONE_PROCESS.sum(2.5), ONE_PROCESS.max(3.0), ONE_PROCESS.first(None), ONE_PROCESS.is_root
    (2.5, 3.0, None, True)

The time loop (:func:`symsim.solve.integrate`) and the adaptive stepper reduce through one of
these wherever a number depends on the whole grid: the spectrum bound behind the suggested
step, the largest initial magnitude, dopri5's error norm, and the finite/growth check, whose
failure every process must see at the same step (a process that stopped alone would leave
the others waiting in the next halo exchange). :mod:`symsim.distributed` provides the MPI one.
"""

from __future__ import annotations

import os


class Collective:
    """One process: every reduction is the value itself."""

    is_root = True       # the process that reports progress and writes outputs
    size = 1

    def sum(self, value: float) -> float:
        return value

    def max(self, value: float) -> float:
        return value

    def first(self, message: str | None) -> str | None:
        """The message of the lowest-numbered process that has one (None when none has)."""
        return message

    def union(self, items: tuple) -> tuple:
        """The items of every process, each once, in order."""
        return tuple(items)

    def elementwise(self, values, op: str):
        """``values`` (an array) combined element by element over the processes: ``op`` is "min", "max"
        or "sum"."""
        return values

    def broadcast(self, value):
        """The first process's ``value``, on every process."""
        return value

    def agreed(self, action):
        """``action()``; on several processes, an error raised on any of them is raised on all."""
        return action()


ONE_PROCESS = Collective()


#: environment variables through which MPI launchers tell a process how many were started, and its
#: number (Open MPI; MPICH, Intel MPI and Slurm's PMI; PMIx launchers)
LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")
LAUNCHER_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


def launched_processes() -> int:
    """How many processes an MPI launcher started together with this one (1 outside a launcher), read
    from the launcher's environment: nothing is imported, so a plain run never loads MPI."""
    for name in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def launcher_rank() -> int:
    """This process's number among those the launcher started (0 outside a launcher)."""
    for name in LAUNCHER_RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0
