/* `scheduler = asha:...` and `hyperband:...` in `sweeprun sweep`: the
 * driver that asks the rule (sweeps/asha.h) what each free group does,
 * keeps every decision in a journal, and trains trials rung by rung.
 *
 * The journal, OUT/asha.jsonl, one JSON object per line, each appended in
 * one write() under an flock on OUT/asha.lock:
 *   {"event":"header","run":N,"file_hash":H,"scheduler":{...},"trials":T}  each run
 *   {"event":"start","trial":I,"id":ID,"bracket":B,"train_to":E,"run":N}
 *   {"event":"rung","trial":I,"rung":K,"epochs":E,"metric":VAL_ACC}
 *   {"event":"promote","trial":I,"from_rung":K,"train_to":E,"run":N}
 *   {"event":"resume","trial":I,"train_to":E,"run":N}   an orphan taken up again
 *   {"event":"drop","trial":I,"status":S,"epochs":E}      failed, diverged, early-stopped
 *   {"event":"finish","run":N}                          nothing more can be promoted
 * Trial I is the I-th trial started, which is trial I of the sweep's
 * expanded list (rows start in list order). A rung with K = the bracket's
 * rung count is max_epochs: the trial is complete.
 *
 * A free group's first rank locks the journal, reads the lines it has not
 * seen into its own AshaTable (the same calls in the same order rebuild
 * the same table on every rank), decides, appends the decision, unlocks,
 * and tells its group. Decisions are made on validation accuracy only
 * (the sweep file must have a validation split). Promoting continues the
 * trial's NAME.h5.tmp (paused at the rung) to the next rung; when nothing
 * more can come, trials left waiting at a rung are finished as "pruned"
 * with the attribute stopped_at_rung.
 *
 * Resume: a rerun appends a new header (run N + 1) and replays the
 * journal; trials that were running when an earlier run died (their
 * start, promote or resume is from an earlier run) are handed out first,
 * continuing their .tmp. A finished journal hands out nothing. */
#ifndef SWEEPRUN_SWEEP_ASHA_H
#define SWEEPRUN_SWEEP_ASHA_H
#include "comm.h"
#include "sweep_expand.h"
#include "trial.h"

#define SWEEP_ASHA_JOURNAL "asha.jsonl"
#define SWEEP_ASHA_LOCK "asha.lock"

typedef struct AshaHooks {
    void *user;
    /* Collective over the group: train trial `index` until `train_to`
     * epochs in all, continuing its .tmp; o as trial_run's. A trial that
     * ended (not RUN_PAUSED) has its trial_end logged. orphan: an earlier
     * run died while training it (a resume, not a promotion). */
    void (*run)(void *user, int index, int train_to, int orphan, TrialOutcome *o);
    /* Every rank of a group: whether to stop taking work (a stop signal,
     * another rank's stop mark, or, on the first rank, max_failures). */
    int (*stopping)(void *user);
    /* The group's first rank: count a failed or diverged trial (for
     * max_failures). */
    void (*failed)(void *user);
    /* The group's first rank, after trial `index`'s run file was
     * finished as stopped at `rung` (`epochs` trained): its trial_end. */
    void (*stopped_at_rung)(void *user, int index, int rung, int epochs, double metric, const char *reason);
} AshaHooks;

typedef struct SweepAsha SweepAsha;

/* Collective over world, once the out folder is ready and before anything
 * else is written: open the journal, replay it (rank 0) and start this
 * run (its header). NULL on every rank, after the message, when it cannot
 * be used: unopenable, or written for another version of the sweep file
 * (its hash differs) or with lines that do not fit the trials. The
 * trials must all have the epochs scheduler_layout was checked for. */
SweepAsha *sweep_asha_open(const ProcessGroup *world, const ProcessGroup *group, const SweepFile *sf,
                           const SweepTrials *trials);
/* Collective over world: every group takes orders until the rule says
 * done or the sweep stops. Then outcome[i] (RAN_* of sweep_outcome.h) and
 * stopped_rung[i] (where a RAN_STOPPED trial stopped, as bracket *
 * ASHA_MAX_RUNGS + rung, else -1) are filled on every rank for every
 * trial, from the journal. */
void sweep_asha_run(SweepAsha *a, const AshaHooks *hooks, int *outcome, int *stopped_rung);
void sweep_asha_close(SweepAsha *a);

#endif
