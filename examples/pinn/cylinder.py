"""Channel flow past a cylinder at Re = 20: the Schäfer–Turek 2D-1 benchmark (steady, laminar).

    symsim pinn examples/pinn/cylinder.py -o cylinder_pinn

(a first look, the defaults); the settings of benchmarks/pinn_accuracy.py (20 minutes on 2 cores; its run
ended 0.1 % off in drag and 2 % in pressure difference, see the README):

    symsim pinn examples/pinn/cylinder.py --points 6000 --near-boundary 0.2 --resampling fresh --float32 \
        --obstacle-features --steps 500 --lbfgs-steps 100000 --time-limit 1200 -o cylinder_pinn

A 2.2 x 0.41 channel with a cylinder of diameter 0.1 centred at (0.2, 0.2), slightly off the
centre line; parabolic inflow of mean velocity 2/3 * 0.3 = 0.2, so Re = U_mean D / nu = 20.
No-slip on the walls and the cylinder, zero pressure at the outlet, where the velocity leaves
freely (zero normal derivative, a loss term). Reference values (Schäfer & Turek 1996): drag
coefficient 5.5795, lift coefficient 0.0106, pressure difference p(0.15, 0.2) - p(0.25, 0.2)
= 0.1175.
"""

from sympy import Eq

from symsim import Disc, Model, Rectangle, laplace

channel = Rectangle(x=(0.0, 2.2), y=(0.0, 0.41),
                    names={"left": "inlet", "right": "outlet", "bottom": "walls", "top": "walls"})
model = Model("cylinder", geometry=channel - Disc((0.2, 0.2), 0.05, name="cylinder"))
u, v, p = model.fields("u v p")
nu, U = model.params(nu=1e-3, U=0.3)        # U: the inflow's centre-line velocity
x, y = model.coords

model.equations(
    Eq(u * u.diff(x) + v * u.diff(y), -p.diff(x) + nu * laplace(u)),
    Eq(u * v.diff(x) + v * v.diff(y), -p.diff(y) + nu * laplace(v)),
    Eq(u.diff(x) + v.diff(y), 0),
)

model.dirichlet(u, 4 * U * y * (0.41 - y) / 0.41**2, on="inlet")
model.dirichlet(v, 0, on="inlet")
model.dirichlet(u, 0, on="walls cylinder")
model.dirichlet(v, 0, on="walls cylinder")
model.dirichlet(p, 0, on="outlet")
model.neumann(u, 0, on="outlet")
model.neumann(v, 0, on="outlet")
