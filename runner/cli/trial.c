#include "trial.h"
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>
#include "commands.h"
#include "device.h"
#include "run_record.h"
#include "trial_state.h"
#include "validation.h"

typedef struct TrialSession {
    const TrialSpec *spec;
    RunRecord rec;
    int io_failed;
    int epochs_run;
} TrialSession;

static void on_batch(void *user, int epoch, int batch, int batches, double loss, double elapsed, long images)
{
    TrialSession *s = user;
    const TrialHooks *h = s->spec->hooks;
    if (h && h->on_batch) h->on_batch(h->user, epoch, batch, batches, loss, elapsed, images);
}

static int on_epoch(void *user, const EpochStats *st, const Evaluation *ev, const Model *m, const Optimizer *opt)
{
    TrialSession *s = user;
    s->epochs_run++;
    if (run_record_epoch(&s->rec, st, ev, m, opt)) {
        s->io_failed = 1;
        return TRAIN_STOP_FAILED;
    }
    const TrialHooks *h = s->spec->hooks;
    int prune = h && h->on_epoch ? h->on_epoch(h->user, st) : 0;
    /* After the last epoch there is nothing left to save: it is complete
     * (or paused, when it trains only until an earlier epoch for now). */
    int last = s->spec->train_until > 0 && s->spec->train_until < s->spec->cfg->epochs ? s->spec->train_until
                                                                                        : s->spec->cfg->epochs;
    return prune && st->epoch + 1 < last ? TRAIN_STOP_PRUNED : TRAIN_GO_ON;
}

/* The .tmp cannot be resumed (why names the file and the problem): build
 * the model again (it may hold part of the checkpoint) and start afresh.
 * A .tmp holding finished epochs is kept, set aside as NAME.bad-N and
 * reported in one line; one without any is left for run_record_open to
 * replace. 0, or -1 with err when it cannot be moved. */
static int restart_afresh(TrialSession *s, Trainer *t, const char *why, char *err, int err_size)
{
    const TrainConfig *cfg = s->spec->cfg;
    trainer_free(t);
    trainer_init_on(t, cfg, s->spec->data, s->spec->cuda_index);
    if (!trial_tmp_holds_epochs(cfg->out)) return 0;
    char moved[CONFIG_PATH_MAX + 16], fail[1024];
    if (trial_set_aside(cfg->out, moved, sizeof moved, fail, sizeof fail)) {
        snprintf(err, err_size, "%.500s; and setting it aside failed: %.500s", why, fail);
        return -1;
    }
    report_error("%s; set aside as %s, the trial starts afresh", why, moved);
    return 0;
}

/* Where a checkpoint lets training continue, or a reason in why (naming
 * tmp) when it does not fit the trial: epochs 0..epochs, and when it
 * stands inside an epoch, a step of that epoch and sums its steps can
 * have. */
static int checkpoint_position(const RunCheckpoint *ck, const TrainConfig *cfg, int n_train, const char *tmp,
                               TrainPosition *at, char *why, int why_size)
{
    int batches = n_train > 0 ? (n_train + cfg->batch_size - 1) / cfg->batch_size : 0;
    long most_correct = ck->batch < batches ? (long)ck->batch * cfg->batch_size : n_train;
    if (ck->epoch > cfg->epochs || (ck->epoch == 0 && ck->batch == 0)) {
        snprintf(why, why_size, "%.600s: checkpoint after epoch %lld, the trial has epochs 1..%d", tmp,
                 (long long)ck->epoch, cfg->epochs);
        return -1;
    }
    if (ck->batch > 0 && (ck->epoch == cfg->epochs || ck->batch > batches || ck->train_correct > most_correct)) {
        snprintf(why, why_size, "%.600s: checkpoint at step %lld (%lld correct) of epoch %lld, the trial has %d "
                 "epochs of %d steps", tmp, (long long)ck->batch, (long long)ck->train_correct,
                 (long long)ck->epoch + 1, cfg->epochs, batches);
        return -1;
    }
    *at = (TrainPosition){.epoch = (int)ck->epoch, .batch = (int)ck->batch, .loss_sum = ck->train_loss_sum,
                          .correct = (long)ck->train_correct, .seconds = ck->epoch_seconds};
    return 0;
}

