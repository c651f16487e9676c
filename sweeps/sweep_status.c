#include "sweep_status.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sweep_events.h"
#include "util.h"

static const char *const kind_names[STATUS_KINDS] = {"running", "complete", "pruned", "stopped_early",
                                                      "diverged", "failed", "interrupted", "waiting"};

const char *status_kind_name(TrialStatusKind k) { return k < STATUS_KINDS ? kind_names[k] : "?"; }

static TrialStatusKind kind_of(const char *name)
{
    for (int k = 0; k < STATUS_KINDS; k++)
        if (name && !strcmp(name, kind_names[k])) return (TrialStatusKind)k;
    return STATUS_FAILED;   /* an end with a status this reader does not know did not complete */
}

void sweep_status_init(SweepStatus *s)
{
    memset(s, 0, sizeof *s);
    s->exit_code = -1;
}

void sweep_status_free(SweepStatus *s)
{
    free(s->trials);
    s->trials = NULL;
    s->n = s->capacity = 0;
}

/* ---- reading fields --------------------------------------------------------- */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int integer(const cJSON *o, const char *key, int fallback)
{
    double v = num(o, key);
    return isfinite(v) ? (int)v : fallback;
}

static const char *text(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* ---- trials -------------------------------------------------------------------- */

static StatusTrial *find_trial(SweepStatus *s, const char *id, int create)
{
    if (!id) return NULL;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->trials[i].id, id)) return &s->trials[i];
    if (!create) return NULL;
    if (s->n == s->capacity) {
        s->capacity = s->capacity ? 2 * s->capacity : 64;
        s->trials = xrealloc(s->trials, (size_t)s->capacity * sizeof *s->trials);
    }
    StatusTrial *t = &s->trials[s->n++];
    memset(t, 0, sizeof *t);
    copy_text(t->id, sizeof t->id, id);
    t->last_val = t->last_test = t->best_val = t->best_val_test = t->epoch_seconds = NAN;
    return t;
}

static StatusModelPlan *find_model(SweepStatus *s, const char *model)
{
    if (!model) return NULL;
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].model, model)) return &s->models[i];
    if (s->n_models == STATUS_MAX_MODELS) return NULL;
    StatusModelPlan *m = &s->models[s->n_models++];
    memset(m, 0, sizeof *m);
    copy_text(m->model, sizeof m->model, model);
    return m;
}

static void join_ranks(const cJSON *ranks, char *buf, size_t size)
{
    buf[0] = 0;
    const cJSON *r;
    size_t used = 0;
    cJSON_ArrayForEach(r, ranks) {
        if (!cJSON_IsNumber(r) || used + 12 >= size) continue;
        used += (size_t)snprintf(buf + used, size - used, "%s%d", used ? "," : "", r->valueint);
    }
}

/* ---- events ------------------------------------------------------------------------ */

static void on_sweep_start(SweepStatus *s, const cJSON *ev)
{
    s->runs++;
    copy_text(s->file, sizeof s->file, text(ev, "file"));
    copy_text(s->hash, sizeof s->hash, text(ev, "trials_hash"));
    s->n_trials = integer(ev, "trials", 0);
    s->to_run = integer(ev, "to_run", 0);
    s->ranks = integer(ev, "ranks", 1);
    s->groups = integer(ev, "groups", 1);
    s->ranks_per_trial = integer(ev, "ranks_per_trial", 1);
    s->run_started_t = num(ev, "t");
    s->run_ended_t = 0;
    s->exit_code = -1;
    memset(s->finished_before, 0, sizeof s->finished_before);
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(ev, "finished_before");
    for (int k = STATUS_COMPLETE; k < STATUS_INTERRUPTED; k++) s->finished_before[k] = integer(before, kind_names[k], 0);
    s->unreadable_before = integer(before, "unreadable", 0);
    for (int i = 0; i < s->n_models; i++) s->models[i].trials = 0, s->models[i].epochs = 0;
    const cJSON *plan = cJSON_GetObjectItemCaseSensitive(ev, "plan"), *p;
    cJSON_ArrayForEach(p, plan) {
        StatusModelPlan *m = find_model(s, text(p, "model"));
        if (!m) continue;
        m->trials = integer(p, "trials", 0);
        m->epochs = (long)integer(p, "epochs", 0);
    }
    /* Whatever an earlier run left running was interrupted: it is this run's to continue. */
    for (int i = 0; i < s->n; i++)
        if (s->trials[i].state == STATUS_RUNNING) s->trials[i].state = STATUS_INTERRUPTED;
}

