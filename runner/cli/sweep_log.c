#include "sweep_log.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runfile.h"
#include "util.h"

enum { HOST_MAX = 64 };

static void my_host(char host[HOST_MAX])
{
    memset(host, 0, HOST_MAX);
    if (gethostname(host, HOST_MAX - 1)) snprintf(host, HOST_MAX, "unknown");
}

/* FNV-1a over the trial ids in order: the same trial list, the same hash. */
static void trials_hash(const SweepTrials *trials, char out[17])
{
    size_t size = (size_t)trials->count * (TRIAL_ID_LEN + 1) + 1, used = 0;
    char *all = xmalloc(size);
    all[0] = 0;
    for (int i = 0; i < trials->count; i++)
        used += (size_t)snprintf(all + used, size - used, "%s\n", trials->items[i].id);
    snprintf(out, 17, "%016llx", (unsigned long long)trial_hash(all));
    free(all);
}

static cJSON *hosts_array(const ProcessGroup *world)
{
    char mine[HOST_MAX];
    my_host(mine);
    char *all = xmalloc((size_t)world->size * HOST_MAX);
    comm_allgather_bytes(world, mine, HOST_MAX, all);
    cJSON *hosts = cJSON_CreateArray();
    for (int r = 0; r < world->size; r++) cJSON_AddItemToArray(hosts, cJSON_CreateString(all + (size_t)r * HOST_MAX));
    free(all);
    return hosts;
}

/* Per model: the trials to run and their epochs, for the ETA. */
static cJSON *plan_array(const SweepTrials *trials, const int *todo, int n_todo)
{
    cJSON *plan = cJSON_CreateArray();
    for (int i = 0; i < n_todo; i++) {
        const SweepTrial *x = &trials->items[todo[i]];
        cJSON *m = NULL, *it;
        cJSON_ArrayForEach(it, plan)
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(it, "model")->valuestring, x->model)) m = it;
        if (!m) {
            m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "model", x->model);
            cJSON_AddNumberToObject(m, "trials", 0);
            cJSON_AddNumberToObject(m, "epochs", 0);
            cJSON_AddItemToArray(plan, m);
        }
        cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "trials"), *e = cJSON_GetObjectItemCaseSensitive(m, "epochs");
        cJSON_SetNumberValue(t, t->valuedouble + 1);
        cJSON_SetNumberValue(e, e->valuedouble + x->epochs);
    }
    return plan;
}

void sweep_log_start(SweepEventLog *log, const ProcessGroup *world, const SweepFile *sf, const SweepTrials *trials,
                     const TrialScan *scans, const int *todo, int n_todo)
{
    cJSON *hosts = hosts_array(world);   /* collective: every rank */
    if (world->rank != 0) {
        cJSON_Delete(hosts);
        return;
    }
    sweep_events_seal(log);
    cJSON *ev = sweep_event_new("sweep_start", sf->name);
    char hash[17];
    trials_hash(trials, hash);
    cJSON_AddStringToObject(ev, "file", sf->path);
    cJSON_AddStringToObject(ev, "trials_hash", hash);
    cJSON_AddStringToObject(ev, "out", sf->out);
    cJSON_AddNumberToObject(ev, "ranks", world->size);
    cJSON_AddNumberToObject(ev, "ranks_per_trial", sf->ranks_per_trial);
    cJSON_AddNumberToObject(ev, "groups", world->size / sf->ranks_per_trial);
    cJSON_AddItemToObject(ev, "hosts", hosts);
    cJSON_AddNumberToObject(ev, "pid", getpid());
    cJSON_AddNumberToObject(ev, "trials", trials->count);
    cJSON_AddNumberToObject(ev, "to_run", n_todo);
    int count[TRIAL_STATES] = {0};
    for (int i = 0; i < trials->count; i++) count[scans[i].state]++;
    cJSON *before = cJSON_AddObjectToObject(ev, "finished_before");
    for (int st = TRIAL_COMPLETE; st < TRIAL_STATES; st++)
        cJSON_AddNumberToObject(before, trial_state_name((TrialState)st), count[st]);
    cJSON_AddItemToObject(ev, "plan", plan_array(trials, todo, n_todo));
    sweep_events_append(log, ev);
}

void sweep_log_trial_start(SweepEventLog *log, const ProcessGroup *group, const SweepFile *sf, const SweepTrial *x,
                           int start_epoch, int cuda_index)
{
    cJSON *ev = sweep_event_new("trial_start", sf->name);
    cJSON_AddStringToObject(ev, "trial", x->id);
    cJSON_AddNumberToObject(ev, "index", x->index);
    cJSON_AddStringToObject(ev, "model", x->model);
    cJSON_AddNumberToObject(ev, "seed", (double)x->seed);
    cJSON_AddNumberToObject(ev, "epochs", x->epochs);
    cJSON_AddNumberToObject(ev, "start_epoch", start_epoch);
    cJSON *ranks = cJSON_AddArrayToObject(ev, "ranks");
    int first = group->world_rank - group->rank;   /* groups are consecutive world ranks */
    for (int r = 0; r < group->size; r++) cJSON_AddItemToArray(ranks, cJSON_CreateNumber(first + r));
    char host[HOST_MAX], device[24];
    my_host(host);
    if (cuda_index >= 0) snprintf(device, sizeof device, "cuda:%d", cuda_index);
    else snprintf(device, sizeof device, "cpu");
    cJSON_AddStringToObject(ev, "host", host);
    cJSON_AddStringToObject(ev, "device", device);
    cJSON *swept = cJSON_AddObjectToObject(ev, "swept");
    for (int a = 0; a < x->n_axes && a < sf->n_axes; a++) cJSON_AddStringToObject(swept, sf->axes[a].key, x->axis_values[a]);
    cJSON_AddStringToObject(ev, "run_file", x->run_file);
    sweep_events_append(log, ev);
}

