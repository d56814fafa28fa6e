"""Sine-Gordon breather: a second-order-in-time equation, reduced to first order automatically.

The exact breather u = 4 atan(k sin(w t) / (w cosh(k x))), k = sqrt(1 - w^2),
starts from u = 0 with velocity 4 k / cosh(k x).
"""
from sympy import Eq, cosh, sin, sqrt
from symsim import Model, Grid, Dt

grid = Grid(x=(-20.0, 20.0, 400), periodic=True)
model = Model("sine_gordon", grid)
u = model.fields("u")
(x,) = grid.coords
omega = 0.5                                # breather frequency
k = sqrt(1 - omega**2)
model.equations(Eq(Dt(u, 2), u.diff(x, 2) - sin(u)))
model.initial({u: 0, Dt(u): 4 * k / cosh(k * x)})
model.defaults(t_end=30.0, saves=60, space_order=4)
