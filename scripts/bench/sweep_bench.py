"""What the sweep benchmarks (asha_vs_grid.py, tpe_vs_optuna.py) share:
running sweeprun, reading a sweep's event log (docs/events.md), and the
trial list of a --dry-run."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SWEEPRUN = os.path.join(HERE, "..", "..", "build", "runner", "sweeprun")


def run(cmd, log, who):
    """cmd with its output in log; a failure ends the benchmark."""
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        sys.exit(f"{who}: {' '.join(cmd)} failed (exit {rc}); see {log}")


def events(out):
    """The events of OUT/events.jsonl, in the order they were written."""
    with open(os.path.join(out, "events.jsonl")) as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                pass   # a torn last line (never in a finished sweep)


def completed(out):
    """(trial id, best validation accuracy) of each complete trial, in the
    order they ended."""
    return [(e["trial"], e["best_val_accuracy"]) for e in events(out)
            if e.get("event") == "trial_end" and e.get("status") == "complete"]


def dry_run_ids(sweeprun, ini):
    """Trial ids in the sweep's order, from the --dry-run table."""
    text = subprocess.run([sweeprun, "sweep", ini, "--dry-run"], capture_output=True, text=True, check=True).stdout
    ids = []
    for line in text.splitlines():
        cells = line.split()
        if len(cells) > 1 and cells[0].isdigit() and len(cells[1]) == 12:
            ids.append(cells[1])
    return ids
