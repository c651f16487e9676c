/* search = tpe: see sweep_tpe.h. */
#include "sweep_tpe.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include "commands.h"
#include "sweep_events.h"
#include "tpe.h"
#include "trial_state.h"
#include "util.h"

/* Tries at a proposal distinct from every trial of the list. */
#define TPE_MAX_REDRAWS 64

struct SweepTpe {
    const SweepFile *sf;
    const SweepResolver *resolver;
    SweepTrials *trials;
    TpeOptions opt;
    int first_random, n_random;    /* the [random] axes: sf->axes[first_random ..), after the [grid] ones */
    char *proposed;                /* per trial: a propose line was read or written */
    char *has_result;              /* per trial: a result line was read or written */
    double *result;                /* per trial: its result (NaN: none yet, or none at all) */
    char **values;                 /* n_axes buffers of SWEEP_VALUE_MAX: one configuration */
    SweepEventLog journal;         /* group leads: open for appending */
    int lock_fd;
    long offset, line_no;          /* how far this rank has read the journal */
    SweepProblems *problems;       /* while loading: where lines that do not fit go */
};

/* ---- reading the journal ------------------------------------------------------ */

static int trial_of(const SweepTpe *t, const cJSON *ev)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev, "trial");
    if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || n->valuedouble < 0
        || n->valuedouble >= t->trials->count)
        return -1;
    return (int)n->valuedouble;
}

/* Trial i with the values in t->values: 0, or -1 (i unchanged) when the
 * resolver rejects them (its message in pr, or dropped when pr is NULL). */
static int rebuild(SweepTpe *t, int i, SweepProblems *pr)
{
    SweepProblems scratch;
    sweep_problems_init(&scratch, t->sf->path);
    int rc = sweep_trial_rebuild(t->sf, t->resolver, &t->trials->items[i], t->values, pr ? pr : &scratch);
    sweep_problems_free(&scratch);
    return rc;
}

static void journal_problem(SweepTpe *t, const char *fmt, const char *detail)
{
    if (t->problems)
        sweep_problems_add(t->problems, 0, "%s:%ld: %s%s; the proposals cannot be replayed: restore the sweep file "
                           "they were made for, or move %s away to start the study afresh", t->journal.path,
                           t->line_no, fmt, detail, t->journal.path);
}

static void apply_propose(SweepTpe *t, int i, const cJSON *ev)
{
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(ev, "values");
    if (!cJSON_IsArray(vals) || cJSON_GetArraySize(vals) != t->sf->n_axes) {
        journal_problem(t, "a proposal without one value per swept key", "");
        return;
    }
    int k = 0;
    for (const cJSON *v = vals->child; v; v = v->next, k++) {
        if (!cJSON_IsString(v)) {
            journal_problem(t, "a proposal value that is not text", "");
            return;
        }
        snprintf(t->values[k], SWEEP_VALUE_MAX, "%s", v->valuestring);
    }
    SweepProblems why;
    sweep_problems_init(&why, t->sf->path);
    if (rebuild(t, i, &why)) {
        char line[1024] = "";
        if (why.count) sweep_problem_format(&why, 0, line, sizeof line);
        journal_problem(t, "a proposal the sweep file now rejects: ", line);
    } else {
        t->proposed[i] = 1;
    }
    sweep_problems_free(&why);
}

static void apply_line(void *user, const cJSON *ev)
{
    SweepTpe *t = user;   /* t->line_no: this line's number (sweep_events_read counts) */
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "event");
    int i = trial_of(t, ev);
    if (!cJSON_IsString(name) || i < 0) {
        journal_problem(t, "not a propose or result line of this sweep's trials", "");
        return;
    }
    if (!strcmp(name->valuestring, "propose")) {
        apply_propose(t, i, ev);
    } else if (!strcmp(name->valuestring, "result")) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, "value");
        t->result[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        t->has_result[i] = 1;
    } else {
        journal_problem(t, "an unknown event", "");
    }
}

/* Every complete line not read yet. A line that is no JSON object was torn
 * by a kill while it was written: nobody acted on it, and it is skipped. */
static void catch_up(SweepTpe *t)
{
    int unreadable = 0;
    sweep_events_read(t->journal.path, &t->offset, &t->line_no, apply_line, t, &unreadable, NULL);
}

/* ---- loading, starting -------------------------------------------------------- */

