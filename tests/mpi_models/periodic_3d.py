"""Decomposition test model: periodic in x and y, walls in z, advection along every axis (3-D)."""
from sympy import Derivative, Eq, cos, sin
from symsim import Dt, Grid, Model, laplace

grid = Grid(x=(0.0, 1.0, 12), y=(0.0, 1.0, 10), z=(0.0, 1.0, 11), periodic=("x", "y"))
model = Model("periodic_3d", grid)
u = model.fields("u")
D = model.params(D=0.02)
x, y, z = grid.coords
model.equations(Eq(Dt(u), D * laplace(u) - 0.5 * Derivative(u, x) + 0.3 * Derivative(u, y) - 0.2 * Derivative(u, z)
                   + 0.1 * Derivative(u, x, z)))
model.initial(u=sin(6.283185307179586 * x) * cos(6.283185307179586 * y) * z * (1 - z) + z)
model.dirichlet(u, z=0.0, value=0)
model.neumann(u, z=1.0, value=1)
model.defaults(t_end=0.02)