void sweep_log_epoch(SweepEventLog *log, const char *sweep, const SweepTrial *x, const EpochStats *st)
{
    cJSON *ev = sweep_event_new("epoch", sweep);
    cJSON_AddStringToObject(ev, "trial", x->id);
    cJSON_AddNumberToObject(ev, "epoch", st->epoch + 1);
    cJSON_AddNumberToObject(ev, "epochs", x->epochs);
    sweep_event_number(ev, "train_loss", st->train_loss);
    sweep_event_number(ev, "train_accuracy", st->train_accuracy);
    sweep_event_number(ev, "val_loss", st->val_loss);
    sweep_event_number(ev, "val_accuracy", st->val_accuracy);
    sweep_event_number(ev, "test_loss", st->test_loss);
    sweep_event_number(ev, "test_accuracy", st->test_accuracy);
    sweep_event_number(ev, "lr", st->lr);
    sweep_event_number(ev, "seconds", st->seconds);
    sweep_event_number(ev, "images_per_second", st->train_images_per_second);
    sweep_events_append(log, ev);
}

void sweep_log_trial_pause(SweepEventLog *log, const char *sweep, const SweepTrial *x, int epochs)
{
    cJSON *ev = sweep_event_new("trial_pause", sweep);
    cJSON_AddStringToObject(ev, "trial", x->id);
    cJSON_AddNumberToObject(ev, "index", x->index);
    cJSON_AddNumberToObject(ev, "epoch", epochs);
    cJSON_AddNumberToObject(ev, "epochs", x->epochs);
    sweep_events_append(log, ev);
}

static const char *end_status(const TrialOutcome *o)
{
    if (!o->started) return "failed";
    if (o->status == RUN_COMPLETE && o->stopped_early) return "stopped_early";
    return run_status_name(o->status);
}

int sweep_log_trial_end(SweepEventLog *log, const char *sweep, const SweepTrial *x, const TrialOutcome *o,
                         const char *reason, double seconds)
{
    cJSON *ev = sweep_event_new("trial_end", sweep);
    cJSON_AddStringToObject(ev, "trial", x->id);
    cJSON_AddNumberToObject(ev, "index", x->index);
    cJSON_AddStringToObject(ev, "model", x->model);
    cJSON_AddStringToObject(ev, "status", end_status(o));
    cJSON_AddNumberToObject(ev, "epochs", x->epochs);
    int ran = o->started && o->epochs_run > 0;
    cJSON_AddNumberToObject(ev, "epoch", ran ? o->last.epoch + 1 : o->start_epoch);
    cJSON_AddNumberToObject(ev, "epochs_run", o->epochs_run);
    cJSON_AddNumberToObject(ev, "start_epoch", o->start_epoch);
    cJSON_AddBoolToObject(ev, "resumed", o->started && o->resumed);   /* also inside an epoch (start_epoch 0) */
    sweep_event_number(ev, "test_accuracy", ran ? o->last.test_accuracy : NAN);
    sweep_event_number(ev, "val_accuracy", ran ? o->last.val_accuracy : NAN);
    cJSON_AddNumberToObject(ev, "best_epoch", o->best_epoch);
    sweep_event_number(ev, "best_val_accuracy", o->best_epoch ? o->best_val_accuracy : NAN);
    sweep_event_number(ev, "best_epoch_test_accuracy", o->best_epoch ? o->best_epoch_test_accuracy : NAN);
    if (reason && reason[0]) cJSON_AddStringToObject(ev, "reason", reason);
    if (o->started && o->status == RUN_INTERRUPTED) {   /* where the checkpoint was taken */
        cJSON_AddNumberToObject(ev, "stopped_epoch", o->stopped_at.epoch + 1);
        cJSON_AddNumberToObject(ev, "stopped_step", o->stopped_at.batch);
    }
    if (o->error[0] && (!o->started || o->status == RUN_FAILED || o->status == RUN_DIVERGED))
        cJSON_AddStringToObject(ev, "error", o->error);
    sweep_event_number(ev, "seconds", seconds);
    cJSON_AddStringToObject(ev, "run_file", x->run_file);
    return sweep_events_append(log, ev);
}

void sweep_log_end(SweepEventLog *log, const char *sweep, const int *outcome_counts, const char *const *outcome_names,
                   int n_outcomes, double seconds, int exit_code)
{
    cJSON *ev = sweep_event_new("sweep_end", sweep);
    cJSON *ran = cJSON_AddObjectToObject(ev, "ran");
    for (int k = 0; k < n_outcomes; k++) cJSON_AddNumberToObject(ran, outcome_names[k], outcome_counts[k]);
    sweep_event_number(ev, "seconds", seconds);
    cJSON_AddNumberToObject(ev, "exit_code", exit_code);
    sweep_events_append(log, ev);
}
