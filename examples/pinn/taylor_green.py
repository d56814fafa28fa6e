"""The decaying Taylor–Green vortex around a post: unsteady incompressible Navier–Stokes on a geometry.

    symsim pinn examples/pinn/taylor_green.py -o taylor_green_pinn

u = -cos(x) sin(y) e^(-2 nu t), v = sin(x) cos(y) e^(-2 nu t), p = -(cos 2x + cos 2y) / 4 e^(-4 nu t) solve
the Navier–Stokes equations with div(u) = 0 (the nonlinear terms balance the pressure gradient; viscosity
alone decays the vortex). Here in the square [0, pi]^2 with a post cut out, the velocity on the square's
sides and on the post's rim given by the exact solution at every t, the pressure pinned at one point at
every t (its value there falls as e^(-4 nu t)): the network u(t, x, y), v, p holds the initial velocity,
the boundary data and the pin exactly and trains on the three residuals alone. nu = 0.1 (Re = pi / nu
~ 31 on the square's side), t in [0, 1].
"""

from math import pi as PI

from sympy import Eq, cos, exp, sin

from symsim import Disc, Model, Rectangle, laplace

square = Rectangle(x=(0.0, PI), y=(0.0, PI), names={side: "sides" for side in ("left", "right", "bottom", "top")})
model = Model("taylor_green", geometry=square - Disc((1.2, 1.9), 0.3, name="post"))
u, v, p = model.fields("u v p")
nu = model.params(nu=0.1)
x, y = model.coords
t = model.t

model.equations(
    Eq(u.diff(t), -u * u.diff(x) - v * u.diff(y) - p.diff(x) + nu * laplace(u)),
    Eq(v.diff(t), -u * v.diff(x) - v * v.diff(y) - p.diff(y) + nu * laplace(v)),
    Eq(u.diff(x) + v.diff(y), 0),
)

decay = exp(-2 * nu * t)
exact_u = -cos(x) * sin(y) * decay
exact_v = sin(x) * cos(y) * decay
exact_p = -(cos(2 * x) + cos(2 * y)) / 4 * decay**2
model.initial(u=exact_u.subs(t, 0), v=exact_v.subs(t, 0))
model.dirichlet(u, exact_u, on="sides post")
model.dirichlet(v, exact_v, on="sides post")
model.pin(p, exact_p.subs({x: 2.0, y: 0.5}), x=2.0, y=0.5)
model.exact(u=exact_u, v=exact_v, p=exact_p)
model.defaults(t_end=1.0)
