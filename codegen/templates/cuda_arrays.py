"""How a CUDA module keeps states on the device: copies in at the start, out at save points.

A stand-in for what a generated module defines before this text: each stepper's work arrays.
"""

import numpy
from numba import cuda

WORK_ARRAYS = {"rk4": ("s0", "s1", "s2")}


# -- inlined verbatim into generated modules from here on --
def new_work(state, method):
    """Work arrays of a fused stepper on the device, copies of state (host or device)."""
    return {name: _device_copy(state) for name in WORK_ARRAYS[method]}


def _device_copy(state):
    """A new device array with the contents of state (host or device)."""
    if hasattr(state, "copy_to_host"):      # a device array: copy on the device
        copy = cuda.device_array_like(state)
        copy.copy_to_device(state)
        return copy
    return cuda.to_device(state)


def to_device(state):
    """Copy a host state (numpy array) to the device, once per run."""
    return cuda.to_device(numpy.ascontiguousarray(state))


def to_host(state):
    """Copy a device state back to the host (at save points)."""
    return state.copy_to_host()
