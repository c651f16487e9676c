#include "asha.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

/* ---- the table -------------------------------------------------------------- */

static void check_layout(const AshaLayout *l)
{
    CHECK(l->eta >= 2, "asha: eta %d < 2", l->eta);
    CHECK(l->max_epochs >= 1, "asha: max_epochs %d < 1", l->max_epochs);
    CHECK(l->n_brackets >= 1 && l->n_brackets <= ASHA_MAX_BRACKETS, "asha: %d brackets", l->n_brackets);
    for (int b = 0; b < l->n_brackets; b++) {
        const AshaBracket *br = &l->brackets[b];
        CHECK(br->n_rungs >= 0 && br->n_rungs <= ASHA_MAX_RUNGS, "asha: bracket %d has %d rungs", b, br->n_rungs);
        CHECK(br->weight >= 1, "asha: bracket %d has weight %ld", b, br->weight);
        for (int k = 0; k < br->n_rungs; k++) {
            int below = k ? br->rung_epochs[k - 1] : 0;
            CHECK(br->rung_epochs[k] > below && br->rung_epochs[k] < l->max_epochs,
                  "asha: bracket %d rung %d at %d epochs is out of order", b, k, br->rung_epochs[k]);
        }
    }
}

void asha_table_init(AshaTable *t, const AshaLayout *layout)
{
    check_layout(layout);
    memset(t, 0, sizeof *t);
    t->layout = *layout;
}

void asha_table_free(AshaTable *t)
{
    free(t->trials);
    memset(t, 0, sizeof *t);
}

static int n_rungs_of(const AshaTable *t, int trial) { return t->layout.brackets[t->trials[trial].bracket].n_rungs; }

/* Bracket b's share of the first n_trials + 1 trials minus what it has had,
 * in units of 1 / sum(weight). In doubles: weights reach eta^rungs (1e10
 * for eta 99999), whose products with a trial count can pass 2^63; below
 * 2^53 (every practical sweep) the numbers are exact. */
int asha_next_bracket(const AshaTable *t)
{
    const AshaLayout *l = &t->layout;
    double total = 0, next = (double)t->n_trials + 1;
    for (int b = 0; b < l->n_brackets; b++) total += (double)l->brackets[b].weight;
    int best = 0;
    double best_deficit = 0;
    for (int b = 0; b < l->n_brackets; b++) {
        double deficit = (double)l->brackets[b].weight * next - (double)t->started[b] * total;
        if (b == 0 || deficit > best_deficit) best = b, best_deficit = deficit;
    }
    return best;
}

int asha_add_trial(AshaTable *t)
{
    if (t->n_trials == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 16;
        t->trials = xrealloc(t->trials, (size_t)t->capacity * sizeof *t->trials);
    }
    int b = asha_next_bracket(t);
    AshaTrial *tr = &t->trials[t->n_trials];
    memset(tr, 0, sizeof *tr);
    tr->bracket = b;
    tr->rung = -1;
    tr->state = ASHA_RUNNING;
    tr->final_metric = NAN;
    t->started[b]++;
    return t->n_trials++;
}

static int valid_trial(const AshaTable *t, int trial) { return trial >= 0 && trial < t->n_trials; }

int asha_record(AshaTable *t, int trial, int rung, double m)
{
    if (!valid_trial(t, trial)) return -1;
    AshaTrial *tr = &t->trials[trial];
    if (tr->state != ASHA_RUNNING || rung != tr->rung + 1) return -1;
    tr->rung = rung;
    if (rung == n_rungs_of(t, trial)) {
        tr->state = ASHA_COMPLETE;
        tr->final_metric = m;
    } else {
        tr->state = ASHA_WAITING;
        tr->metric[rung] = m;
    }
    return 0;
}

int asha_promote(AshaTable *t, int trial)
{
    if (!valid_trial(t, trial) || t->trials[trial].state != ASHA_WAITING) return -1;
    t->trials[trial].state = ASHA_RUNNING;
    return 0;
}

int asha_drop(AshaTable *t, int trial)
{
    if (!valid_trial(t, trial)) return -1;
    AshaTrial *tr = &t->trials[trial];
    if (tr->state != ASHA_RUNNING && tr->state != ASHA_WAITING) return -1;
    tr->state = ASHA_STOPPED;
    return 0;
}

void asha_finish(AshaTable *t)
{
    for (int i = 0; i < t->n_trials; i++)
        if (t->trials[i].state == ASHA_WAITING) t->trials[i].state = ASHA_STOPPED;
}

/* ---- epochs ----------------------------------------------------------------- */

static int epochs_of_rung(const AshaLayout *l, int b, int rung)
{
    if (rung < 0) return 0;
    return rung >= l->brackets[b].n_rungs ? l->max_epochs : l->brackets[b].rung_epochs[rung];
}

int asha_epochs_reached(const AshaTable *t, int trial)
{
    const AshaTrial *tr = &t->trials[trial];
    return epochs_of_rung(&t->layout, tr->bracket, tr->rung);
}

int asha_epochs_target(const AshaTable *t, int trial)
{
    const AshaTrial *tr = &t->trials[trial];
    int rung = tr->state == ASHA_RUNNING ? tr->rung + 1 : tr->rung;
    return epochs_of_rung(&t->layout, tr->bracket, rung);
}

