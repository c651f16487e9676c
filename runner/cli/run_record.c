#include "run_record.h"
#include "comm.h"
#include "util.h"
#include "validation.h"
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void iso_now(char *buf, int size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct { char *buf; int size, used; } TextSink;

static void append_line(const char *key, const char *value, void *user)
{
    TextSink *s = user;
    int n = snprintf(s->buf + s->used, s->size - s->used, "%s=%s\n", key, value);
    if (n > 0 && s->used + n < s->size) s->used += n;
}

void config_to_text(const TrainConfig *cfg, char *buf, int size)
{
    TextSink s = {buf, size, 0};
    buf[0] = 0;
    config_each(cfg, append_line, &s);
}

/* Each hyperparameter also as its own typed root attribute, so reports can
 * group and sort without parsing the config text. */
typedef struct { RunFile *file; const TrainConfig *cfg; char *err; int err_size; int failed; } AttrSink;

static void write_typed(const char *key, const char *value, void *user)
{
    AttrSink *s = user;
    if (s->failed) return;
    /* uint64: seeds >= 2^63 do not fit int64 (files before this wrote
     * int64; h5py and report_load read either). */
    if (!strcmp(key, "seed")) {
        s->failed = runfile_set_attr_uint64(s->file, key, s->cfg->seed, s->err, s->err_size);
        return;
    }
    char *end;
    long long i = strtoll(value, &end, 10);
    if (*value && !*end) {
        s->failed = runfile_set_attr_int64(s->file, key, i, s->err, s->err_size);
        return;
    }
    double d = strtod(value, &end);
    if (*value && !*end) s->failed = runfile_set_attr_double(s->file, key, d, s->err, s->err_size);
    else s->failed = runfile_set_attr_string(s->file, key, value, s->err, s->err_size);
}

int run_record_open(RunRecord *rec, const char *path, const TrainConfig *cfg,
                    const Dataset *data, long param_count, const char *device, int threads,
                    const char *command_line)
{
    memset(rec, 0, sizeof *rec);
    rec->file = runfile_create(path, rec->err, sizeof rec->err);
    if (!rec->file) {
        rec->disk_error = errno;
        return -1;
    }
    rec->data = data;
    rec->context = cfg->eval_batch_size;
    rec->best_val_accuracy = rec->best_val_loss = NAN;
    char text[8192], now[32];
    config_to_text(cfg, text, sizeof text);
    iso_now(now, sizeof now);
    AttrSink sink = {rec->file, cfg, rec->err, sizeof rec->err, 0};
    config_each(cfg, write_typed, &sink);
    /* Where the writing rank ran: on a cluster, which node and which of its
     * ranks (the node-local rank picks the GPU and shares out the cores). */
    char host[256] = "";
    if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "unknown");
    int world_rank, local_rank, local_size;
    comm_placement(&world_rank, &local_rank, &local_size);
    RunFile *f = rec->file;
    char *e = rec->err;
    int n = sizeof rec->err;
    if (sink.failed
        || runfile_set_attr_string(f, "config", text, e, n)
        || runfile_set_attr_string(f, "trial_id", cfg->trial_id, e, n)
        || runfile_set_attr_string(f, "sweep", cfg->sweep, e, n)
        || runfile_set_attr_string(f, "dataset_dir", data->dir, e, n)
        || runfile_set_attr_int64(f, "train_images", data->n_train, e, n)
        || runfile_set_attr_int64(f, "test_images", data->n_test, e, n)
        || runfile_set_attr_int64(f, "val_images", data->n_val, e, n)
        || (data->n_val > 0 && runfile_write_validation(f, data->val_index, data->n_val, VALIDATION_RULE, e, n))
        || runfile_set_attr_int64(f, "param_count", param_count, e, n)
        || runfile_set_attr_int64(f, "aux_param_count",
                                  model_aux_param_count_for(cfg->model, cfg->model_options), e, n)
        || runfile_set_attr_string(f, "device", device, e, n)
        || runfile_set_attr_int64(f, "threads", threads, e, n)
        || runfile_set_attr_int64(f, "world_size", cfg->world_size > 1 ? cfg->world_size : 1, e, n)
        || runfile_set_attr_int64(f, "ranks_per_trial", cfg->ranks_per_trial > 1 ? cfg->ranks_per_trial : 1, e, n)
        || runfile_set_attr_string(f, "hostname", host, e, n)
        || runfile_set_attr_int64(f, "world_rank", world_rank, e, n)
        || runfile_set_attr_int64(f, "local_rank", local_rank, e, n)
        || runfile_set_attr_int64(f, "local_size", local_size, e, n)
        || runfile_set_attr_string(f, "start_time", now, e, n)
        || runfile_set_attr_string(f, "command", command_line, e, n)
        || runfile_set_attr_int64(f, "epochs_completed", 0, e, n)
        || runfile_set_attr_int64(f, "resumes", 0, e, n)) {
        if (runfile_disk_refused(f)) rec->disk_error = ENOSPC;
        runfile_abandon(rec->file);
        rec->file = NULL;
        return -1;
    }
    return 0;
}

