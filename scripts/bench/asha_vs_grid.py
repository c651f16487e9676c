#!/usr/bin/env python3
"""ASHA against the full grid and random search, counted in epochs trained.

One GECCO search space (lr x dropout x weight decay x batch size, 3 values
each: 81 configurations), one training seed, E epochs per trial:

1. The full grid runs (`sweeprun sweep`, every configuration to E epochs).
   Its best validation accuracy (each trial at its best epoch) is the bar;
   a configuration "within 0.2 points" has best validation accuracy at or
   above bar - 0.2 points.
2. Per repetition r (the sweep's random_seed = r):
   - random search: the draws of `search = random, trials = 81` over the
     same values, in draw order (from `--dry-run`); epochs = E x the number
     of draws up to the first one within 0.2 points. A configuration trains
     to the same bits with the same seed whichever sweep runs it (tested:
     tests/cli_sweep_resume.sh, tests/cli_sweep_asha.sh), so the grid's run
     of that configuration is its result; the script checks that every
     drawn trial id is one of the grid's.
   - ASHA: the same draws under `scheduler = asha:min_epochs=1,eta=3`, run
     for real; epochs = the `epoch` events of its event log, in the order
     they were written, up to the first trial that completes (reaches E
     epochs) within 0.2 points. Its total epochs too.
The grid's own cost is all of its epochs: it cannot know its best before it
has run every configuration (the epochs to its first configuration within
0.2 points, in file order, are printed too, as luck of the ordering).

Budget in epochs, not seconds, so a noisy machine changes nothing. Every
decision uses the validation split (val_split = auto), never the test set.

usage: asha_vs_grid.py [--sweeprun BIN] [--work DIR] [--reps N] [--np N]
                       [--epochs E] [--train-subset N]
"""
import argparse
import os
import shutil
import statistics
import sys

from sweep_bench import DEFAULT_SWEEPRUN, completed, dry_run_ids, events, run

SPACE = {
    "lr": ["0.0003", "0.001", "0.003"],
    "dropout": ["0.1", "0.3", "0.5"],
    "weight_decay": ["0", "1e-4", "1e-3"],
    "batch_size": ["32", "64", "128"],
}