SweepTpe *sweep_tpe_load(const SweepFile *sf, const SweepResolver *r, SweepTrials *trials, SweepProblems *pr)
{
    SweepTpe *t = xcalloc(1, sizeof *t);
    t->sf = sf;
    t->resolver = r;
    t->trials = trials;
    t->opt = tpe_defaults();
    if (sf->tpe_startup > 0) t->opt.n_startup = sf->tpe_startup;
    t->lock_fd = t->journal.fd = -1;
    t->first_random = sf->n_axes;
    for (int i = sf->n_axes - 1; i >= 0 && sf->axes[i].random; i--) t->first_random = i;
    t->n_random = sf->n_axes - t->first_random;
    t->proposed = xcalloc((size_t)trials->count + 1, 1);
    t->has_result = xcalloc((size_t)trials->count + 1, 1);
    t->result = xmalloc(((size_t)trials->count + 1) * sizeof *t->result);
    for (int i = 0; i < trials->count; i++) t->result[i] = NAN;
    t->values = xmalloc((size_t)(sf->n_axes ? sf->n_axes : 1) * sizeof *t->values);
    for (int i = 0; i < sf->n_axes; i++) t->values[i] = xcalloc(1, SWEEP_VALUE_MAX);
    snprintf(t->journal.path, sizeof t->journal.path, "%s/%s", sf->out, SWEEP_TPE_JOURNAL);
    t->problems = pr;
    if (access(t->journal.path, F_OK) == 0) catch_up(t);
    t->problems = NULL;
    return t;
}

static void lock_journal(SweepTpe *t)
{
    while (flock(t->lock_fd, LOCK_EX) && errno == EINTR) continue;
    catch_up(t);
}

static void unlock_journal(SweepTpe *t) { flock(t->lock_fd, LOCK_UN); }

static void append_result(SweepTpe *t, int index, double value)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "result");
    cJSON_AddNumberToObject(ev, "trial", index);
    sweep_event_number(ev, "value", value);
    sweep_events_append(&t->journal, ev);
    t->result[index] = value;
    t->has_result[index] = 1;
}

/* Rank 0 before anything runs: a trial whose final run file was written
 * by a run killed before its result line gets that line now, from the
 * file (complete or pruned: its best validation accuracy; else none). */
static void recover_results(SweepTpe *t)
{
    lock_journal(t);
    for (int i = 0; i < t->trials->count; i++) {
        const SweepTrial *x = &t->trials->items[i];
        TrialResult r;
        if (t->has_result[i] || (!t->proposed[i] && x->config >= t->opt.n_startup)
            || trial_read_result(x->run_file, &r))
            continue;
        int scored = !strcmp(r.status, "complete") || !strcmp(r.status, "pruned");
        append_result(t, i, scored ? r.best_val_accuracy : NAN);
    }
    unlock_journal(t);
}

int sweep_tpe_start(SweepTpe *t, const ProcessGroup *world, const ProcessGroup *group)
{
    char err[4400] = "", lock_path[SWEEP_PATH_MAX + 32];
    snprintf(lock_path, sizeof lock_path, "%s/%s", t->sf->out, SWEEP_TPE_LOCK);
    if (group->rank == 0) {
        t->journal.fd = open(t->journal.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        t->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (t->journal.fd < 0 || t->lock_fd < 0)
            snprintf(err, sizeof err, "sweep: cannot open %.4000s: %s", t->journal.fd < 0 ? t->journal.path : lock_path,
                     strerror(errno));
    }
    /* A line torn by a kill ends before this run's first line. */
    if (!err[0] && world->rank == 0) {
        sweep_events_seal(&t->journal);
        recover_results(t);
    }
    return comm_agree(world, err[0] ? err : NULL) ? -1 : 0;
}

/* ---- proposing ------------------------------------------------------------------ */

/* Does another trial of the list have trial i's id? */
static int repeats_another(const SweepTpe *t, int i)
{
    const SweepTrials *tr = t->trials;
    for (int k = 0; k < tr->count; k++)
        if (k != i && !strcmp(tr->items[k].id, tr->items[i].id)) return 1;
    return 0;
}

/* The results so far as the sampler's observations: rows of the [random]
 * axes' encoded values, and their results. Returns how many. */
static int observations(const SweepTpe *t, double *obs, double *y)
{
    int n = 0;
    for (int i = 0; i < t->trials->count; i++) {
        if (isnan(t->result[i])) continue;
        const SweepTrial *x = &t->trials->items[i];
        for (int j = 0; j < t->n_random; j++)
            obs[(long)n * t->n_random + j] = tpe_encode(&t->sf->axes[t->first_random + j],
                                                        x->axis_values[t->first_random + j]);
        y[n++] = t->result[i];
    }
    return n;
}

/* The lead, under the lock: trial i's proposal, rebuilt into the list and
 * appended to the journal. When every redraw repeats another trial (a
 * space of few configurations, all in the list), the trial keeps its
 * random draw, which expansion made distinct from every other trial's.
 * 0, or -2 when the journal refused the line. */
static int propose(SweepTpe *t, int i)
{
    SweepTrial *x = &t->trials->items[i];
    int n = t->trials->count;
    double *obs = xmalloc(((size_t)n * (t->n_random ? t->n_random : 1) + 1) * sizeof *obs);
    double *y = xmalloc(((size_t)n + 1) * sizeof *y);
    int n_obs = observations(t, obs, y);
    char (*random)[SWEEP_VALUE_MAX] = xcalloc((size_t)(t->n_random ? t->n_random : 1), SWEEP_VALUE_MAX);
    int n_axes = t->sf->n_axes;
    char (*before)[SWEEP_VALUE_MAX] = xcalloc((size_t)(n_axes ? n_axes : 1), SWEEP_VALUE_MAX);
    for (int a = 0; a < n_axes; a++) {
        snprintf(t->values[a], SWEEP_VALUE_MAX, "%s", x->axis_values[a]);
        snprintf(before[a], SWEEP_VALUE_MAX, "%s", x->axis_values[a]);
    }
    int found = 0;
    /* Redraws use draw numbers past any trial's, so they never replay
     * another trial's proposal stream. */
    for (int k = 0; k < TPE_MAX_REDRAWS && !found; k++) {
        uint64_t draw = (uint64_t)x->config + (uint64_t)k * SWEEP_MAX_TRIALS;
        tpe_propose(&t->sf->axes[t->first_random], t->n_random, t->sf->random_seed, draw, obs, y, n_obs, &t->opt,
                    random);
        for (int j = 0; j < t->n_random; j++) snprintf(t->values[t->first_random + j], SWEEP_VALUE_MAX, "%s", random[j]);
        found = rebuild(t, i, NULL) == 0 && !repeats_another(t, i);
    }
    if (!found) {
        for (int a = 0; a < n_axes; a++) snprintf(t->values[a], SWEEP_VALUE_MAX, "%s", before[a]);
        rebuild(t, i, NULL);
    }
    free(before);
    free(obs);
    free(y);
    free(random);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "propose");
    cJSON_AddNumberToObject(ev, "trial", i);
    cJSON_AddStringToObject(ev, "id", x->id);
    if (!found) cJSON_AddStringToObject(ev, "from", "random draw");   /* every redraw repeated a trial */
    cJSON *vals = cJSON_AddArrayToObject(ev, "values");
    for (int a = 0; a < n_axes; a++) cJSON_AddItemToArray(vals, cJSON_CreateString(x->axis_values[a]));
    /* A proposal must be on disk before its trial trains (a rerun replays it). */
    if (sweep_events_append(&t->journal, ev)) return -2;
    t->proposed[i] = 1;
    return 0;
}

