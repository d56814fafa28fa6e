"""Strong scaling of a decomposed grid over MPI ranks, the exchange's cost, and a weak-scaling model.

    python benchmarks/scaling.py [--json benchmarks/scaling.json] [--quick] [--ranks 1,2] [--sizes 2048,4096]
                                 [--steps N] [--no-sweep]

Strong scaling: heat 2-D and Gray-Scott (periodic, :mod:`models`) at 2048^2 and 4096^2, RK4 on
the Numba target, one thread per rank, run by ``mpiexec -n P`` for each P in ``--ranks``;
the time is the run's own stepping time (the slowest rank's), the exchange share is the
time ranks spent in halo exchanges (copies and waiting) over it. Efficiency is
T(1) / (P T(P)). Beside it, one rank with P Numba threads: what the same cores give
without MPI.

The loopback's latency and bandwidth come from a ping-pong between two ranks; with the
measured cost per grid point they feed a weak-scaling model of 3-D grids of 64^3..512^3
points per rank to 1,024 ranks on a cluster interconnect (assumptions printed with it).

Dask: a sweep of 32 members on a LocalCluster of 2 processes against a plain loop (the
model compiled once, then one run per member), for a short run (heat_1d, milliseconds) and a longer one (Gray-Scott 256^2);
the overhead per task is what a member costs beyond its share of the loop's time.

    --worker MODEL N STEPS          (internal) one timed run under mpiexec; rank 0 prints JSON
    --pingpong                      (internal) the ping-pong under mpiexec -n 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")

# a cluster interconnect for the weak-scaling model: InfiniBand HDR (200 Gb/s) as vendors quote it
CLUSTER = {"name": "InfiniBand HDR 200 Gb/s", "latency_s": 1.0e-6, "bandwidth_bytes_s": 24e9}


def worker(model_name: str, n: int, steps: int) -> None:
    """Under mpiexec: ``steps`` RK4 steps of the model at n x n on the Numba target, timed by the run
    (after one untimed step that compiles the kernels)."""
    sys.path.insert(0, str(HERE))
    from models import gray_scott_model, heat_model

    from symsim import simulate
    from symsim.compiler import compile_model
    from symsim.report import stable_steps

    model = {"heat": heat_model, "gray_scott": gray_scott_model}[model_name](n)
    dt = _stable_dt(model, compile_model, stable_steps)
    # one step first: the kernels compile on first use, and a run's stepping time would count that
    simulate(model, t_end=dt, dt=dt, method="rk4", saves=1, target="numba", egraph=True)
    result = simulate(model, t_end=steps * dt, dt=dt, method="rk4", saves=1, target="numba", egraph=True)
    if result is not None:
        stats = result.stats
        print(json.dumps({"seconds": stats["wall_seconds"], "exchange_seconds": stats.get("exchange_seconds", 0.0),
                          "steps": stats["steps"], "processes": stats.get("processes", 1),
                          "decomposition": stats.get("decomposition", "1")}))


def _stable_dt(model, compile_model, stable_steps) -> float:
    """Half the stable RK4 step at the initial state (of a 64^2 copy of the model: the bound scales as h^2)."""
    small = compile_model(model.with_points(x=64, y=64), target="numpy", egraph=False)
    step = stable_steps(small, small.resolve_params())["steps"]["rk4"]
    n = model.grid.axes[0].points
    return 0.5 * step * (63 / (n - 1)) ** 2


def pingpong() -> None:
    """Under mpiexec -n 2: round trips of 8 B .. 16 MiB messages; rank 0 prints (bytes, one-way seconds)."""
    import numpy as np
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rows = []
    for size in [8, 1024, 65536, 1 << 20, 1 << 24]:
        buffer = np.zeros(size // 8)
        repeats = 200 if size <= 65536 else 20
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            if comm.rank == 0:
                comm.Send(buffer, dest=1)
                comm.Recv(buffer, source=1)
            else:
                comm.Recv(buffer, source=0)
                comm.Send(buffer, dest=0)
        rows.append((size, (time.perf_counter() - start) / (2 * repeats)))
    if comm.rank == 0:
        print(json.dumps(rows))


def sweep_throughput(count: int, workers: int = 2) -> list[dict]:
    """Runs per second of ``count`` members as a plain loop of simulate() and as symsim.sweep on a
    LocalCluster of ``workers`` processes (cluster start-up timed apart), for a short and a longer run."""
    import numpy as np
    from dask.distributed import Client, LocalCluster

    from symsim import load_model, sweep
    from symsim.compiler import compile_model
    from symsim.solve import integrate, keep_freed_arrays_mapped, run_options
    keep_freed_arrays_mapped()     # as a sweep's workers do (SYMSIM_TUNE_MALLOC=1 for a plain run)
    rows = []
    for name, options, parameter, low, high in [("heat_1d", {"t_end": 0.01, "saves": 4}, "D", 0.1, 0.5),
                                                ("gray_scott", {"t_end": 100.0, "saves": 4}, "F", 0.03, 0.05)]:
        values = {parameter: [float(v) for v in np.linspace(low, high, count)]}
        start = time.perf_counter()
        model = load_model(name)                        # compiled once, as a worker does
        compiled, checked = compile_model(model), run_options(model, **options)
        for value in values[parameter]:
            integrate(compiled, checked, {parameter: value})
        loop = time.perf_counter() - start
        start = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            started = time.perf_counter() - start
            client.run(load_model, name)                                     # warm the workers' imports
            start = time.perf_counter()
            sweep(name, values, client=client, **options)
            swept = time.perf_counter() - start
        per_run = loop / count
        rows.append({"model": name, "members": count, "workers": workers, "loop_s": loop, "sweep_s": swept,
                     "cluster_start_s": started, "speedup": loop / swept,
                     "overhead_per_task_s": swept * workers / count - per_run})
    return rows


def _launch(arguments: list, processes: int, threads: int) -> dict | list:
    environment = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONDONTWRITEBYTECODE="1")
    command = [MPIEXEC, "-n", str(processes), sys.executable, __file__, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def weak_scaling_model(per_point_seconds: float, latency: float, bandwidth: float) -> list[dict]:
    """Predicted efficiency of RK4 on a 3-D grid of m^3 points per rank at order 2 (halo 1), one field:
    6 faces exchanged once per stage, no overlap of exchange and update; a global reduction (the
    finite check, every 50 steps) costs log2(P) latencies."""
    rows = []
    for m in (64, 128, 256, 512):
        compute = 4 * per_point_seconds * m ** 3
        face = 8 * m * m
        exchange = 4 * 6 * (latency + face / bandwidth)
        for ranks in (8, 64, 512, 1024):
            reduction = math.log2(ranks) * latency / 50
            rows.append({"points_per_rank": f"{m}^3", "ranks": ranks, "compute_s": compute, "exchange_s": exchange,
                         "efficiency": compute / (compute + exchange + reduction)})
    return rows


def _processor_name() -> str:
    """The processor's model name as Linux reports it (platform.processor() is often empty there)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=HERE / "scaling.json")
    parser.add_argument("--quick", action="store_true", help="2048^2 only, fewer steps")
    parser.add_argument("--ranks", default="1,2", help="rank counts (default 1,2)")
    parser.add_argument("--sizes", help="grid sizes n (n x n points; default 2048,4096, or 2048 with --quick)")
    parser.add_argument("--steps", type=int, help="RK4 steps at 2048^2, scaled by (2048/n)^2 for other sizes "
                                                  "(default 80, or 40 with --quick)")
    parser.add_argument("--no-sweep", action="store_true", help="leave out the Dask sweep (a machine without Dask)")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "N", "STEPS"))
    parser.add_argument("--pingpong", action="store_true")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
    if args.pingpong:
        return pingpong()
    if MPIEXEC is None:
        raise SystemExit("needs mpiexec and mpi4py: pip install 'symsim[mpi]'")
    ranks = [int(r) for r in args.ranks.split(",")]
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else [2048] if args.quick else [2048, 4096]
    steps_2048 = args.steps or (40 if args.quick else 80)
    rows = []
    print(f"{'model':>10} {'grid':>9} {'ranks':>5} {'layout':>6} {'ms/step':>9} {'exchange':>9} {'efficiency':>10} "
          f"{'1 rank, P threads':>18}")
    for model in ("heat", "gray_scott"):
        for n in sizes:
            steps = max(10, int(steps_2048 * (2048 / n) ** 2))
            base = None
            for count in ranks:
                run = _launch(["--worker", model, str(n), str(steps)], count, 1)
                threads = _launch(["--worker", model, str(n), str(steps)], 1, count) if count > 1 else run
                per_step = run["seconds"] / run["steps"]
                base = base or per_step
                row = {"model": model, "n": n, "ranks": count, "layout": run["decomposition"],
                       "ms_per_step": 1e3 * per_step, "exchange_share": run["exchange_seconds"] / run["seconds"],
                       "efficiency": base / (count * per_step),
                       "threads_ms_per_step": 1e3 * threads["seconds"] / threads["steps"],
                       "seconds_per_point_step": per_step * count / n ** 2}
                rows.append(row)
                print(f"{model:>10} {n:>4}^2    {count:>5} {row['layout']:>6} {row['ms_per_step']:>9.2f} "
                      f"{row['exchange_share']:>8.1%} {row['efficiency']:>10.2f} {row['threads_ms_per_step']:>15.2f} ms")
    loopback = _launch(["--pingpong"], 2, 1)
    latency = loopback[0][1]
    bandwidth = loopback[-1][0] / loopback[-1][1]
    print(f"loopback: latency {latency * 1e6:.2f} us, bandwidth {bandwidth / 1e9:.2f} GB/s (16 MiB messages)")
    # the cost per point and RK4 step of heat (one field) on one rank: the weak-scaling model's compute
    heat = [r for r in rows if r["model"] == "heat" and r["ranks"] == 1]
    per_point = min(r["seconds_per_point_step"] for r in heat) / 4      # per stage
    model_rows = {"loopback": weak_scaling_model(per_point, latency, bandwidth),
                  "cluster": weak_scaling_model(per_point, CLUSTER["latency_s"], CLUSTER["bandwidth_bytes_s"])}
    print(f"weak scaling, predicted efficiency (3-D heat, order 2, RK4, {per_point * 1e9:.2f} ns per point and stage "
          f"measured here; {CLUSTER['name']}: {CLUSTER['latency_s'] * 1e6:.1f} us, "
          f"{CLUSTER['bandwidth_bytes_s'] / 1e9:.0f} GB/s)")
    print(f"{'per rank':>9} " + " ".join(f"{p:>7}" for p in (8, 64, 512, 1024)))
    for m in ("64^3", "128^3", "256^3", "512^3"):
        cells = [r for r in model_rows["cluster"] if r["points_per_rank"] == m]
        print(f"{m:>9} " + " ".join(f"{r['efficiency']:>7.3f}" for r in cells))
    sweeps = [] if args.no_sweep else sweep_throughput(16 if args.quick else 32)
    print(f"{'sweep':>10} {'members':>7} {'plain loop':>10} {'dask, 2 workers':>15} {'speed-up':>8} "
          f"{'overhead/task':>13} {'cluster start':>13}")
    for row in sweeps:
        print(f"{row['model']:>10} {row['members']:>7} {row['loop_s']:>9.2f}s {row['sweep_s']:>14.2f}s "
              f"{row['speedup']:>8.2f} {row['overhead_per_task_s'] * 1e3:>10.1f} ms {row['cluster_start_s']:>12.2f}s")
    report = {"machine": _processor_name(), "cores": os.cpu_count(), "strong": rows,
              "sweep": sweeps,
              "loopback": {"latency_s": latency, "bandwidth_bytes_s": bandwidth, "pingpong": loopback},
              "weak_model": {"assumptions": {
                  "compute": "measured seconds per grid point and RK4 stage of 2-D heat on one rank, applied to 3-D",
                  "exchange": "6 faces of m^2 float64 values per stage, 4 stages, latency + bytes / bandwidth, "
                              "no overlap with the update",
                  "reduction": "the finite check every 50 steps: log2(P) latencies",
                  "cluster": CLUSTER}, **model_rows}}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