static void on_trial_start(SweepStatus *s, const cJSON *ev)
{
    StatusTrial *t = find_trial(s, text(ev, "trial"), 1);
    if (!t) return;
    copy_text(t->model, sizeof t->model, text(ev, "model"));
    t->index = integer(ev, "index", 0);
    t->epochs = integer(ev, "epochs", 0);
    t->start_epoch = t->epoch = integer(ev, "start_epoch", 0);
    t->run = s->runs;
    t->state = STATUS_RUNNING;
    t->started_t = num(ev, "t");
    t->ended_t = 0;
    t->error[0] = 0;
    join_ranks(cJSON_GetObjectItemCaseSensitive(ev, "ranks"), t->ranks, sizeof t->ranks);
    copy_text(t->host, sizeof t->host, text(ev, "host"));
    copy_text(t->device, sizeof t->device, text(ev, "device"));
    t->n_swept = 0;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(ev, "swept")) {
        if (t->n_swept == STATUS_MAX_SWEPT || !cJSON_IsString(kv)) continue;
        copy_text(t->swept_key[t->n_swept], sizeof t->swept_key[0], kv->string);
        copy_text(t->swept_value[t->n_swept], sizeof t->swept_value[0], kv->valuestring);
        t->n_swept++;
    }
}

static void on_epoch(SweepStatus *s, const cJSON *ev)
{
    StatusTrial *t = find_trial(s, text(ev, "trial"), 0);
    if (!t) return;
    t->epoch = integer(ev, "epoch", t->epoch);
    t->last_val = num(ev, "val_accuracy");
    t->last_test = num(ev, "test_accuracy");
    if (isfinite(t->last_val) && !(t->last_val <= t->best_val)) {
        t->best_val = t->last_val;
        t->best_val_test = t->last_test;
        t->best_epoch = t->epoch;
    }
    double sec = num(ev, "seconds");
    StatusModelPlan *m = find_model(s, t->model);
    if (isfinite(sec) && sec >= 0) {
        t->epoch_seconds = sec;
        if (m) m->seconds += sec, m->timed_epochs++;
    }
}

static void on_trial_end(SweepStatus *s, const cJSON *ev)
{
    StatusTrial *t = find_trial(s, text(ev, "trial"), 1);
    if (!t) return;
    if (!t->model[0]) copy_text(t->model, sizeof t->model, text(ev, "model"));
    t->index = integer(ev, "index", t->index);
    t->epochs = integer(ev, "epochs", t->epochs);
    t->run = s->runs;
    t->state = kind_of(text(ev, "status"));
    t->ended_t = num(ev, "t");
    t->epoch = integer(ev, "epoch", t->epoch);
    copy_text(t->error, sizeof t->error, text(ev, "error"));
    /* The run file's own choice of best epoch (the same rule) wins over the
     * fold of epoch events, which may have missed a resumed trial's past. */
    int best = integer(ev, "best_epoch", 0);
    if (best > 0) {
        t->best_epoch = best;
        t->best_val = num(ev, "best_val_accuracy");
        t->best_val_test = num(ev, "best_epoch_test_accuracy");
    }
}

/* ASHA paused the trial at a rung: not running, not ended. */
static void on_trial_pause(SweepStatus *s, const cJSON *ev)
{
    StatusTrial *t = find_trial(s, text(ev, "trial"), 0);
    if (!t) return;
    t->run = s->runs;
    t->state = STATUS_WAITING;
    t->epoch = integer(ev, "epoch", t->epoch);
}

