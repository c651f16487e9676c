#!/usr/bin/env python3
"""sweeprun's TPE against random search and Optuna's TPESampler.

One GECCO search space (lr log-uniform, dropout uniform, weight decay and
batch size from lists), the same for all three; N trials of E epochs each,
training seed 0, one trial at a time:

- sweeprun random: `sweeprun sweep` with search = random, trials = N;
- sweeprun TPE: the same file with search = tpe (startup: 10 random draws);
- Optuna TPE: optuna.samplers.TPESampler(seed=r) (its defaults: 10 startup
  trials; multivariate for one objective), each trial one `sweeprun train`
  subprocess with the suggested values, its objective the best validation
  accuracy that `train` prints;
- Optuna TPE again, its first 10 trials enqueued as sweeprun TPE's 10
  random startup trials of the same repetition (the same configurations,
  so the same results, bit for bit): both samplers then propose from the
  same observations, and the startup's luck cancels out.

Every objective is the best validation accuracy of a trial (at its best
epoch); the test set is never read. Per repetition r (the sweep's
random_seed and Optuna's seed), the best value found after 10, 20, ..., N
trials; the table gives the median over repetitions. Run it with the
Python that has Optuna (python3 -m venv DIR && DIR/bin/pip install optuna).

usage: tpe_vs_optuna.py [--sweeprun BIN] [--work DIR] [--reps R] [--trials N]
                        [--epochs E] [--train-subset N]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess

from sweep_bench import DEFAULT_SWEEPRUN, completed, events, run

WEIGHT_DECAY = ["0", "1e-5", "1e-4", "1e-3"]
BATCH = ["32", "64", "128"]
LR = (1e-4, 1e-2)
DROPOUT = (0.05, 0.5)


def common(a):
    return {"model": "gecco", "optimizer": "adam", "epochs": str(a.epochs), "l2_scope": "all",
            "train_subset": str(a.train_subset), "test_subset": "500", "val_split": "auto", "threads": "1"}


def sweep_file(path, name, out, search, seed, a):
    lines = ["[sweep]", f"name = {name}", f"out = {out}", f"search = {search}", f"trials = {a.trials}",
             f"random_seed = {seed}", "", "[defaults]"]
    lines += [f"{k} = {v}" for k, v in common(a).items()]
    lines += ["", "[random]", f"lr = loguniform({LR[0]}, {LR[1]})", f"dropout = uniform({DROPOUT[0]}, {DROPOUT[1]})",
              f"weight_decay = choice({', '.join(WEIGHT_DECAY)})", f"batch_size = choice({', '.join(BATCH)})"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def sweeprun_curve(a, search, r):
    """Best validation accuracy of each trial, in the order they ended. A
    sweep already finished in --work is not run again (sweeprun skips its
    finished trials)."""
    out = os.path.join(a.work, f"{search}{r}")
    ini = out + ".ini"
    sweep_file(ini, f"{search}{r}", out, search, r, a)
    run([a.sweeprun, "sweep", ini, "--quiet"], out + ".log", "tpe_vs_optuna")
    return [value for _, value in completed(out)]


def startup_of(a, r):
    """The swept values of sweeprun TPE's 10 random startup trials of
    repetition r, in trial order (for Optuna's enqueue_trial)."""
    params = {}
    for e in events(os.path.join(a.work, f"tpe{r}")):
        if e.get("event") == "trial_start" and e["index"] < 10 and e["index"] not in params:
            v = e["swept"]
            params[e["index"]] = {"lr": float(v["lr"]), "dropout": float(v["dropout"]),
                                  "weight_decay": v["weight_decay"], "batch_size": v["batch_size"]}
    return [params[i] for i in sorted(params)]


def optuna_curve(a, r, startup=None):
    """Optuna's TPESampler(seed=r); with startup, its first trials are those
    (enqueued), so it starts from the same results as sweeprun's TPE. The
    values are kept in values.json in its folder and reused."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = os.path.join(a.work, f"optuna{'_paired' if startup else ''}{r}")
    saved = os.path.join(work, "values.json")
    if os.path.exists(saved):
        with open(saved) as f:
            return json.load(f)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    best_line = re.compile(r"best validation accuracy ([0-9.]+)% at epoch")

    def objective(trial):
        values = {
            "lr": trial.suggest_float("lr", *LR, log=True),
            "dropout": trial.suggest_float("dropout", *DROPOUT),
            "weight_decay": trial.suggest_categorical("weight_decay", WEIGHT_DECAY),
            "batch_size": trial.suggest_categorical("batch_size", BATCH),
        }
        cmd = [a.sweeprun, "train", "--out", os.path.join(work, f"t{trial.number}.h5")]
        for k, v in {**common(a), **values}.items():
            cmd += ["--set", f"{k}={v}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        m = best_line.search(done.stdout)
        if done.returncode != 0 or not m:
            raise RuntimeError(f"sweeprun train failed: {done.stdout[-500:]} {done.stderr[-500:]}")
        return float(m.group(1)) / 100

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=r))
    for params in startup or []:
        study.enqueue_trial(params)
    study.optimize(objective, n_trials=a.trials)
    values = [t.value for t in study.trials]
    with open(saved, "w") as f:
        json.dump(values, f)
    return values


def best_after(values, n):
    return max(values[:n]) if len(values) >= n else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweeprun", default=DEFAULT_SWEEPRUN)
    ap.add_argument("--work", default="/tmp/tpe_vs_optuna")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-subset", type=int, default=6000)
    a = ap.parse_args()
    a.sweeprun = os.path.abspath(a.sweeprun)
    os.makedirs(a.work, exist_ok=True)
    import optuna
    name = f"Optuna {optuna.__version__} TPESampler"
    paired = f"{name}, sweeprun TPE's 10 startup trials enqueued"
    curves = {"sweeprun random": [], "sweeprun TPE": [], name: [], paired: []}
    for r in range(1, a.reps + 1):
        curves["sweeprun random"].append(sweeprun_curve(a, "random", r))
        curves["sweeprun TPE"].append(sweeprun_curve(a, "tpe", r))
        curves[name].append(optuna_curve(a, r))
        curves[paired].append(optuna_curve(a, r, startup_of(a, r)))
    checkpoints = sorted(set(list(range(10, a.trials + 1, 10)) + [a.trials]))
    print(f"GECCO, {a.trials} trials of {a.epochs} epochs on {a.train_subset} training images (val_split auto), "
          f"training seed 0, one trial at a time; {a.reps} repetitions (seeds 1..{a.reps})")
    print("best validation accuracy found after n trials, median over repetitions (min - max)\n")
    print("| sampler | " + " | ".join(f"n = {n}" for n in checkpoints) + " |")
    print("| --- | " + " | ".join("---:" for _ in checkpoints) + " |")
    for name, runs in curves.items():
        cells = []
        for n in checkpoints:
            vals = [best_after(v, n) for v in runs]
            cells.append(f"{100 * statistics.median(vals):.2f}% ({100 * min(vals):.2f} - {100 * max(vals):.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nmean over repetitions ± standard error; gain = best after n trials - best after the 10 random "
          "startup trials, of the same repetition (removes the luck of the startup draws, which differ between "
          "sweeprun and Optuna)\n")
    print("| sampler | " + " | ".join(f"mean, n = {n}" for n in checkpoints) + f" | gain, n = {a.trials} |")
    print("| --- | " + " | ".join("---:" for _ in checkpoints) + " | ---: |")
    for name, runs in curves.items():
        cells = [mean_se([best_after(v, n) for v in runs]) for n in checkpoints]
        gain = mean_se([best_after(v, a.trials) - best_after(v, 10) for v in runs])
        print(f"| {name} | " + " | ".join(cells) + f" | {gain} |")
    ours = [max(v) for v in curves["sweeprun TPE"]]
    print(f"\nsweeprun TPE minus each, best after {a.trials} trials, same repetition: mean ± standard error "
          "(repetitions where sweeprun TPE is better / worse / equal)")
    for name, runs in curves.items():
        if name == "sweeprun TPE":
            continue
        d = [round(u - max(v), 9) for u, v in zip(ours, runs)]   # 0.89 parsed from text vs 445 / 500
        print(f"  {name}: {mean_se(d)} points ({sum(x > 0 for x in d)} / {sum(x < 0 for x in d)} / "
              f"{sum(x == 0 for x in d)})")
    print("\nper repetition, best after all trials:")
    for name, runs in curves.items():
        print(f"  {name}: " + ", ".join(f"{100 * max(v):.2f}%" for v in runs))


def mean_se(values):
    """'m ± se' in percentage points."""
    m = statistics.mean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return f"{100 * m:.2f} ± {100 * se:.2f}"


if __name__ == "__main__":
    main()