/* First rank: continue the .tmp from its checkpoint, once the whole .tmp
 * checks out (runfile_read_checkpoint, the trial's epochs and steps, then
 * run_record_resume: trial id and attributes). Returns 1 with *at (the
 * epochs done and, inside the next one, the steps done) when it continues,
 * 0 to start afresh (no .tmp, or one that cannot be resumed), -1 with err
 * when the .tmp cannot be reopened or set aside. The model and optimizer
 * get the checkpoint. */
static int open_resumed(TrialSession *s, Trainer *t, TrainPosition *at, char *err, int err_size)
{
    const TrainConfig *cfg = s->spec->cfg;
    char tmp[CONFIG_PATH_MAX + 8], why[1024];
    if (runfile_tmp_path(cfg->out, tmp, sizeof tmp)) return 0;
    struct stat st;
    if (lstat(tmp, &st)) return 0;
    if (S_ISLNK(st.st_mode)) {   /* never read, set aside or written through a link */
        snprintf(err, err_size, "%.600s: is a symbolic link; run files are never written through one (remove it, "
                 "or choose another --out)", tmp);
        return -1;
    }
    if (runfile_is_being_written(tmp)) {
        snprintf(err, err_size, "%.600s: another process is writing this run (it holds the file locked); "
                 "left as it is", tmp);
        return -1;
    }
    Model *m = &t->model;
    Optimizer *o = &t->opt;
    RunCheckpoint ck = {.params = m->params, .n_params = m->table.n_params,
                        .buffers = m->buffers, .n_buffers = m->table.n_buffers,
                        .state1 = o->state1, .state2 = o->state2, .n_state = o->n};
    int rc = runfile_read_checkpoint(tmp, &ck, why, sizeof why);
    if (rc == 0) rc = checkpoint_position(&ck, cfg, s->spec->data->n_train, tmp, at, why, sizeof why);
    if (rc) return restart_afresh(s, t, why, err, err_size);
    rc = run_record_resume(&s->rec, cfg->out, cfg, ck.epoch);
    if (rc == RUN_RECORD_UNUSABLE) return restart_afresh(s, t, s->rec.err, err, err_size);
    if (rc) {
        snprintf(err, err_size, "%s", s->rec.err);
        return -1;
    }
    o->step = (long)ck.step;
    /* Killed between the checkpoint and /best: the checkpoint is the best.
     * (Only an epoch's end writes /best; a checkpoint inside an epoch
     * follows one that did, or none.) */
    if (s->rec.best_from_checkpoint && ck.batch == 0
        && run_record_best(&s->rec, m, s->rec.best_epoch, s->rec.best_val_accuracy, s->rec.best_val_loss,
                           s->rec.best_test_accuracy)) {
        snprintf(err, err_size, "%s", s->rec.err);
        runfile_close(s->rec.file);
        s->rec.file = NULL;
        return -1;
    }
    t->early = s->rec.early;
    return 1;
}

/* The first rank's checkpointed optimizer state and step to the others
 * (parameters and buffers follow in trainer_set_group). */
static void share_optimizer(const ProcessGroup *g, Trainer *t)
{
    Optimizer *o = &t->opt;
    if (o->state1) comm_broadcast_float(g, o->state1, o->n, 0);
    if (o->state2) comm_broadcast_float(g, o->state2, o->n, 0);
    comm_broadcast_bytes(g, &o->step, sizeof o->step, 0);
}

/* First rank: the run file, continued from its checkpoint (when asked
 * and there is one) or new. Returns 0 with *resumed and *at, or 1 when it
 * could not be opened, 2 when the disk refused it (out->error says why). */
static int open_run_file(TrialSession *s, Trainer *t, const char *device, int *resumed, TrainPosition *at,
                         TrialOutcome *out)
{
    const TrialSpec *spec = s->spec;
    TrainConfig *cfg = spec->cfg;
    int done = spec->resume ? open_resumed(s, t, at, out->error, sizeof out->error) : 0;
    if (done == 0 && run_record_open(&s->rec, cfg->out, cfg, spec->data, model_param_count(&t->model), device,
                                     spec->threads, spec->command)) {
        snprintf(out->error, sizeof out->error, "%s", s->rec.err);
        done = -1;
    }
    *resumed = done > 0;
    if (!*resumed) *at = (TrainPosition){0};   /* afresh: from the start, whatever a rejected checkpoint said */
    return done < 0 ? 1 + (s->rec.disk_error != 0) : 0;
}

