"""Lid-driven cavity at Re = 100: steady incompressible Navier–Stokes in the unit square.

    symsim pinn examples/pinn/cavity.py -o cavity_pinn

(a first look, the defaults); the settings of benchmarks/pinn_accuracy.py (10 minutes on 2 cores; within
0.015 of Ghia's profiles on three seeds, see the README):

    symsim pinn examples/pinn/cavity.py --points 6000 --near-boundary 0.2 --float32 --steps 500 \
        --lbfgs-steps 100000 --time-limit 600 -o cavity_pinn

The lid (y = 1) moves at u = 1; the other walls hold the fluid still. The reference is the
table of Ghia, Ghia & Shin (1982), J. Comput. Phys. 48, 387-411: u along the vertical centre
line x = 0.5 and v along the horizontal one y = 0.5 (GHIA_U, GHIA_V below; their Table I and
II, Re = 100 column). The lid's velocity jumps at the two top corners; the network's
u = g + phi * N blends the lid's 1 and the side walls' 0 there.
"""

from sympy import Eq

from symsim import Model, Rectangle, laplace

model = Model("cavity", geometry=Rectangle(x=(0.0, 1.0), y=(0.0, 1.0), names={"top": "lid", "bottom": "walls",
                                                                              "left": "walls", "right": "walls"}))
u, v, p = model.fields("u v p")
nu = model.params(nu=0.01)                  # Re = U L / nu = 100
x, y = model.coords

model.equations(
    Eq(u * u.diff(x) + v * u.diff(y), -p.diff(x) + nu * laplace(u)),
    Eq(u * v.diff(x) + v * v.diff(y), -p.diff(y) + nu * laplace(v)),
    Eq(u.diff(x) + v.diff(y), 0),
)
model.dirichlet(u, 1, on="lid")
model.dirichlet(u, 0, on="walls")
model.dirichlet(v, 0, on="lid walls")
model.pin(p, 0, x=0.5, y=0.0)

#: (y, u(0.5, y)) at Re = 100, Ghia, Ghia & Shin (1982), Table I
GHIA_U = ((1.0000, 1.00000), (0.9766, 0.84123), (0.9688, 0.78871), (0.9609, 0.73722), (0.9531, 0.68717),
          (0.8516, 0.23151), (0.7344, 0.00332), (0.6172, -0.13641), (0.5000, -0.20581), (0.4531, -0.21090),
          (0.2813, -0.15662), (0.1719, -0.10150), (0.1016, -0.06434), (0.0703, -0.04775), (0.0625, -0.04192),
          (0.0547, -0.03717), (0.0000, 0.00000))
#: (x, v(x, 0.5)) at Re = 100, Ghia, Ghia & Shin (1982), Table II
GHIA_V = ((1.0000, 0.00000), (0.9688, -0.05906), (0.9609, -0.07391), (0.9531, -0.08864), (0.9453, -0.10313),
          (0.9063, -0.16914), (0.8594, -0.22445), (0.8047, -0.24533), (0.5000, 0.05454), (0.2344, 0.17527),
          (0.2266, 0.17507), (0.1563, 0.16077), (0.0938, 0.12317), (0.0781, 0.10890), (0.0703, 0.10091),
          (0.0625, 0.09233), (0.0000, 0.00000))
