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


def _parameter(value, like):
    """A parameter as a 0-d tensor of the inputs' dtype and device (a trainable one stays itself)."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _column(value, like):
    """A residual as an (N, 1) column (a constant residual broadcast to every point)."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).expand_as(like)


class _Wrapped(torch.nn.Module):
    """A network wrapped by the model's hard constraints, with the model's parameters (PARAMS unless given)."""

    def __init__(self, net, params=None):
        super().__init__()
        self.net = net
        self.params = dict(PARAMS, **(params or {}))


class _Terms(torch.nn.Module):
    """A loss term of the model: its parameters, PARAMS unless given."""

    def __init__(self, params=None):
        super().__init__()
        self.params = dict(PARAMS, **(params or {}))


class _Frozen(torch.autograd.Function):
    """Values of functions of the inputs at fixed points, with their first and second derivatives known:
    the hard constraints' g and phi cost one lookup instead of their whole expression graph at every
    evaluation of the loss (third derivatives are zero: no loss needs them)."""

    @staticmethod
    def forward(ctx, table, index, *inputs):
        ctx.table, ctx.index = table, index
        # the inputs themselves (not saved tensors): backward applies this function to them again, so that
        # the next derivative finds its way back to them
        ctx.inputs = inputs
        return table[index].clone()     # a new tensor: autograd attaches its history to the output

    @staticmethod
    def backward(ctx, grad):
        inputs = ctx.inputs
        if len(ctx.index) == 2:            # second derivatives: no third
            return (None, None) + (None,) * len(inputs)
        grads = [(grad * _Frozen.apply(ctx.table, ctx.index + (k,), *inputs)).sum(dim=1, keepdim=True)
                 for k in range(len(inputs))]
        return (None, None, *grads)


def _frozen_factors(module, *inputs):
    """The factors of ``module`` at ``inputs``: looked up where :func:`freeze_factors` froze those very
    tensors, computed from their expressions elsewhere."""
    frozen = getattr(module, "_frozen", None)
    if frozen is not None and len(frozen[0]) == len(inputs) and all(a is b for a, b in zip(frozen[0], inputs)):
        return tuple(_Frozen.apply(table, (), *inputs) for table in frozen[1])
    return module.factors(*inputs)


def freeze_factors(module, *inputs):
    """Evaluate ``module.factors`` and its first and second derivatives at ``inputs`` once (tensors that
    require grad; the same objects must be passed later); None unfreezes."""
    if inputs == (None,) or not inputs:
        module._frozen = None
        return
    tables = []
    points = tuple(x.detach().requires_grad_(True) for x in inputs)
    for factor in module.factors(*points):
        table = {(): factor.detach()}
        for k in range(len(points)):
            first = torch.stack([_grad(factor[:, c:c + 1], (points[k],))[0][:, 0]
                                 for c in range(factor.shape[1])], dim=1)
            table[(k,)] = first.detach()
            for j in range(len(points)):
                table[(k, j)] = torch.stack([_grad(first[:, c:c + 1], (points[j],))[0][:, 0]
                                             for c in range(factor.shape[1])], dim=1).detach()
        tables.append(table)
    module._frozen = (inputs, tables)