void sweep_tpe_prepare(SweepTpe *t, const ProcessGroup *group, int index)
{
    SweepTrial *x = &t->trials->items[index];
    int state = 0;   /* 0: as it is, 1: proposed now (values follow), -2: journal refused */
    if (group->rank == 0) {
        lock_journal(t);
        if (!t->proposed[index] && x->config >= t->opt.n_startup) {
            state = propose(t, index);
            if (state == 0) state = 1;
        }
        unlock_journal(t);
    }
    comm_broadcast_bytes(group, &state, sizeof state, 0);
    if (state == -2) comm_abort(group, 1, "sweep: cannot append to %s; stopping (rerun the sweep to continue)",
                                t->journal.path);
    if (state != 1 || group->size == 1) return;
    for (int a = 0; a < t->sf->n_axes; a++) {
        if (group->rank == 0) snprintf(t->values[a], SWEEP_VALUE_MAX, "%s", x->axis_values[a]);
        comm_broadcast_bytes(group, t->values[a], SWEEP_VALUE_MAX, 0);
    }
    if (group->rank != 0 && rebuild(t, index, NULL))
        comm_abort(group, 1, "sweep: trial %d: rank %d rejects the proposal its group's first rank made", index + 1,
                   group->rank);
    t->proposed[index] = 1;
}

void sweep_tpe_result(SweepTpe *t, int index, const TrialOutcome *o)
{
    int scored = o->started && (o->status == RUN_COMPLETE || o->status == RUN_PRUNED);
    double value = scored ? o->best_val_accuracy : NAN;
    if (o->started && o->status == RUN_INTERRUPTED) return;   /* not ended: its rerun reports it */
    lock_journal(t);
    append_result(t, index, value);
    unlock_journal(t);
}

void sweep_tpe_refresh(SweepTpe *t)
{
    if (t->lock_fd >= 0) {
        lock_journal(t);
        unlock_journal(t);
    } else {
        catch_up(t);
    }
}

int sweep_tpe_startup(const SweepTpe *t) { return t->opt.n_startup; }

int sweep_tpe_proposed(const SweepTpe *t, int *to_propose)
{
    int done = 0, all = 0;
    for (int i = 0; i < t->trials->count; i++)
        if (t->trials->items[i].config >= t->opt.n_startup) {
            all++;
            done += t->proposed[i];
        }
    if (to_propose) *to_propose = all;
    return done;
}

void sweep_tpe_free(SweepTpe *t)
{
    if (!t) return;
    if (t->journal.fd >= 0) close(t->journal.fd);
    if (t->lock_fd >= 0) close(t->lock_fd);
    for (int i = 0; i < t->sf->n_axes; i++) free(t->values[i]);
    free(t->values);
    free(t->proposed);
    free(t->has_result);
    free(t->result);
    free(t);
}
