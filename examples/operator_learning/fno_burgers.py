"""Train a Fourier neural operator for viscous Burgers with data + physics loss.

    python examples/operator_learning/fno_burgers.py [--out DIR] [--steps N] [--quiet]

The operator maps an initial state u0(x) (zero at the walls) to the whole trajectory
u(t_n, x), n = 1..20, on symsim's burgers_1d model at 64 points. Training data are a
few simulations by symsim's Numba backend; the physics term is the generated
torch-operator loss of the same model (its stencils, walls and the trapezoidal rule
in time) on many more initial states that were never simulated. The same network is
trained twice, with data alone and with data + physics, and both are scored on
held-out simulations. Writes DIR/fno_burgers.png and DIR/fno_burgers_weights.pt
(state_dict, loaded back with torch.load(..., weights_only=True)).
"""

import argparse
import time
from pathlib import Path

import torch

import symsim
from symsim.fno import FNO, count_parameters
from symsim.losses import load_loss_module, loss_source
from symsim.operator_training import random_initial_states, batch_relative_l2, simulate_initial_states, train_operator

POINTS, NU, T_END, SAVES = 64, 0.02, 0.5, 20
TRAIN, PHYSICS_ONLY, TEST = 12, 500, 64


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="fno_burgers_output", help="directory for the picture and the weights")
    parser.add_argument("--steps", type=int, default=400, help="Adam steps per training run")
    parser.add_argument("--physics-weight", type=float, default=0.1, help="weight of the physics term")
    parser.add_argument("--target", default="numpy", choices=("numpy", "numba"),
                        help="simulator backend for the data (numba compiles its kernels on the first run)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the tensors are small: one thread is faster than several waiting on each other (on a busy
    # 2-core machine, two threads made each step over 100x slower)
    torch.set_num_threads(1)
    started = time.perf_counter()

    model = symsim.load_model("burgers_1d").with_points(x=POINTS)
    params = {"nu": NU}
    dt = T_END / SAVES
    u0 = random_initial_states(model, TRAIN + TEST + PHYSICS_ONLY, modes=5, seed=0)
    labeled = u0[:TRAIN + TEST]
    data = simulate_initial_states(model, labeled, t_end=T_END, saves=SAVES, params=params, target=args.target)
    print(f"simulated {len(labeled)} trajectories {data.shape[1:]} with symsim ({args.target}), "
          f"{time.perf_counter() - started:.1f} s")

    source, report = loss_source(model, "torch-operator")
    physics = load_loss_module(source, "burgers_torch_operator").PhysicsLoss(params)
    print(f"physics loss: {report['fields']} on {model.grid.shape} points, "
          f"{report['ops_per_point']['cost']} cycles per point")

    tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    inputs, targets = tensor(labeled[:TRAIN]), tensor(data[:TRAIN])
    test_inputs, test_targets = tensor(labeled[TRAIN:]), tensor(data[TRAIN:])
    unlabeled = tensor(u0[TRAIN + TEST:])
    reference_residual = float(physics(test_targets, dt, scheme="trapezoid"))

    results = {}
    for name, weight in (("data only", 0.0), ("data + physics", args.physics_weight)):
        torch.manual_seed(0)
        net = FNO(in_channels=1, out_channels=SAVES, modes=(16,), width=32, layers=4, padding=8)

        def predict(x, net=net):
            # the initial state is known exactly; the network predicts the SAVES later states
            return torch.cat([x.unsqueeze(1), net(x).unsqueeze(2)], dim=1)

        print(f"\n{name}: FNO with {count_parameters(net)} parameters, {args.steps} steps")
        train_operator(predict, net.parameters(), inputs, targets, physics=physics, physics_inputs=unlabeled,
                       dt=dt, physics_weight=weight, steps=args.steps, batch_size=TRAIN, lr=3e-3,
                       log=None if args.quiet else print, log_every=max(args.steps // 6, 1))
        with torch.no_grad():
            pred = predict(test_inputs)
            results[name] = (net, pred, float(batch_relative_l2(pred, test_targets)),
                             float(physics(pred, dt, scheme="trapezoid")))

    print(f"\ntest relative L2 on {TEST} held-out simulations ({TRAIN} used for training):")
    for name, (_, _, error, residual) in results.items():
        print(f"  {name:15s} {error:.4f}   physics residual {residual:.3e}")
    print(f"  (the simulations themselves: physics residual {reference_residual:.3e}, from time discretization)")

    net = results["data + physics"][0]
    weights = out / "fno_burgers_weights.pt"
    torch.save(net.state_dict(), weights)
    restored = FNO(in_channels=1, out_channels=SAVES, modes=(16,), width=32, layers=4, padding=8)
    restored.load_state_dict(torch.load(weights, weights_only=True))
    with torch.no_grad():
        assert torch.equal(restored(test_inputs), net(test_inputs))
    picture = draw(out / "fno_burgers.png", model, test_targets, results)
    print(f"\nwrote {picture} and {weights} (reloaded with weights_only=True); "
          f"{time.perf_counter() - started:.0f} s in all")


def draw(path, model, targets, results, sample=0):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = model.grid.axes[0].coordinates
    panels = [("symsim (truth)", targets)] + [(name, pred) for name, (_, pred, _, _) in results.items()]
    figure, axes = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 3.4), constrained_layout=True)
    extent = (x[0], x[-1], T_END, 0.0)
    limit = float(targets[sample].abs().max())
    for axis, (title, values) in zip(axes, panels):
        image = axis.imshow(values[sample, :, 0].numpy(), aspect="auto", extent=extent, cmap="RdBu_r",
                            vmin=-limit, vmax=limit)
        axis.set(title=title, xlabel="x", ylabel="t")
    figure.colorbar(image, ax=axes[len(panels) - 1], label="u")
    last = axes[-1]
    for title, values in panels:
        last.plot(x, values[sample, -1, 0].numpy(), label=title)
    last.plot(x, targets[sample, 0, 0].numpy(), "k:", label="u0")
    last.set(title=f"t = {T_END}", xlabel="x")
    last.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


if __name__ == "__main__":
    main()
