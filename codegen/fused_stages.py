"""Runge–Kutta steps as fused stencil passes: what each pass reads and writes, as plain data.

A pass evaluates the right-hand side ``k = f(src)`` at every grid point and, in
the same loop, writes one or two linear combinations of point values and ``k``.
Writing the next stage input (and accumulating the final sum) inside the
stencil loop saves the separate axpy sweeps of a textbook implementation: for
RK4 on this machine 21-29% (heat) and 40-43% (Gray-Scott) of the step time
(shared/notes/kernel-findings.md).

    rk4, with arrays y (state), s1, s2, acc:
        pass 1  src=y   s1  = y   + dt/2 k    acc = y   + dt/6 k
        pass 2  src=s1  s2  = y   + dt/2 k    acc = acc + dt/3 k
        pass 3  src=s2  s1  = y   + dt   k    acc = acc + dt/3 k
        pass 4  src=s1  y   = acc + dt/6 k                         (y is not read by pass 4)

Between passes the boundaries of the newly written stage input are applied at
its stage time, exactly as the NumPy reference steppers do; results agree with
them to round-off (SSPRK3 runs in its Shu–Osher form here, the Butcher form there).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Write:
    """``target = sum(weight * array at the point) + rate_weight * k``, weights given as source text."""

    target: str
    terms: tuple          # ((array, weight), ...): array a role name, weight "1" or an argument name
    rate_weight: str      # argument name of the weight of k (already multiplied by dt)


@dataclass(frozen=True)
class PassKind:
    """One fused kernel: the roles of its array arguments and what it writes."""

    name: str
    arrays: tuple         # argument roles after (t, src): e.g. ("y", "dst", "acc")
    weights: tuple        # scalar weight arguments
    writes: tuple         # Write, ...


# Argument names start with "_", which model names may not, so they never shadow a parameter.
# Every kernel reads src with the stencil; other arrays only at the point itself,
# so a pass may write an array it reads pointwise (blend: dst may be y).
PASS_KINDS = {
    "rhs": PassKind("rhs", ("out",), (), ()),
    "axpy": PassKind("axpy", ("dst",), ("_w",), (Write("dst", (("src", "1"),), "_w"),)),
    "rk_first": PassKind("rk_first", ("dst", "acc"), ("_w_dst", "_w_acc"),
                         (Write("dst", (("src", "1"),), "_w_dst"), Write("acc", (("src", "1"),), "_w_acc"))),
    "rk_middle": PassKind("rk_middle", ("y", "dst", "acc"), ("_w_dst", "_w_acc"),
                          (Write("dst", (("y", "1"),), "_w_dst"), Write("acc", (("acc", "1"),), "_w_acc"))),
    "rk_last": PassKind("rk_last", ("acc", "dst"), ("_w",), (Write("dst", (("acc", "1"),), "_w"),)),
    "blend": PassKind("blend", ("y", "dst"), ("_a", "_b", "_w"), (Write("dst", (("y", "_a"), ("src", "_b")), "_w"),)),
}


@dataclass(frozen=True)
class Call:
    """One pass of a step: ``kind`` on arrays (by buffer name), at time t + c*dt, with weights (multiples of dt or plain)."""

    kind: str
    c: float
    src: str
    arrays: tuple         # buffer names for the kind's array roles
    weights: tuple        # source text of each weight, in terms of dt
    constrain: str | None # buffer whose boundaries are applied afterwards (at time t + c_next*dt)
    constrain_c: float = 0.0


@dataclass(frozen=True)
class FusedScheme:
    """A fixed-step method as passes; ``buffers`` are the work arrays besides y; ``result`` holds the new state."""

    method: str
    buffers: tuple
    calls: tuple
    result: str


SCHEMES = {
    # ping-pong: the new state is written to s1, which becomes the next step's y
    "euler": FusedScheme("euler", ("s1",), (
        Call("axpy", 0.0, "y", ("s1",), ("dt",), "s1", 1.0),
    ), "s1"),
    # Shu–Osher form: u1 = u + dt L(u); u2 = 3/4 u + 1/4 (u1 + dt L(u1)); u = 1/3 u + 2/3 (u2 + dt L(u2))
    "ssprk3": FusedScheme("ssprk3", ("s1", "s2"), (
        Call("axpy", 0.0, "y", ("s1",), ("dt",), "s1", 1.0),
        Call("blend", 1.0, "s1", ("y", "s2"), ("0.75", "0.25", "0.25*dt"), "s2", 0.5),
        Call("blend", 0.5, "s2", ("y", "y"), ("1/3", "2/3", "2/3*dt"), "y", 1.0),
    ), "y"),
    "rk4": FusedScheme("rk4", ("s1", "s2", "acc"), (
        Call("rk_first", 0.0, "y", ("s1", "acc"), ("0.5*dt", "dt/6"), "s1", 0.5),
        Call("rk_middle", 0.5, "s1", ("y", "s2", "acc"), ("0.5*dt", "dt/3"), "s2", 0.5),
        Call("rk_middle", 0.5, "s2", ("y", "s1", "acc"), ("dt", "dt/3"), "s1", 1.0),
        Call("rk_last", 1.0, "s1", ("acc", "y"), ("dt/6",), "y", 1.0),
    ), "y"),
}