/* The best epoch and early stopping's state over the epochs that stay,
 * and whether /best must be written from the checkpoint (see RunRecord). */
static void replay_epochs(RunRecord *rec, RunFile *f, const RunEpochs *ep, const TrainConfig *cfg,
                          int64_t epochs_done)
{
    long kept = 0;
    while (kept < ep->count && ep->epoch[kept] <= epochs_done) kept++;
    early_stop_reset(&rec->early);
    if (!ep->val_accuracy) return;
    for (long i = 0; i < kept; i++) early_stop_update(&cfg->early_stop, &rec->early, ep->val_loss[i], ep->val_accuracy[i]);
    long best = run_epochs_best_row(ep, kept);
    if (best < 0) return;
    rec->best_epoch = ep->epoch[best];
    rec->best_val_accuracy = ep->val_accuracy[best];
    rec->best_val_loss = ep->val_loss[best];
    rec->best_test_accuracy = ep->test_accuracy[best];
    int64_t stored = 0;
    if (!runfile_has_attr(f, "best_epoch") || runfile_read_attr_int64(f, "best_epoch", &stored, NULL, 0)) stored = 0;
    /* /best is written after the checkpoint, so only the checkpoint's own
     * epoch can be missing from it. */
    rec->best_from_checkpoint = stored != rec->best_epoch && rec->best_epoch == epochs_done;
}

/* What the .tmp says before it is reopened for writing: whose it is, the
 * best epoch of the epochs that stay, how often it was resumed. */
static int read_interrupted(RunRecord *rec, const char *tmp, const TrainConfig *cfg, int64_t epochs_done,
                            int64_t *resumes)
{
    char *e = rec->err, id[64];
    int n = sizeof rec->err;
    RunFile *f = runfile_open(tmp, e, n);
    if (!f) return -1;
    int rc = 0;
    if (cfg->trial_id[0]) {
        if (runfile_read_attr_string(f, "trial_id", id, sizeof id, e, n)) rc = -1;
        else if (strcmp(id, cfg->trial_id)) {
            snprintf(e, n, "%.800s holds trial %s, not %s", tmp, id, cfg->trial_id);
            rc = -1;
        }
    }
    *resumes = 0;
    if (rc == 0 && runfile_has_attr(f, "resumes")) rc = runfile_read_attr_int64(f, "resumes", resumes, e, n);
    RunEpochs ep;
    if (rc == 0 && (rc = runfile_read_epochs(f, &ep, e, n)) == 0) {
        replay_epochs(rec, f, &ep, cfg, epochs_done);
        run_epochs_free(&ep);
    }
    runfile_close(f);
    return rc;
}

int run_record_resume(RunRecord *rec, const char *path, const TrainConfig *cfg, int64_t epochs_done)
{
    memset(rec, 0, sizeof *rec);
    rec->best_val_accuracy = rec->best_val_loss = NAN;
    char tmp[CONFIG_PATH_MAX + 8];
    int64_t resumes = 0;
    if (runfile_tmp_path(path, tmp, sizeof tmp)) {
        snprintf(rec->err, sizeof rec->err, "%s: path too long", path);
        return -1;
    }
    if (read_interrupted(rec, tmp, cfg, epochs_done, &resumes)) return RUN_RECORD_UNUSABLE;
    rec->file = runfile_resume(path, epochs_done, rec->err, sizeof rec->err);
    if (!rec->file) return -1;
    char *e = rec->err;
    int n = sizeof rec->err;
    if (runfile_set_attr_int64(rec->file, "resumes", resumes + 1, e, n)
        || runfile_set_attr_int64(rec->file, "epochs_completed", epochs_done, e, n)) {
        runfile_close(rec->file);   /* keep the .tmp: it is still resumable */
        rec->file = NULL;
        return -1;
    }
    return 0;
}

