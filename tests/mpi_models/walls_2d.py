"""Decomposition test model for the exchange that overlaps the update: mixed_2d's walls (a time- and
coordinate-dependent Dirichlet value, Neumann fluxes) without its mixed derivative, so that no stencil
reads a halo corner and the passes of a block run their deep points during the exchange."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("mixed_2d_script", Path(__file__).with_name("mixed_2d.py"))
_mixed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mixed)
model = _mixed.walled_model("walls_2d", 0)