/* First rank, after training: the run file's last word (final status and
 * rename, or the checkpoint of an interruption); out->status becomes
 * RUN_FAILED when that cannot be written. */
static void close_run_file(TrialSession *s, Trainer *t, TrialOutcome *out)
{
    const TrainConfig *cfg = s->spec->cfg;
    if (out->status == RUN_INTERRUPTED) {
        if (run_record_interrupt(&s->rec, &t->stopped_at, &t->model, &t->opt)) {
            snprintf(out->error, sizeof out->error, "stopped by a signal, but writing its checkpoint failed: %.1000s",
                     s->rec.err);
            out->status = RUN_FAILED;
        }
        return;
    }
    if (out->status == RUN_PAUSED) {
        if (run_record_pause(&s->rec, trainer_end_epoch(t))) {
            snprintf(out->error, sizeof out->error, "paused after epoch %d, but closing its run file failed: %.1000s",
                     s->spec->train_until, s->rec.err);
            out->status = RUN_FAILED;
        }
        return;
    }
    const char *why = out->status == RUN_DIVERGED ? "loss became NaN or infinite" : s->io_failed ? s->rec.err : "";
    if (s->io_failed) snprintf(out->error, sizeof out->error, "writing %.100s failed: %.1000s", cfg->out, s->rec.err);
    if (run_record_finish(&s->rec, out->status, why)) {
        size_t used = strlen(out->error);
        snprintf(out->error + used, sizeof out->error - used, "%s%s", used ? "; " : "", s->rec.err);
        out->status = RUN_FAILED;
    } else if (out->status == RUN_DIVERGED) {
        snprintf(out->error, sizeof out->error, "%s", why);
    }
}

void trial_run(const TrialSpec *spec, TrialOutcome *out)
{
    memset(out, 0, sizeof *out);
    TrainConfig *cfg = spec->cfg;
    const ProcessGroup *g = spec->group;
    int lead = g->rank == 0;
    Trainer t;
    trainer_init_on(&t, cfg, spec->data, spec->cuda_index);
    char device[480];
    trainer_device_name(&t, device, sizeof device);
    if (spec->use_nccl) {
        size_t used = strlen(device);
        snprintf(device + used, sizeof device - used, "; gradients summed with NCCL");
    }
    TrialSession s = {.spec = spec};
    /* Failed to open (1, 2), resumed (0, 1), and where training continues. */
    struct { int failed, resumed; TrainPosition at; } start = {0};
    if (lead) start.failed = open_run_file(&s, &t, device, &start.resumed, &start.at, out);
    comm_broadcast_bytes(g, &start, sizeof start, 0);
    if (start.failed) {
        out->status = RUN_FAILED;
        out->disk_error = start.failed == 2;
        trainer_free(&t);
        return;
    }
    out->started = 1;
    out->start_epoch = start.at.epoch;
    out->resumed = start.resumed;
    out->resumed_at = start.at;
    if (start.resumed) {
        share_optimizer(g, &t);
        comm_broadcast_bytes(g, &t.early, sizeof t.early, 0);   /* every rank decides early stopping */
        trainer_weights_loaded(&t);   /* the checkpoint to the GPU copies, if any */
        t.resume_at = start.at;
    }
    if (cfg->data_parallel) trainer_set_group(&t, g, spec->use_nccl);
    t.stop_requested = spec->stop_requested;
    t.train_until = spec->train_until;
    t.stop_user = spec->stop_user;
    const TrialHooks *h = spec->hooks;
    if (lead && h && h->on_start) h->on_start(h->user, &t, start.at.epoch);
    TrainObserver obs = {.user = &s, .on_batch = on_batch, .on_epoch = on_epoch};
    /* Only the first rank reports; the others train silently. */
    out->status = trainer_run(&t, start.at.epoch, lead ? &obs : NULL, &out->last);
    out->stopped_early = t.stopped_early;
    out->stopped_at = t.stopped_at;
    s.rec.early_stopped = t.stopped_early;
    out->best_epoch = s.rec.best_epoch;
    out->best_val_accuracy = s.rec.best_val_accuracy;
    out->best_epoch_test_accuracy = s.rec.best_test_accuracy;
    if (lead) close_run_file(&s, &t, out);
    /* Every rank ends with the first rank's verdict (a failed finish). */
    int verdict[2] = {(int)out->status, s.epochs_run};
    comm_broadcast_bytes(g, verdict, sizeof verdict, 0);
    out->status = (RunStatus)verdict[0];
    out->epochs_run = verdict[1];
    trainer_free(&t);
}

