"""Model-script sources shared by the script-level tests (written to tmp_path, then loaded)."""

#: an exponential decay ODE: the smallest complete script
DECAY = """
from sympy import Eq
from symsim import Model, Dt

model = Model("decay")
u = model.fields("u")
k = model.params(k=1.0)
model.equations(Eq(Dt(u), -k * u))
model.initial(u=1.0)
"""

#: a wave equation, second order in time, whose initial velocity is missing
WAVE_WITHOUT_VELOCITY = """
from sympy import Eq, sin, pi
from symsim import Model, Grid, Dt
grid = Grid(x=(0.0, 1.0, 16), periodic=True)
model = Model("wave", grid)
u = model.fields("u")
(x,) = grid.coords
model.equations(Eq(Dt(u, 2), u.diff(x, 2)))
model.initial(u=sin(2 * pi * x))
model.defaults(t_end=0.1)
"""
