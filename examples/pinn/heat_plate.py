"""Heat in a plate with a hole: a time-dependent model on a geometry, exact solution known.

    symsim pinn examples/pinn/heat_plate.py -o heat_plate_pinn

The unit square minus a disc, D = 0.05, t in [0, 1]. The temperature
u = exp(-2 pi^2 D t) sin(pi x) sin(pi y) solves du/dt = D laplace(u); the plate's edges are held at 0 and the
hole's rim at the exact solution's value there, which falls with time. The network u(t, x, y) = g + phi t N
meets the initial value and both boundaries exactly (g: the Boolean sum of the boundary data's blend and the
initial value, symsim.continuous.geometry_constraint_forms); only the heat equation's residual is trained.
"""

from sympy import Eq, exp, pi, sin

from symsim import Disc, Model, Rectangle, laplace

plate = Rectangle(x=(0.0, 1.0), y=(0.0, 1.0), names={"left": "edges", "right": "edges", "bottom": "edges",
                                                      "top": "edges"})
model = Model("heat_plate", geometry=plate - Disc((0.4, 0.6), 0.15, name="hole"))
u = model.fields("u")
D = model.params(D=0.05)
x, y = model.coords
t = model.t

model.equations(Eq(u.diff(t), D * laplace(u)))
exact = exp(-2 * pi**2 * D * t) * sin(pi * x) * sin(pi * y)
model.initial(u=exact.subs(t, 0))
model.dirichlet(u, 0, on="edges")
model.dirichlet(u, exact, on="hole")
model.exact(u=exact)
model.defaults(t_end=1.0)
