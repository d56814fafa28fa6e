"""Allen-Cahn phase separation: random noise coarsens into domains (periodic 2-D).

The initial state is an array (seeded noise), which model.initial accepts
as readily as an expression.
"""
import numpy as np
from sympy import Eq
from symsim import Model, Grid, Dt, laplace

grid = Grid(x=(0.0, 1.0, 128), y=(0.0, 1.0, 128), periodic=True)
model = Model("allen_cahn", grid)
u = model.fields("u")
eps = model.params(eps=0.01)               # interface width
model.equations(Eq(Dt(u), eps**2 * laplace(u) + u - u**3))
noise = np.random.default_rng(seed=7).uniform(-0.1, 0.1, size=grid.shape)
model.initial(u=noise)
model.defaults(t_end=60.0, saves=20)