static void on_sweep_end(SweepStatus *s, const cJSON *ev)
{
    s->run_ended_t = num(ev, "t");
    s->exit_code = integer(ev, "exit_code", -1);
}

void sweep_status_apply(SweepStatus *s, const cJSON *ev)
{
    const char *name = text(ev, "event");
    if (!name) return;
    double t = num(ev, "t");
    if (isfinite(t) && t > s->last_event_t) s->last_event_t = t;
    if (!s->sweep[0]) copy_text(s->sweep, sizeof s->sweep, text(ev, "sweep"));
    if (!strcmp(name, "sweep_start")) on_sweep_start(s, ev);
    else if (!strcmp(name, "trial_start")) on_trial_start(s, ev);
    else if (!strcmp(name, "epoch")) on_epoch(s, ev);
    else if (!strcmp(name, "trial_end")) on_trial_end(s, ev);
    else if (!strcmp(name, "trial_pause")) on_trial_pause(s, ev);
    else if (!strcmp(name, "sweep_end")) on_sweep_end(s, ev);
}

static void apply_cb(void *user, const cJSON *ev) { sweep_status_apply(user, ev); }

int sweep_status_read(SweepStatus *s, const char *path)
{
    long torn = sweep_events_read(path, &s->offset, &s->lines, apply_cb, s, &s->bad_lines, &s->first_bad_line);
    if (torn < 0) return -1;
    s->torn_bytes = torn;
    return 0;
}

void sweep_status_mark_interrupted(SweepStatus *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->trials[i].state == STATUS_RUNNING) s->trials[i].state = STATUS_INTERRUPTED;
}

/* ---- summaries -------------------------------------------------------------------------- */

void sweep_status_totals(const SweepStatus *s, StatusTotals *t)
{
    memset(t, 0, sizeof *t);
    for (int k = 0; k < STATUS_KINDS; k++) t->by_kind[k] = s->finished_before[k];
    t->by_kind[STATUS_FAILED] += s->unreadable_before;
    int touched = 0;   /* trials the latest run started or ended */
    for (int i = 0; i < s->n; i++) {
        const StatusTrial *x = &s->trials[i];
        if (x->run != s->runs) continue;
        touched++;
        t->by_kind[x->state]++;
    }
    t->queued = s->to_run - touched > 0 ? s->to_run - touched : 0;
    for (int k = STATUS_COMPLETE; k <= STATUS_FAILED; k++) t->done += t->by_kind[k];
}

const StatusTrial *sweep_status_best(const SweepStatus *s)
{
    const StatusTrial *best = NULL;
    for (int i = 0; i < s->n; i++) {
        const StatusTrial *x = &s->trials[i];
        if (x->best_epoch > 0 && isfinite(x->best_val) && (!best || x->best_val > best->best_val)) best = x;
    }
    return best;
}

static double model_seconds_per_epoch(const SweepStatus *s, const char *model)
{
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].model, model) && s->models[i].timed_epochs)
            return s->models[i].seconds / (double)s->models[i].timed_epochs;
    return NAN;
}

double sweep_status_trial_eta(const SweepStatus *s, const StatusTrial *t)
{
    double per = isfinite(t->epoch_seconds) ? t->epoch_seconds : model_seconds_per_epoch(s, t->model);
    int left = t->epochs - t->epoch;
    return isfinite(per) ? per * (left > 0 ? left : 0) : NAN;
}