def sweep_file(path, name, out, epochs, train_subset, extra_sweep, section):
    lines = [
        "[sweep]", f"name = {name}", "dataset = mnist", f"out = {out}", *extra_sweep, "",
        "[defaults]", "model = gecco", "optimizer = adam", f"epochs = {epochs}", "l2_scope = all",
        f"train_subset = {train_subset}", "test_subset = 1000", "val_split = auto", "threads = 1", "",
        f"[{section}]",
    ]
    for key, values in SPACE.items():
        lines.append(f"{key} = {', '.join(values)}" if section == "grid" else f"{key} = choice({', '.join(values)})")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeprun", default=DEFAULT_SWEEPRUN)
    ap.add_argument("--work", default="/tmp/asha_vs_grid")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--np", type=int, default=2, help="MPI ranks per sweep")
    ap.add_argument("--epochs", type=int, default=9, help="per trial (ASHA rungs at 1, 3, 9)")
    ap.add_argument("--train-subset", type=int, default=12000)
    a = ap.parse_args()
    sweeprun = os.path.abspath(a.sweeprun)
    mpi = ["mpirun", "-np", str(a.np), "--oversubscribe", "--bind-to", "none"]
    os.makedirs(a.work, exist_ok=True)
    n_configs = 1
    for v in SPACE.values():
        n_configs *= len(v)

    grid_ini, grid_out = os.path.join(a.work, "grid.ini"), os.path.join(a.work, "grid")
    sweep_file(grid_ini, "grid", grid_out, a.epochs, a.train_subset, [], "grid")
    run(mpi + [sweeprun, "sweep", grid_ini, "--quiet"], os.path.join(a.work, "grid.log"), "asha_vs_grid")
    best = dict(completed(grid_out))
    grid_order = dry_run_ids(sweeprun, grid_ini)
    if len(best) != n_configs or sorted(best) != sorted(grid_order):
        sys.exit(f"asha_vs_grid: the grid has {len(best)} complete trials, expected {n_configs}")
    bar = max(best.values())
    target = bar - 0.002
    first_hit = next(i for i, t in enumerate(grid_order) if best[t] >= target) + 1
    grid_epochs = a.epochs * n_configs

    rows = []
    for r in range(1, a.reps + 1):
        rand_ini = os.path.join(a.work, f"random{r}.ini")
        sweep_file(rand_ini, f"random{r}", os.path.join(a.work, f"random{r}"), a.epochs, a.train_subset,
                   ["search = random", f"trials = {n_configs}", f"random_seed = {r}"], "random")
        draws = dry_run_ids(sweeprun, rand_ini)
        missing = [t for t in draws if t not in best]
        if missing:
            sys.exit(f"asha_vs_grid: random draw {missing[0]} is not a grid trial")
        hit = next((i for i, t in enumerate(draws) if best[t] >= target), None)
        random_epochs = a.epochs * (hit + 1) if hit is not None else None

        asha_ini, asha_out = os.path.join(a.work, f"asha{r}.ini"), os.path.join(a.work, f"asha{r}")
        shutil.rmtree(asha_out, ignore_errors=True)
        sweep_file(asha_ini, f"asha{r}", asha_out, a.epochs, a.train_subset,
                   ["search = random", f"trials = {n_configs}", f"random_seed = {r}",
                    "scheduler = asha:min_epochs=1,eta=3"], "random")
        run(mpi + [sweeprun, "sweep", asha_ini, "--quiet"], os.path.join(a.work, f"asha{r}.log"), "asha_vs_grid")
        trained, found, asha_best, same_bits = 0, None, 0.0, True
        for e in events(asha_out):
            if e.get("event") == "epoch":
                trained += 1
            elif e.get("event") == "trial_end" and e.get("status") == "complete":
                v = e["best_val_accuracy"]
                same_bits &= v == best.get(e["trial"])
                asha_best = max(asha_best, v)
                if found is None and v >= target:
                    found = trained
        rows.append((r, len(draws), random_epochs, found, trained, asha_best, same_bits))

    print(f"search space: {n_configs} GECCO configurations (lr x dropout x weight_decay x batch_size), "
          f"{a.epochs} epochs each, {a.train_subset} training images (val_split auto), seed 0, {a.np} ranks")
    print(f"grid: best validation accuracy {100 * bar:.2f}%; within 0.2 points: >= {100 * target:.2f}% "
          f"({sum(v >= target for v in best.values())} of {n_configs} configurations)")
    print(f"grid: {grid_epochs} epochs in all (needed to know its best); first configuration within 0.2 points "
          f"in file order after {a.epochs * first_hit} epochs\n")
    print("| rep (random_seed) | distinct draws | random search: epochs to within 0.2 | ASHA: epochs to within 0.2 "
          "| ASHA: epochs in all | ASHA's best val acc | ASHA trials = grid's bits |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    fmt = lambda v: "not found" if v is None else str(v)
    for r, n, re_, fo, tr, ab, sb in rows:
        print(f"| {r} | {n} | {fmt(re_)} | {fmt(fo)} | {tr} | {100 * ab:.2f}% | {'yes' if sb else 'NO'} |")
    # A repetition that never found one counts as more than any budget.
    never = float("inf")
    asha = statistics.median([x[3] if x[3] is not None else never for x in rows])
    rand = statistics.median([x[2] if x[2] is not None else never for x in rows])
    show = lambda v: "not found" if v == never else f"{v:g}"
    print(f"\nmedian over {len(rows)} repetitions (not found counts as more than any budget): ASHA {show(asha)} "
          f"epochs to within 0.2 points ({asha / grid_epochs:.2f} of the grid's {grid_epochs}; goal <= 1/3), "
          f"random search {show(rand)}; ASHA found one in {sum(x[3] is not None for x in rows)} of {len(rows)}, "
          f"random search in {sum(x[2] is not None for x in rows)}; ASHA sweeps {statistics.median(x[4] for x in rows):g} "
          f"epochs in all (median)")


if __name__ == "__main__":
    main()
