"""Two reacting species on the unit cube: where a sparse LU stops and GMRES with multigrid takes over.

u diffuses between cold walls (u = 0), v half as fast between insulated ones (zero flux); they
react (u v). On 24^3 points (21,296 unknowns) an implicit step's sparse LU fills 5 million
nonzeros and a run of rodas takes minutes; GMRES preconditioned by algebraic multigrid solves the
same systems in seconds (``--linear-solver auto`` picks it on 3-D grids from 5,000 unknowns):

    symsim run reaction_diffusion_3d --method rodas --target numba
    symsim run reaction_diffusion_3d --method rodas --linear-solver lu      # the LU path, for comparison
"""
from sympy import Eq
from symsim import Model, Grid, Dt, laplace


def reaction_diffusion_3d(n: int) -> Model:
    """The model on n^3 points."""
    grid = Grid(x=(0.0, 1.0, n), y=(0.0, 1.0, n), z=(0.0, 1.0, n))
    model = Model("reaction_diffusion_3d", grid)
    u, v = model.fields("u v")
    Du, Dv, k = model.params(Du=1.0, Dv=0.5, k=0.1)
    x, y, z = grid.coords
    model.equations(Eq(Dt(u), Du * laplace(u) + u * v - u),
                    Eq(Dt(v), Dv * laplace(v) - u * v + k * u))
    model.initial(u=60 * x * (1 - x) * y * (1 - y) * z * (1 - z), v=1.0)
    for axis in "xyz":
        for side in (0.0, 1.0):
            model.dirichlet(u, **{axis: side}, value=0)
            model.neumann(v, **{axis: side}, value=0)
    model.defaults(t_end=0.2, saves=10)
    return model


model = reaction_diffusion_3d(24)
