"""The model-independent part of a generated torch-operator loss: argument checks, per-state values,
the residual of a time difference, and the loss.

A generated module carries the text after the marker line; it defines ``FIELDS``,
``AXES``, ``SHAPE``, ``HALO``, ``PARAMS``, ``SCHEMES``, ``WALL_NODES``,
``EVOLVED_POINTS``, ``rhs(t, state, p)`` and ``pad(states, t, p)`` before it.
Below the imports: stand-ins for those (u' = -a*u on no grid), so that this module
runs and is tested as it is.
"""

import torch

FIELDS, AXES, SHAPE, HALO = ("u",), (), (), ()
PARAMS = {"a": 1.0}
SCHEMES = ("euler", "trapezoid")
WALL_NODES = ()
EVOLVED_POINTS = 1


def rhs(t, state, p):
    return -p["a"] * state


def pad(states, t, p):
    return states


# -- inlined verbatim into generated modules from here on --
LAYOUT = "(batch, time, field" + "".join(f", {axis}" for axis in AXES) + ")"


def _check_prediction(pred):
    expected = (len(FIELDS),) + SHAPE
    if not torch.is_tensor(pred) or not pred.is_floating_point():
        raise TypeError(f"pred must be a floating-point tensor {LAYOUT}, got {type(pred).__name__}")
    if pred.dim() != 2 + len(expected) or tuple(pred.shape[2:]) != expected or pred.shape[1] < 2:
        raise ValueError(f"pred must have shape (batch, time >= 2, *{expected}) for fields {FIELDS} "
                         f"on the grid {SHAPE}, got {tuple(pred.shape)}")


def _per_trajectory(name, value, like):
    """A number, a 0-d tensor or one value per trajectory (batch,) -> a tensor in like's dtype and
    device: 0-d, or (batch, 1, ..., 1) to broadcast over trajectories shaped like ``like``."""
    if torch.is_tensor(value):
        value = value.to(dtype=like.dtype, device=like.device)
    else:
        value = torch.tensor(float(value), dtype=like.dtype, device=like.device)
    if value.dim() == 0:
        return value
    if tuple(value.shape) != (like.shape[0],):
        raise ValueError(f"{name}: expected a number or a tensor of shape ({like.shape[0]},) "
                         f"(one value per trajectory), got shape {tuple(value.shape)}")
    return value.reshape((-1,) + (1,) * (like.dim() - 1))


def _per_state(name, value, pred, steps):
    """The value for each of the first ``steps`` states of every trajectory, shaped to broadcast
    over states (batch*steps, *SHAPE)."""
    value = _per_trajectory(name, value, pred)
    if value.dim() == 0:
        return value
    return value.reshape(-1).repeat_interleave(steps).reshape((-1,) + (1,) * len(SHAPE))


class PhysicsLoss(torch.nn.Module):
    """Residual of the model's discretized equations on predicted trajectories (batch, time, field, *SHAPE).

        loss_fn = PhysicsLoss()
        loss = loss_fn(pred, dt=0.01, scheme="trapezoid")
        loss.backward()                       # gradients reach pred

    Residual r[b, n] for n = 0 .. time-2, at every field and grid point, f the right-hand side:
        euler:      (u[n+1] - u[n])/dt - f(t_n, u[n])
        trapezoid:  (u[n+1] - u[n])/dt - (f(t_n, u[n]) + f(t_n+1, u[n+1]))/2
    Wall nodes (WALL_NODES) are set from their conditions, not evolved: their residual is zero,
    and boundary_residual() gives pred minus those conditions.

    params (here or per call) override PARAMS; dt, t0 and each parameter may be a number,
    a 0-d tensor or a tensor of shape (batch,) with one value per trajectory.
    """

    def __init__(self, params=None):
        super().__init__()
        self.params = self._resolve(params, dict(PARAMS))

    @staticmethod
    def _resolve(params, values):
        for name, value in (params or {}).items():
            if name not in values:
                raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(PARAMS) or 'none'}")
            values[name] = value
        return values

    def _state_values(self, pred, steps, dt, t0, params):
        """Times and parameter values of the first ``steps`` states of every trajectory."""
        values = self._resolve(params, dict(self.params))
        p = {name: _per_state(name, value, pred, steps) for name, value in values.items()}
        n = torch.arange(steps, dtype=pred.dtype, device=pred.device).repeat(pred.shape[0])
        t = _per_state("t0", t0, pred, steps) + _per_state("dt", dt, pred, steps)*n.reshape((-1,) + (1,) * len(SHAPE))
        return t, p

    def rates(self, pred, dt, params=None, t0=0.0):
        """f(t_n, u[n]) of every state, shaped like pred (wall nodes 0)."""
        _check_prediction(pred)
        batch, steps = pred.shape[:2]
        t, p = self._state_values(pred, steps, dt, t0, params)
        states = pred.reshape((batch*steps,) + pred.shape[2:])
        return rhs(t, pad(states, t, p), p).reshape(pred.shape)

    def residual(self, pred, dt, params=None, scheme="euler", t0=0.0):
        """r[b, n] at every field and grid point: shape (batch, time-1, field, *SHAPE), 0 on wall nodes."""
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; schemes: {', '.join(SCHEMES)}")
        _check_prediction(pred)
        difference = (pred[:, 1:] - pred[:, :-1])/_per_trajectory("dt", dt, pred)
        if scheme == "euler":
            r = difference - self.rates(pred[:, :-1], dt, params, t0)
        else:
            f = self.rates(pred, dt, params, t0)
            r = difference - (f[:, :-1] + f[:, 1:])/2
        for field, axis, side in WALL_NODES:
            # wall nodes are set by their condition, not evolved
            node = [slice(None)] * r.dim()
            node[2], node[3 + axis] = FIELDS.index(field), 0 if side == "low" else -1
            r[tuple(node)] = 0.0
        return r

    def forward(self, pred, dt, params=None, scheme="euler", t0=0.0):
        """Mean square residual over the evolved points (wall nodes excluded)."""
        r = self.residual(pred, dt, params, scheme, t0)
        return r.square().sum()/(r.shape[0]*r.shape[1]*EVOLVED_POINTS)

    def boundary_residual(self, pred, dt, params=None, t0=0.0):
        """pred minus the values its boundary conditions give it at t_n, shaped like pred: nonzero only
        on wall nodes, which residual() leaves out (add its mean square to train them)."""
        _check_prediction(pred)
        batch, steps = pred.shape[:2]
        t, p = self._state_values(pred, steps, dt, t0, params)
        states = pred.reshape((batch*steps,) + pred.shape[2:])
        interior = (slice(None), slice(None)) + tuple(slice(h, h + n) for h, n in zip(HALO, SHAPE))
        return (states - pad(states, t, p)[interior]).reshape(pred.shape)