double sweep_status_eta(const SweepStatus *s, int *untimed)
{
    double total = 0;
    *untimed = 0;
    for (int m = 0; m < s->n_models; m++) {
        const StatusModelPlan *p = &s->models[m];
        double per = model_seconds_per_epoch(s, p->model);
        long queued_epochs = p->epochs;   /* the plan counts every trial in full; the started ones come off */
        int started = 0, blind = 0;
        for (int i = 0; i < s->n; i++) {
            const StatusTrial *x = &s->trials[i];
            if (x->run != s->runs || strcmp(x->model, p->model)) continue;
            started++;
            queued_epochs -= x->epochs;
            if (x->state != STATUS_RUNNING) continue;
            double eta = sweep_status_trial_eta(s, x);
            if (isfinite(eta)) total += eta;
            else blind = 1;
        }
        if (started >= p->trials || queued_epochs < 0) queued_epochs = 0;
        if (queued_epochs > 0 && isfinite(per)) total += per * (double)queued_epochs;
        else if (queued_epochs > 0) blind = 1;
        *untimed += blind;
    }
    if (*untimed) return NAN;
    return total / (s->groups > 0 ? s->groups : 1);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static cJSON *trial_json(const SweepStatus *s, const StatusTrial *x)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "trial", x->id);
    cJSON_AddNumberToObject(o, "index", x->index);
    cJSON_AddStringToObject(o, "model", x->model);
    cJSON_AddStringToObject(o, "status", status_kind_name(x->state));
    cJSON_AddNumberToObject(o, "epoch", x->epoch);
    cJSON_AddNumberToObject(o, "epochs", x->epochs);
    cJSON_AddStringToObject(o, "ranks", x->ranks);
    cJSON_AddStringToObject(o, "host", x->host);
    cJSON_AddStringToObject(o, "device", x->device);
    cJSON *sw = cJSON_AddObjectToObject(o, "swept");
    for (int k = 0; k < x->n_swept; k++) cJSON_AddStringToObject(sw, x->swept_key[k], x->swept_value[k]);
    sweep_event_number(o, "val_accuracy", x->last_val);
    sweep_event_number(o, "test_accuracy", x->last_test);
    cJSON_AddNumberToObject(o, "best_epoch", x->best_epoch);
    sweep_event_number(o, "best_val_accuracy", x->best_val);
    sweep_event_number(o, "best_epoch_test_accuracy", x->best_val_test);
    sweep_event_number(o, "eta_seconds", x->state == STATUS_RUNNING ? sweep_status_trial_eta(s, x) : NAN);
    if (x->error[0]) cJSON_AddStringToObject(o, "error", x->error);
    return o;
}

cJSON *sweep_status_json(const SweepStatus *s, int running_now)
{
    StatusTotals t;
    sweep_status_totals(s, &t);
    int untimed;
    double eta = sweep_status_eta(s, &untimed);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", SWEEP_EVENTS_VERSION);
    cJSON_AddStringToObject(o, "sweep", s->sweep);
    cJSON_AddStringToObject(o, "file", s->file);
    cJSON_AddNumberToObject(o, "runs", s->runs);
    cJSON_AddBoolToObject(o, "running", running_now);
    cJSON_AddBoolToObject(o, "finished", !running_now && t.queued == 0 && t.by_kind[STATUS_RUNNING] == 0 &&
                                             t.by_kind[STATUS_INTERRUPTED] == 0 && t.by_kind[STATUS_WAITING] == 0 &&
                                             s->runs > 0);
    cJSON_AddNumberToObject(o, "trials", s->n_trials);
    cJSON *tot = cJSON_AddObjectToObject(o, "totals");
    for (int k = 0; k < STATUS_KINDS; k++) cJSON_AddNumberToObject(tot, kind_names[k], t.by_kind[k]);
    cJSON_AddNumberToObject(tot, "queued", t.queued);
    cJSON_AddNumberToObject(tot, "unreadable_before", s->unreadable_before);
    sweep_event_number(o, "eta_seconds", running_now ? eta : NAN);
    cJSON *rows = cJSON_AddArrayToObject(o, "trials_in_flight");
    for (int i = 0; i < s->n; i++)
        if (s->trials[i].run == s->runs &&
            (s->trials[i].state == STATUS_RUNNING || s->trials[i].state == STATUS_INTERRUPTED))
            cJSON_AddItemToArray(rows, trial_json(s, &s->trials[i]));
    const StatusTrial *best = sweep_status_best(s);
    cJSON_AddItemToObject(o, "best", best ? trial_json(s, best) : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "log_lines", (double)s->lines);
    cJSON_AddNumberToObject(o, "unparsable_lines", s->bad_lines);
    cJSON_AddBoolToObject(o, "torn_last_line", s->torn_bytes > 0);
    return o;
}