static int write_test_results(RunRecord *rec, const Evaluation *ev)
{
    enum { K = DATASET_CLASSES };
    int64_t confusion[K * K];
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) confusion[t * K + p] = ev->confusion[t][p];
    long wrong = ev->count - ev->correct;
    const Dataset *d = rec->data;
    long image = d ? (long)d->rows * d->cols : 0;
    RunTestResults r = {.num_classes = K, .confusion = confusion, .n_mis = wrong};
    /* The pixels of the first misclassified images, so a report can show
     * them without the dataset (capped: see RUNFILE_MAX_MIS_IMAGES). */
    if (d && d->test_x) {
        r.n_mis_images = wrong < RUNFILE_MAX_MIS_IMAGES ? wrong : RUNFILE_MAX_MIS_IMAGES;
        r.image_rows = d->rows;
        r.image_cols = d->cols;
        r.mis_images = xmalloc((size_t)(r.n_mis_images ? r.n_mis_images : 1) * (size_t)image);
        /* the first eval batch: `sweeprun predict` scores a lone image
         * inside it, as GECCO's batch attention saw the test set */
        r.n_context = rec->context < d->n_test ? rec->context : d->n_test;
        if (r.n_context > RUNFILE_MAX_CONTEXT_IMAGES) r.n_context = 0;
        r.context_images = d->test_x;
    }
    r.mis_index = xmalloc((size_t)(wrong ? wrong : 1) * sizeof(int32_t));
    r.mis_pred = xmalloc((size_t)(wrong ? wrong : 1) * sizeof(int32_t));
    r.mis_label = xmalloc((size_t)(wrong ? wrong : 1) * sizeof(int32_t));
    long k = 0;
    for (long i = 0; i < ev->count && k < wrong; i++) {
        if (ev->predictions[i] == ev->labels[i]) continue;
        r.mis_index[k] = (int32_t)i;
        r.mis_pred[k] = ev->predictions[i];
        r.mis_label[k] = ev->labels[i];
        if (k < r.n_mis_images)
            memcpy(r.mis_images + k * image, d->test_x + i * image, (size_t)image);
        k++;
    }
    int rc = runfile_write_test_results(rec->file, &r, rec->err, sizeof rec->err);
    free(r.mis_index);
    free(r.mis_pred);
    free(r.mis_label);
    free(r.mis_images);
    return rc;
}

int run_record_best(RunRecord *rec, const Model *m, int epoch, double val_accuracy, double val_loss,
                    double test_accuracy)
{
    RunFile *f = rec->file;
    char *e = rec->err;
    int n = sizeof rec->err;
    rec->best_epoch = epoch;
    rec->best_val_accuracy = val_accuracy;
    rec->best_val_loss = val_loss;
    rec->best_test_accuracy = test_accuracy;
    rec->best_from_checkpoint = 0;
    /* best_epoch last: it says what /best holds (replay_epochs reads it). */
    return runfile_write_best_weights(f, &m->table, m->params, m->buffers, epoch, e, n)
           || runfile_set_attr_double(f, "best_val_accuracy", val_accuracy, e, n)
           || runfile_set_attr_double(f, "best_val_loss", val_loss, e, n)
           || runfile_set_attr_double(f, "best_epoch_test_accuracy", test_accuracy, e, n)
           || runfile_set_attr_int64(f, "best_epoch", epoch, e, n) ? -1 : 0;
}

