/* Asynchronous successive halving (ASHA: Li et al., "A System for Massively
 * Parallel Hyperparameter Tuning", MLSys 2020), and asynchronous Hyperband
 * as brackets of it: the decision rule on a table of trials, with no I/O,
 * no clock and no randomness, so every decision can be checked by hand.
 *
 * Layout (AshaLayout; sweeps/scheduler.h builds it from a sweep file's
 * `scheduler = ...`). A bracket has rungs at rung_epochs[0] < ... <
 * rung_epochs[n_rungs - 1], all below max_epochs; rung k is "trained
 * rung_epochs[k] epochs". Past the last rung a trial trains to max_epochs
 * and is complete (as Ray Tune's ASHA: rungs R*H^k strictly below max_t). A
 * bracket with no rung trains every trial to max_epochs. ASHA is one
 * bracket; Hyperband several, each trial in one of them.
 *
 * The table (AshaTable): one row a trial, in the order trials were started
 * (the row index is the trial's number in the sweep: 0, 1, 2 ...). A row
 * holds its bracket, the highest rung it has reached (-1: none yet), its
 * metric at each rung reached (larger is better: pass validation accuracy,
 * or the negated loss) and its state:
 *
 *   RUNNING   training toward its next rung (or to max_epochs past the last)
 *   WAITING   paused at a rung, waiting for a promotion
 *   STOPPED   ended below max_epochs: not promoted when nothing more could
 *             come (asha_finish), or ended by the caller (asha_drop: failed,
 *             diverged); "stopped at rung k" with k = rung
 *   COMPLETE  trained to max_epochs
 *
 * Transitions: asha_add_trial (new row, RUNNING toward rung 0), asha_record
 * (RUNNING reaches its next rung: WAITING, or COMPLETE at max_epochs),
 * asha_promote (WAITING at rung k: RUNNING toward k + 1), asha_drop (RUNNING
 * or WAITING: STOPPED), asha_finish (every WAITING: STOPPED).
 *
 * The rule (asha_next), what a free rank is told:
 *  1. PROMOTE, if a trial can be: visit the rungs from the most epochs down
 *     (across brackets: by rung_epochs descending, then bracket ascending);
 *     at rung k of bracket b, rank the n trials of b that have reached k
 *     (running, waiting, stopped or complete alike) by their metric at k,
 *     larger first, equal metrics by the earlier trial first, NaN last. The
 *     top floor(n / eta) are the promotable ones; the first of them, in rank
 *     order, that is WAITING at k and whose metric is not NaN is promoted
 *     to k + 1. A trial is promoted from a rung at most once (it leaves it).
 *  2. START a new trial, if the caller's budget allows one (can_start).
 *  3. WAIT, if some RUNNING trial is heading to a rung (not to max_epochs):
 *     its arrival can make a trial promotable.
 *  4. DONE otherwise: nothing this table will ever hand out; trials running
 *     to max_epochs finish where they are, and asha_finish may be called.
 *
 * Hyperband brackets. A new trial's bracket is a function of its number
 * only. Bracket b with s rungs gets Hyperband's trial count for s halvings,
 * n_s = ceil((S + 1) / (s + 1) * eta^s), where S is the rung count of the
 * bracket with the most (Li et al., JMLR 2018: the counts that give each
 * bracket about the same budget); those counts are interleaved: trial i
 * goes to the bracket whose share of the first i + 1 trials is the most
 * behind, n_b * (i + 1) - count_b * sum(n), ties to the lower b. Example
 * R=1, eta=3, M=9: brackets with rungs {1, 3}, {3}, {} get 9 : 5 : 3 trials
 * of every 17, in the order 0 1 0 2 0 1 0 2 0 1 0 1 0 2 0 1 0. (Ray Tune
 * draws the bracket at random; Li et al.'s ASHA paper loops through
 * brackets; neither is both deterministic and budget-balanced.)
 *
 * Cost: asha_next is O(rungs x n log n) for n trials (it sorts each rung);
 * a table of 10,000 trials with 4 rungs answers in 2.0-2.3 ms (measured on
 * this machine, -O3), far below an epoch of training.
 *
 * Reproducibility: the rule reads only the table, so replaying the same
 * calls (add, record, promote, drop) in the same order rebuilds the same
 * table and the same next decision; the driver journals each call. */
#ifndef SWEEPRUN_ASHA_H
#define SWEEPRUN_ASHA_H

/* R >= 1, eta >= 2 and M <= 100000 epochs give at most 17 rungs; 32 is
 * what any int M can need (1 * 2^31 > INT_MAX). */
