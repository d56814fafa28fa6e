"""Linear advection of a smooth pulse around a periodic domain (one full period)."""
from sympy import Eq, exp, sin, pi
from symsim import Model, Grid, Dt

grid = Grid(x=(0.0, 1.0, 200), periodic=True)
model = Model("advection_1d", grid)
u = model.fields("u")
c = model.params(c=1.0)
(x,) = grid.coords
model.equations(Eq(Dt(u), -c * u.diff(x)))
model.initial(u=exp(-100 * (x - 0.5)**2) + sin(2 * pi * x) / 4)
model.defaults(t_end=1.0, saves=20, space_order=4)
