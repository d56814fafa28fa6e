"""How a Numba module allocates states: the padded grid in the front corner of a larger array.

Stand-ins for what a generated module defines before this text: the allocated shape and
page offsets (:func:`symsim.codegen.loops.storage_layout`) and each stepper's work arrays.
"""

import math

import numpy

STORAGE_SHAPE = (2, 24, 16)
_PAGE_OFFSETS = (0, 512, 1024, 1536)
WORK_ARRAYS = {"rk4": ("s0", "s1", "s2")}


# -- inlined verbatim into generated modules from here on --
def new_state(slot=0):
    """A zeroed state array of STORAGE_SHAPE starting at byte _PAGE_OFFSETS[slot] of a 4 KiB page, so
    that the arrays of a pass (state, then work arrays 1, 2, ...) do not share cache sets."""
    raw = numpy.zeros(8 * math.prod(STORAGE_SHAPE) + 4096, dtype=numpy.uint8)
    offset = (_PAGE_OFFSETS[slot % len(_PAGE_OFFSETS)] - raw.ctypes.data) % 4096
    return numpy.ndarray(STORAGE_SHAPE, dtype=numpy.float64, buffer=raw, offset=offset)


def new_work(state, method):
    """Work arrays of a fused stepper, copies of state (halo cells start equal to its own)."""
    work = {}
    for slot, name in enumerate(WORK_ARRAYS[method], start=1):
        work[name] = new_state(slot) if state.shape == STORAGE_SHAPE else numpy.empty_like(state)
        work[name][...] = state
    return work