#define ASHA_MAX_RUNGS 32
#define ASHA_MAX_BRACKETS 32

typedef struct AshaBracket {
    int n_rungs;                        /* 0: every trial trains to max_epochs */
    int rung_epochs[ASHA_MAX_RUNGS];    /* increasing, each < max_epochs */
    long weight;                        /* trials of every sum(weight) started that come here */
} AshaBracket;

typedef struct AshaLayout {
    int eta;                            /* >= 2: keep the top 1/eta at each rung */
    int max_epochs;                     /* a trial past its bracket's last rung trains this far */
    int n_brackets;                     /* 1 for ASHA */
    AshaBracket brackets[ASHA_MAX_BRACKETS];
} AshaLayout;

typedef enum { ASHA_RUNNING, ASHA_WAITING, ASHA_STOPPED, ASHA_COMPLETE } AshaState;

typedef struct AshaTrial {
    int bracket;
    int rung;                           /* highest rung reached; -1 none; n_rungs when COMPLETE */
    AshaState state;
    double metric[ASHA_MAX_RUNGS];      /* at rungs 0..rung (decision rungs only) */
    double final_metric;                /* at max_epochs when COMPLETE, else NaN */
} AshaTrial;

typedef struct AshaTable {
    AshaLayout layout;
    AshaTrial *trials;
    int n_trials, capacity;
    long started[ASHA_MAX_BRACKETS];    /* trials per bracket so far */
} AshaTable;

typedef enum { ASHA_PROMOTE, ASHA_START, ASHA_WAIT, ASHA_DONE } AshaAction;

typedef struct AshaDecision {
    AshaAction action;
    int trial;          /* PROMOTE: the trial; START: the number the new trial will get */
    int bracket;        /* PROMOTE, START: its bracket */
    int from_rung;      /* PROMOTE: the rung it leaves; START: -1 */
    int train_to;       /* PROMOTE, START: train until this many epochs in all */
} AshaDecision;

/* An empty table for layout (copied). Checks the layout (CHECK: a bad one
 * is a bug of whoever built it). Free with asha_table_free. */
void asha_table_init(AshaTable *t, const AshaLayout *layout);
void asha_table_free(AshaTable *t);

/* The bracket the next trial (number t->n_trials) goes to. */
int asha_next_bracket(const AshaTable *t);
/* A new trial, RUNNING toward rung 0 of asha_next_bracket(t); its number. */
int asha_add_trial(AshaTable *t);

/* Trial `trial` reached rung `rung` with metric m. rung must be the one it
 * is RUNNING toward (its AshaTrial.rung + 1); its bracket's n_rungs means
 * max_epochs: COMPLETE, m kept as final_metric. 0, or -1 (table unchanged)
 * when the trial is not RUNNING toward that rung. */
int asha_record(AshaTable *t, int trial, int rung, double m);
/* Trial `trial`, WAITING at its rung, goes on toward the next: 0, or -1
 * (unchanged) when it is not WAITING. The rule is not re-checked: replaying
 * a journal applies what was decided then. */
int asha_promote(AshaTable *t, int trial);
/* Trial `trial` ended outside the rule (failed, diverged): STOPPED at the
 * rung it reached; its metrics keep counting at those rungs. 0, or -1 when
 * it was already STOPPED or COMPLETE. */
int asha_drop(AshaTable *t, int trial);
/* Nothing more will be promoted (asha_next said DONE, or the sweep
 * stops): every WAITING trial becomes STOPPED at its rung. */
void asha_finish(AshaTable *t);

/* What a free rank should do; see the rule above. can_start: the caller's
 * budget allows one more trial. */
AshaDecision asha_next(const AshaTable *t, int can_start);

/* Epochs trained in all once trial `trial` is at its rung (0 before rung
 * 0; max_epochs when COMPLETE), and the epochs it is heading to while
 * RUNNING (else the same as reached). */
int asha_epochs_reached(const AshaTable *t, int trial);
int asha_epochs_target(const AshaTable *t, int trial);

/* The rung of bracket b that ends at `epochs` (0-based rung index), its
 * n_rungs when epochs == max_epochs, else -1. */
int asha_rung_at(const AshaLayout *l, int b, int epochs);

/* Average epochs per started trial if every rung kept exactly its top
 * 1/eta (synchronous successive halving), brackets weighted by their share
 * of trials. R=1, eta=3, M=9 in one bracket: 1 + 2/3 + 6/9 = 2.33. */
double asha_expected_epochs(const AshaLayout *l);

#endif