int trial_train_count(const TrainConfig *cfg, int n_train, char *err, int err_size)
{
    int n_val = validation_count(cfg, n_train, err, err_size);
    return n_val < 0 ? -1 : n_train - n_val;
}

int trial_hold_out(const TrainConfig *cfg, const Dataset *full, Dataset *out, char *err, int err_size)
{
    int n_val = validation_count(cfg, full->n_train, err, err_size);
    if (n_val < 0) return -1;
    dataset_hold_out(full, n_val, cfg->val_seed, out);
    return 0;
}

int trial_resolve_device(const TrainConfig *cfg, const ProcessGroup *world, int *cuda_index, char *note,
                         int note_size, char *err, int err_size)
{
    int where = train_resolve_device(cfg, cuda_index, note, note_size, err, err_size);
    if (where < 0) return -1;
    if (where == 1 && world->size > 1 && cfg->data_parallel && cfg->allreduce == ALLREDUCE_MPI) {
        snprintf(err, err_size, "allreduce: mpi sums CPU gradients; data-parallel CUDA training sums them "
                                "with NCCL (use allreduce=auto or nccl)");
        return -1;
    }
    /* Without an explicit cuda:I, ranks on one node take the GPUs in turn. */
    if (where == 1 && !strchr(cfg->device, ':')) {
        char why[256];
        int gpus = device_cuda_count(why, sizeof why);
        *cuda_index = gpus > 0 ? world->local_rank % gpus : 0;
    }
    return 0;
}

/* Batch norm cannot train on one image; catch a batch that would have one.
 * ranks x grad_accum micro-batches per step (data-parallel ranks each take
 * grad_accum of them). */
int trial_check_batches(const TrainConfig *cfg, int n_train, int ranks, char *err, int err_size)
{
    int parts = cfg->grad_accum * ranks;
    if (cfg->batch_size % parts) {
        snprintf(err, err_size, "batch_size %d is not divisible by %d ranks x grad_accum %d "
                 "(each rank takes an equal share of every batch)", cfg->batch_size, ranks, cfg->grad_accum);
        return -1;
    }
    int last = n_train % cfg->batch_size;
    int micro_full = cfg->batch_size / parts;
    int micro_last = last ? last / parts : micro_full;
    if (n_train < 2 || micro_full < 2 || (last && micro_last < 2)) {
        if (ranks > 1)
            snprintf(err, err_size, "batch_size %d over %d ranks x grad_accum %d with %d training "
                     "images leaves a micro-batch of fewer than 2 images; batch norm needs at least 2 "
                     "(choose another batch_size or train_subset)",
                     cfg->batch_size, ranks, cfg->grad_accum, n_train);
        else
            snprintf(err, err_size, "batch_size %d with grad_accum %d over %d training images leaves a "
                     "micro-batch of fewer than 2 images; batch norm needs at least 2 "
                     "(choose another batch_size or train_subset)",
                     cfg->batch_size, cfg->grad_accum, n_train);
        return -1;
    }
    return 0;
}

/* Default thread count: all cores, but ranks sharing a node share them
 * (unless the launcher already bound each rank to its own cores). */
int trial_default_threads(const ProcessGroup *world)
{
    int usable = omp_get_num_procs();                 /* respects the affinity mask */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (world->local_size > 1 && usable >= online) usable = (int)(online / world->local_size);
    return usable > 0 ? usable : 1;
}
