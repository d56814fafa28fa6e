"""``report.json`` of ``symsim compile`` and what ``symsim info`` prints: what the lowered model is,
what a point costs and how large an explicit step it allows.

    {"model": "heat_2d", "fields": [...], "stencils": {"u": {"points": 5, "halo": [1, 1]}},
     "ops_per_point": {"lowered": {"add": 8, ...}, "cse": {...}, "egraph": {...}}}
"""

from __future__ import annotations

from .ir import stencil_accesses
from .simplify import cse_kernel, kernel_cost, lowered_kernel
from .stability import spectrum_estimate, stable_step
from .tableaus import METHODS


def kernel_report(compiled, source_name: str) -> dict:
    lowered = compiled.lowered
    stencils = {}
    for field, expr in lowered.rhs.items():
        accesses = stencil_accesses(expr)
        reach = [max([abs(a.offsets[k]) for a in accesses] or [0]) for k in range(lowered.ndim)]
        stencils[field] = {"points": len(accesses), "reach": reach,
                           "reads": sorted({a.field for a in accesses})}
    return {
        "model": lowered.name,
        "target": compiled.target,
        "source": source_name,
        "fields": list(lowered.fields),
        "equations": lowered.equations,
        "parameters": lowered.parameters,
        "grid": [{"axis": a.name, "start": a.start, "stop": a.stop, "points": a.points,
                  "periodic": a.periodic, "spacing": a.spacing} for a in lowered.axes],
        "space_order": lowered.space_order,
        "halo": list(lowered.halo),
        "walls": [{"field": w.field, "axis": lowered.axes[w.axis].name, "side": w.side, "kind": w.kind,
                   "value": str(w.value)} for w in lowered.walls],
        "stencils": stencils,
        "ops_per_point": {
            "lowered": kernel_cost(lowered_kernel(lowered), lowered),
            "cse": kernel_cost(cse_kernel(lowered), lowered),
            # the kernel actually rendered; absent (null) with --no-egraph, which renders the cse one
            "egraph": compiled.rendered_cost() if compiled.egraph_report is not None else None,
        },
        "egraph": compiled.egraph_report,
    }


def stable_steps(compiled, params: dict) -> dict:
    """At the initial state: the largest stable step of each explicit method (None: no bound, the model's
    spectrum is empty there) and the fields and axes where the model anti-diffuses (ill-posed)."""
    state = compiled.initial_state(params)
    estimate = spectrum_estimate(compiled, state, params)
    return {"spectrum": {"real": estimate.real, "imaginary": estimate.imaginary},
            "steps": {method: stable_step(estimate, method, on_grid=True) for method in METHODS},
            "anti_diffusive": [list(pair) for pair in estimate.anti_diffusive]}
