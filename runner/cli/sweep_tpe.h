/* `search = tpe` in `sweeprun sweep`: the trials after the random startup
 * get their [random] values from the TPE sampler (sweeps/tpe.h) at the
 * moment a group takes them, from the results the sweep has so far; every
 * proposal and every result is written down first, in a journal.
 *
 * The trial list is expanded as random search's (trials = N draws); a
 * trial whose draw number is below the startup (tpe_startup, 10) keeps its
 * random draw, the others' draws are placeholders until proposed. The
 * journal, OUT/tpe.jsonl, one JSON object per line, each appended in one
 * write() under an flock on OUT/tpe.lock:
 *   {"event":"propose","trial":I,"id":ID,"values":[V, ...]}   every axis, sf->axes order
 *   {"event":"result","trial":I,"value":VAL_ACC}                 null: diverged, failed, no split
 * I is the trial's position in the list. A group's first rank, given a
 * trial to run, locks the journal, reads what other groups wrote since it
 * last looked, proposes from every result so far (the trial's best
 * validation accuracy; the test set is never read), appends the proposal,
 * unlocks, and tells its group. A proposal that repeats a trial of the
 * list (a small choice()) is drawn again, up to 64 times; then the trial
 * keeps its random draw (its propose line says "from": "random draw").
 *
 * Resume: every rank replays the journal while it plans the sweep, so a
 * proposed trial keeps its values (and its run file) across reruns; only
 * trials never proposed are proposed afresh. With one rank the sequence of
 * proposals is a pure function of the file (results arrive in trial
 * order); with many, it depends on which trials ended first, and the
 * journal says what happened. */
#ifndef SWEEPRUN_SWEEP_TPE_H
#define SWEEPRUN_SWEEP_TPE_H
#include "comm.h"
#include "sweep_expand.h"
#include "sweep_problems.h"
#include "trial.h"

#define SWEEP_TPE_JOURNAL "tpe.jsonl"
#define SWEEP_TPE_LOCK "tpe.lock"

typedef struct SweepTpe SweepTpe;

/* Plan time, every rank: replay OUT/tpe.jsonl (when there is one) into
 * trials (each proposed trial rebuilt with its values, through r). A line
 * that does not fit the sweep file goes to pr as "OUT/tpe.jsonl:LINE:
 * ...". r must outlive the study. */
SweepTpe *sweep_tpe_load(const SweepFile *sf, const SweepResolver *r, SweepTrials *trials, SweepProblems *pr);
/* Collective over world, once the out folder exists: the group leads open
 * the journal for appending. 0, or -1 on every rank after the message. */
int sweep_tpe_start(SweepTpe *t, const ProcessGroup *world, const ProcessGroup *group);
/* Collective over group, before trial index runs: propose it if it needs
 * it (the lead) and rebuild it on every rank of the group. */
void sweep_tpe_prepare(SweepTpe *t, const ProcessGroup *group, int index);
/* The group's lead, after trial index ended: its result into the journal. */
void sweep_tpe_result(SweepTpe *t, int index, const TrialOutcome *o);
/* Rank 0 at the end: read what the other groups proposed, so every trial
 * of the list has its values (for the summary and the Pareto front). */
void sweep_tpe_refresh(SweepTpe *t);
/* Proposed trials so far (of those with a draw number past the startup). */
int sweep_tpe_proposed(const SweepTpe *t, int *to_propose);
int sweep_tpe_startup(const SweepTpe *t);
void sweep_tpe_free(SweepTpe *t);

#endif