int asha_rung_at(const AshaLayout *l, int b, int epochs)
{
    const AshaBracket *br = &l->brackets[b];
    for (int k = 0; k < br->n_rungs; k++)
        if (br->rung_epochs[k] == epochs) return k;
    return epochs == l->max_epochs ? br->n_rungs : -1;
}

/* Synchronous successive halving: a fraction eta^-k of the trials trains
 * from rung k - 1 to rung k (and past the last rung to max_epochs). */
static double bracket_expected_epochs(const AshaLayout *l, int b)
{
    const AshaBracket *br = &l->brackets[b];
    double epochs = 0, share = 1;
    for (int k = 0; k <= br->n_rungs; k++) {
        epochs += share * (epochs_of_rung(l, b, k) - epochs_of_rung(l, b, k - 1));
        share /= l->eta;
    }
    return epochs;
}

double asha_expected_epochs(const AshaLayout *l)
{
    double sum = 0, weights = 0;
    for (int b = 0; b < l->n_brackets; b++) {
        sum += (double)l->brackets[b].weight * bracket_expected_epochs(l, b);
        weights += (double)l->brackets[b].weight;
    }
    return sum / weights;
}

/* ---- the rule --------------------------------------------------------------- */

typedef struct Ranked {
    double metric;
    int trial;
} Ranked;

/* Larger metric first, NaN last, then the earlier trial. */
static int compare_ranked(const void *pa, const void *pb)
{
    const Ranked *a = pa, *b = pb;
    int a_nan = isnan(a->metric), b_nan = isnan(b->metric);
    if (a_nan != b_nan) return a_nan - b_nan;
    if (!a_nan && a->metric != b->metric) return a->metric > b->metric ? -1 : 1;
    return (a->trial > b->trial) - (a->trial < b->trial);
}

/* The trial to promote from rung k of bracket b, or -1. scratch holds
 * n_trials entries. */
static int promotable_at(const AshaTable *t, int b, int k, Ranked *scratch)
{
    int n = 0;
    for (int i = 0; i < t->n_trials; i++) {
        const AshaTrial *tr = &t->trials[i];
        if (tr->bracket == b && tr->rung >= k) scratch[n++] = (Ranked){tr->metric[k], i};
    }
    qsort(scratch, (size_t)n, sizeof *scratch, compare_ranked);
    int top = n / t->layout.eta;
    for (int r = 0; r < top; r++) {
        const AshaTrial *tr = &t->trials[scratch[r].trial];
        if (tr->rung == k && tr->state == ASHA_WAITING && !isnan(scratch[r].metric)) return scratch[r].trial;
    }
    return -1;
}

typedef struct RungRef {
    int epochs, bracket, rung;
} RungRef;

/* Most epochs first, then the lower bracket. */
static int compare_rung_refs(const void *pa, const void *pb)
{
    const RungRef *a = pa, *b = pb;
    if (a->epochs != b->epochs) return a->epochs > b->epochs ? -1 : 1;
    return (a->bracket > b->bracket) - (a->bracket < b->bracket);
}

/* Every (bracket, rung) in the order the rule visits them; their count. */
static int rungs_in_visit_order(const AshaLayout *l, RungRef *out)
{
    int n = 0;
    for (int b = 0; b < l->n_brackets; b++)
        for (int k = 0; k < l->brackets[b].n_rungs; k++) out[n++] = (RungRef){l->brackets[b].rung_epochs[k], b, k};
    qsort(out, (size_t)n, sizeof *out, compare_rung_refs);
    return n;
}

static int find_promotion(const AshaTable *t, int *from_rung)
{
    RungRef order[ASHA_MAX_BRACKETS * ASHA_MAX_RUNGS];   /* 12 KiB */
    int n = rungs_in_visit_order(&t->layout, order), found = -1;
    Ranked *scratch = xmalloc((size_t)(t->n_trials ? t->n_trials : 1) * sizeof *scratch);
    for (int i = 0; i < n && found < 0; i++) {
        found = promotable_at(t, order[i].bracket, order[i].rung, scratch);
        *from_rung = order[i].rung;
    }
    free(scratch);
    return found;
}

/* A RUNNING trial heading to a rung (not to max_epochs) can still make a
 * trial promotable when it arrives. */
static int running_toward_a_rung(const AshaTable *t)
{
    for (int i = 0; i < t->n_trials; i++)
        if (t->trials[i].state == ASHA_RUNNING && t->trials[i].rung + 1 < n_rungs_of(t, i)) return 1;
    return 0;
}

AshaDecision asha_next(const AshaTable *t, int can_start)
{
    int from = -1, trial = find_promotion(t, &from);
    if (trial >= 0) {
        int b = t->trials[trial].bracket;
        return (AshaDecision){ASHA_PROMOTE, trial, b, from, epochs_of_rung(&t->layout, b, from + 1)};
    }
    if (can_start) {
        int b = asha_next_bracket(t);
        return (AshaDecision){ASHA_START, t->n_trials, b, -1, epochs_of_rung(&t->layout, b, 0)};
    }
    if (running_toward_a_rung(t)) return (AshaDecision){ASHA_WAIT, -1, -1, -1, 0};
    return (AshaDecision){ASHA_DONE, -1, -1, -1, 0};
}
