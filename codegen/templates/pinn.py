"""The model-independent part of a generated PINN module: derivatives by autograd, columns, parameters.

A stand-in for what a generated module defines before this text: its parameters.
"""

import torch

PARAMS = {"nu": 0.01}


# -- inlined verbatim into generated modules from here on --
def _grad(y, inputs):
    """dy/d(input) for every input in one backward pass, graph kept for the next order."""
    if not y.requires_grad:          # y depends on no input (a constant network or derivative)
        return tuple(torch.zeros_like(y) for _ in inputs)
    return torch.autograd.grad(y, inputs, grad_outputs=torch.ones_like(y), create_graph=True,
                               materialize_grads=True)


def _inputs(*inputs):
    """The inputs as tensors that autograd can differentiate with respect to."""
    return tuple(x if x.requires_grad else x.detach().requires_grad_(True) for x in inputs)


def _maximum(a, b):
    return torch.maximum(torch.as_tensor(a), torch.as_tensor(b))


def _minimum(a, b):
    return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))


def _column(value, like):
    """A residual as an (N, 1) column (a constant residual broadcast to every point)."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).expand_as(like)


class _Terms(torch.nn.Module):
    """A loss term of the model: its parameters, PARAMS unless given."""

    def __init__(self, params=None):
        super().__init__()
        self.params = dict(PARAMS, **(params or {}))
