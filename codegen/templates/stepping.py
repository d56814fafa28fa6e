"""What the Numba and CUDA modules call a step with: parameters in kernel order, the rhs and boundaries.

Stand-ins for what a generated module defines before this text: its parameter order and
the kernels ``_rhs`` and ``_boundaries`` (on CUDA, functions that launch kernels).
"""

PARAM_ORDER = ("D",)


def _rhs(t, state, out, D):
    out[...] = -D * state


def _boundaries(t, state, D):
    pass


# -- inlined verbatim into generated modules from here on --
def _param_args(p):
    """Parameter values in kernel argument order (PARAM_ORDER) from a dict of names."""
    return tuple(p[name] for name in PARAM_ORDER)


def rhs(t, state, out, p):
    """Write d(state)/dt at every grid point into out (halo layers of out are not touched)."""
    _rhs(t, state, out, *_param_args(p))


def apply_boundaries(t, state, p):
    """Fill halo layers and wall nodes of every field in place for time t."""
    _boundaries(t, state, *_param_args(p))