int run_record_epoch(RunRecord *rec, const EpochStats *s, const Evaluation *ev, const Model *m,
                     const Optimizer *opt)
{
    RunFile *f = rec->file;
    char *e = rec->err;
    int n = sizeof rec->err;
    RunEpoch row = {.epoch = s->epoch + 1, .train_loss = s->train_loss,
                    .train_accuracy = s->train_accuracy, .test_loss = s->test_loss,
                    .test_accuracy = s->test_accuracy, .lr = s->lr, .seconds = s->seconds,
                    .val_loss = s->val_loss, .val_accuracy = s->val_accuracy};
    RunCheckpoint ck = {.params = m->params, .n_params = m->table.n_params,
                        .buffers = m->buffers, .n_buffers = m->table.n_buffers,
                        .state1 = opt->state1, .state2 = opt->state2, .n_state = opt->n,
                        .step = opt->step, .epoch = s->epoch + 1};
    /* The checkpoint goes last: a run killed before it resumes from the
     * previous checkpoint, and resuming drops epoch rows past that point. */
    if (runfile_write_weights(f, &m->table, m->params, m->buffers, e, n)
        || write_test_results(rec, ev)
        || runfile_set_attr_double(f, "final_test_accuracy", s->test_accuracy, e, n)
        || (!isnan(s->val_accuracy) && runfile_set_attr_double(f, "final_val_accuracy", s->val_accuracy, e, n))
        || runfile_set_attr_int64(f, "epochs_completed", s->epoch + 1, e, n)
        || runfile_append_epoch(f, &row, e, n)
        || runfile_write_checkpoint(f, &ck, e, n))
        return -1;
    /* After the checkpoint, so a resumed run can always rebuild it (see
     * RunRecord.best_from_checkpoint). */
    if (run_val_better(s->val_accuracy, s->val_loss, rec->best_val_accuracy, rec->best_val_loss))
        return run_record_best(rec, m, s->epoch + 1, s->val_accuracy, s->val_loss, s->test_accuracy);
    return 0;
}

int run_record_interrupt(RunRecord *rec, const TrainPosition *at, const Model *m, const Optimizer *opt)
{
    RunFile *f = rec->file;
    rec->file = NULL;
    RunCheckpoint ck = {.params = m->params, .n_params = m->table.n_params,
                        .buffers = m->buffers, .n_buffers = m->table.n_buffers,
                        .state1 = opt->state1, .state2 = opt->state2, .n_state = opt->n,
                        .step = opt->step, .epoch = at->epoch, .batch = at->batch,
                        .train_loss_sum = at->loss_sum, .train_correct = at->correct,
                        .epoch_seconds = at->seconds};
    if (runfile_write_checkpoint(f, &ck, rec->err, sizeof rec->err)) {
        runfile_close(f);
        return -1;
    }
    return runfile_suspend(f, rec->err, sizeof rec->err);
}

int run_record_pause(RunRecord *rec, int epochs)
{
    RunFile *f = rec->file;
    rec->file = NULL;
    if (runfile_set_attr_int64(f, "paused_after_epoch", epochs, rec->err, sizeof rec->err)) {
        runfile_close(f);
        return -1;
    }
    return runfile_pause(f, rec->err, sizeof rec->err);
}

int run_record_end_paused(const char *run_file, int epochs, RunStatus status, int rung, char *err, int err_size)
{
    RunFile *f = runfile_resume(run_file, epochs, err, err_size);
    if (!f) return -1;
    char now[32];
    iso_now(now, sizeof now);
    if (runfile_set_attr_string(f, "end_time", now, err, err_size)
        || runfile_set_attr_string(f, "error", "", err, err_size)
        || (rung >= 0 && (runfile_set_attr_int64(f, "stopped_at_rung", rung, err, err_size)
                          || runfile_set_attr_int64(f, "stopped_at_epoch", epochs, err, err_size)))) {
        runfile_pause(f, NULL, 0);   /* back as it was: paused, for a later try */
        return -1;
    }
    return runfile_finish(f, run_status_name(status), err, err_size);
}

int run_record_finish(RunRecord *rec, RunStatus status, const char *error_message)
{
    char now[32];
    iso_now(now, sizeof now);
    RunFile *f = rec->file;
    rec->file = NULL;
    if (runfile_set_attr_string(f, "end_time", now, rec->err, sizeof rec->err)
        || runfile_set_attr_int64(f, "early_stopped", rec->early_stopped, rec->err, sizeof rec->err)
        || runfile_set_attr_string(f, "error", error_message ? error_message : "", rec->err,
                                   sizeof rec->err)) {
        runfile_close(f);
        return -1;
    }
    return runfile_finish(f, run_status_name(status), rec->err, sizeof rec->err);
}
