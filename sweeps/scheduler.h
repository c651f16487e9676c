/* Trial schedulers: the `[sweep]` key `scheduler = ...`, one interface for
 * every rule that decides, from results so far, how long a trial trains.
 *
 *   median:warmup=E[:min_trials=N]
 *       the median pruner (PruneRule, prune_rule.h; parsed by
 *       prune_rule_parse, decided by prune_decide in prune_board.h).
 *   asha:min_epochs=R,eta=H[,max_epochs=M]
 *       asynchronous successive halving (asha.h): rungs at R, R*H, R*H^2 ...
 *       epochs, every one strictly below M; a trial past the last rung
 *       trains to M (as Ray Tune's ASHA). M defaults to the trial's epochs.
 *       R == M is allowed: no rung, every trial trains M epochs.
 *   hyperband[:min_epochs=R,eta=H[,max_epochs=M][,brackets=B]]
 *       brackets of ASHA: bracket s has its first rung at R*H^s (rungs
 *       R*H^(s+j) < M); with K rungs in bracket 0, K + 1 brackets fit, the
 *       last one without rungs (every trial trains M epochs, Hyperband's
 *       most conservative bracket). Defaults R = 1, H = 3, B = all that fit.
 *       New trials go to brackets in Hyperband's equal-budget proportions,
 *       interleaved, as a function of the trial's number (asha.h).
 *
 * Keys are separated by ',', spaces around items, keys and values are
 * ignored; values are whole numbers. Errors are one line without the file
 * and line (the caller adds FILE:LINE and exits 2): unknown scheduler,
 * unknown, duplicate or missing key, KEY=VALUE syntax, a value that is not
 * a whole number or out of range (min_epochs >= 1, eta >= 2, max_epochs >=
 * 1, all <= 100000 = the largest `epochs`; brackets 1..32), min_epochs >
 * max_epochs. What depends on the trial's epochs (max_epochs <= epochs,
 * min_epochs <= epochs when max_epochs is not given, brackets that fit) is
 * scheduler_check_epochs, once per distinct `epochs` of the sweep's
 * trials. */
#ifndef SWEEPRUN_SCHEDULER_H
#define SWEEPRUN_SCHEDULER_H
#include "asha.h"
#include "prune_rule.h"

typedef enum { SCHEDULER_NONE = 0, SCHEDULER_MEDIAN, SCHEDULER_ASHA, SCHEDULER_HYPERBAND } SchedulerKind;

typedef struct SchedulerSpec {
    SchedulerKind kind;
    PruneRule median;     /* SCHEDULER_MEDIAN */
    int min_epochs;       /* R: ASHA, hyperband */
    int eta;              /* H */
    int max_epochs;       /* M; 0 = the trial's epochs */
    int brackets;         /* hyperband: B; 0 = every bracket that fits */
} SchedulerSpec;

/* The largest value of an epochs key (as `epochs` in runner/train/config.c). */
#define SCHEDULER_EPOCHS_MAX 100000

/* Parse a `scheduler` value. 0, or -1 with err (spec unchanged). */
int scheduler_parse(const char *text, SchedulerSpec *spec, char *err, int err_size);

/* The epochs a trial of `epochs` trains at most under spec: max_epochs when
 * given, else epochs. */
int scheduler_max_epochs(const SchedulerSpec *spec, int epochs);

/* Can trials of `epochs` epochs run under spec? 0, or -1 with err. Always 0
 * for none and median. */
int scheduler_check_epochs(const SchedulerSpec *spec, int epochs, char *err, int err_size);

/* The rung layout (asha.h) of an ASHA or hyperband spec for trials of
 * `epochs` epochs; scheduler_check_epochs must have passed (CHECK). */
void scheduler_layout(const SchedulerSpec *spec, int epochs, AshaLayout *layout);

/* The plan in words, for --dry-run: a first line naming the scheduler and
 * its rungs, then lines indented by two spaces (the rule, per bracket, the
 * budget); no newline at the end. Truncated to fit buf[size]. ASHA R=1,
 * eta=3 on 9 epochs:
 *   asha: rungs at 1, 3 epochs, then 9 (max_epochs)
 *     at each rung a trial goes on only if it is in the top 1/3 of the trials that reached it, else it stops there
 *     a free rank promotes a waiting trial before it starts a new one
 *     budget: about 2.33 epochs per trial started (26% of 9) if each rung keeps exactly its top 1/3 */
void scheduler_describe(const SchedulerSpec *spec, int epochs, char *buf, int size);

#endif
