/* The ASHA / Hyperband driver of `sweeprun sweep` (see sweep_asha.h for
 * the journal and the protocol). */
#include "sweep_asha.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "asha.h"
#include "commands.h"
#include "run_record.h"
#include "runfile.h"
#include "scheduler.h"
#include "sweep_events.h"
#include "sweep_outcome.h"
#include "trial_id.h"
#include "util.h"

/* How long a group waits before asking again when every trial it could
 * take is still on its way to a rung: short next to an epoch (a GECCO
 * epoch is seconds), long enough that waiting costs no CPU. */
#define WAIT_SECONDS 0.2

struct SweepAsha {
    const ProcessGroup *world, *group;
    const SweepFile *sf;
    const SweepTrials *trials;
    const AshaHooks *hooks;
    AshaTable table;
    uint64_t file_hash;
    int run;                  /* this run's number (1 = the first run of this out folder) */
    /* The journal: appends (fd), its lock, and how far this rank has read. */
    SweepEventLog journal;
    int lock_fd;
    long offset, line_no;
    /* Replay state beyond the table. */
    int last_run_seen;        /* the highest header run read */
    int foreign_header;       /* a header of another sweep file (hash) or layout was read */
    int bad_lines;            /* decisions that did not fit the table (not applied) */
    int finished;             /* a finish line was read */
    int *last_run;            /* per row: the run of its last start, promote or resume */
    int *dropped;             /* per row: RAN_* of its drop (0: not dropped) */
};
typedef struct SweepAsha Asha;

/* ---- journal lines ---------------------------------------------------------- */

static int field_int(const cJSON *ev, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

static const char *const DROP_STATUS[RAN_CODES] = {
    [RAN_COMPLETE] = "stopped_early", [RAN_DIVERGED] = "diverged", [RAN_FAILED] = "failed",
};

static int drop_code(const char *status)
{
    for (int k = 0; k < RAN_CODES; k++)
        if (DROP_STATUS[k] && status && !strcmp(DROP_STATUS[k], status)) return k;
    return RAN_FAILED;
}

static void apply_header(Asha *a, const cJSON *ev)
{
    int run = field_int(ev, "run");
    if (run > a->last_run_seen) a->last_run_seen = run;
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(ev, "file_hash");
    char mine[32];
    snprintf(mine, sizeof mine, "%016llx", (unsigned long long)a->file_hash);
    if (!cJSON_IsString(hash) || strcmp(hash->valuestring, mine)) a->foreign_header = 1;
}

/* One journal line into the table: the same calls in the same order on
 * every rank, so every rank's table is the same. */
static void apply_line(void *user, const cJSON *ev)
{
    Asha *a = user;
    const char *name = cJSON_GetObjectItemCaseSensitive(ev, "event")->valuestring;
    int row = field_int(ev, "trial"), rc = 0;
    int known = row >= 0 && row < a->table.n_trials;
    if (!strcmp(name, "header")) apply_header(a, ev);
    else if (!strcmp(name, "start")) {
        if (row != a->table.n_trials || row >= a->trials->count) rc = -1;
        else {
            asha_add_trial(&a->table);
            a->last_run[row] = field_int(ev, "run");
        }
    } else if (!strcmp(name, "rung")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "metric");
        rc = known ? asha_record(&a->table, row, field_int(ev, "rung"), cJSON_IsNumber(m) ? m->valuedouble : NAN) : -1;
    } else if (!strcmp(name, "promote") || !strcmp(name, "resume")) {
        rc = !known || (!strcmp(name, "promote") && asha_promote(&a->table, row)) ? -1 : 0;
        if (!rc) a->last_run[row] = field_int(ev, "run");
    } else if (!strcmp(name, "drop")) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(ev, "status");
        rc = known ? asha_drop(&a->table, row) : -1;
        if (!rc) a->dropped[row] = drop_code(cJSON_IsString(st) ? st->valuestring : NULL);
    } else if (!strcmp(name, "finish")) {
        asha_finish(&a->table);
        a->finished = 1;
    }
    if (rc) a->bad_lines++;
}

/* Every complete line not read yet, into the table. A line that is no
 * JSON object is a write torn by a kill (ended by start_run's seal): the
 * process died writing it, so nobody acted on it, and it is skipped. */
static void catch_up(Asha *a)
{
    int torn = 0;
    sweep_events_read(a->journal.path, &a->offset, &a->line_no, apply_line, a, &torn, NULL);
}

/* A decision must reach the disk before anyone acts on it: a journal that
 * cannot be written ends the job (a rerun replays what was written). */
static void append_line(Asha *a, cJSON *ev)
{
    if (sweep_events_append(&a->journal, ev))
        comm_abort(a->world, 1, "sweep: cannot append to %s; stopping (rerun the sweep to continue)",
                   a->journal.path);
}

static cJSON *line_new(const char *event, int row)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", event);
    if (row >= 0) cJSON_AddNumberToObject(ev, "trial", row);
    return ev;
}

static void lock_journal(Asha *a)
{
    while (flock(a->lock_fd, LOCK_EX) && errno == EINTR) continue;
    catch_up(a);
}

static void unlock_journal(Asha *a) { flock(a->lock_fd, LOCK_UN); }

/* ---- opening ----------------------------------------------------------------- */

/* FNV-1a of the sweep file's bytes: a rerun must replay its own journal. */
static int hash_file(const char *path, uint64_t *hash)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *text = xmalloc(SWEEP_FILE_MAX + 1);
    size_t n = fread(text, 1, SWEEP_FILE_MAX, f);
    fclose(f);
    text[n] = 0;
    *hash = trial_hash(text);
    free(text);
    return 0;
}

static int open_journal(Asha *a, char *err, int err_size)
{
    const char *out = a->sf->out;
    char lock_path[SWEEP_PATH_MAX + 32];
    snprintf(a->journal.path, sizeof a->journal.path, "%s/%s", out, SWEEP_ASHA_JOURNAL);
    snprintf(lock_path, sizeof lock_path, "%s/%s", out, SWEEP_ASHA_LOCK);
    a->journal.fd = open(a->journal.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    a->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (a->journal.fd < 0 || a->lock_fd < 0) {
        snprintf(err, err_size, "sweep: cannot open %.1100s: %s", a->journal.fd < 0 ? a->journal.path : lock_path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static void append_header(Asha *a)
{
    const SchedulerSpec *s = &a->sf->scheduler;
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)a->file_hash);
    cJSON *ev = line_new("header", -1);
    cJSON_AddNumberToObject(ev, "run", a->run);
    cJSON_AddStringToObject(ev, "file_hash", hash);
    cJSON *spec = cJSON_AddObjectToObject(ev, "scheduler");
    cJSON_AddStringToObject(spec, "kind", s->kind == SCHEDULER_ASHA ? "asha" : "hyperband");
    cJSON_AddNumberToObject(spec, "min_epochs", s->min_epochs);
    cJSON_AddNumberToObject(spec, "eta", s->eta);
    cJSON_AddNumberToObject(spec, "max_epochs", a->table.layout.max_epochs);
    cJSON_AddNumberToObject(spec, "brackets", a->table.layout.n_brackets);
    cJSON_AddNumberToObject(ev, "trials", a->trials->count);
    append_line(a, ev);
}

/* Rank 0, before any group starts: replay the journal, refuse one of
 * another sweep file (leaving it as it was), else end a torn last line and
 * start this run with its header. */
static void start_run(Asha *a, char *err, int err_size)
{
    lock_journal(a);
    if (a->foreign_header || a->bad_lines)
        snprintf(err, err_size, "sweep: %.1100s was written for another version of %.1100s (%s); its decisions "
                 "cannot be replayed: restore that file, or move the out folder away to start afresh",
                 a->journal.path, a->sf->path, a->foreign_header ? "the file's hash differs" : "lines that do not fit");
    else {
        sweep_events_seal(&a->journal);
        a->run = a->last_run_seen + 1;
        append_header(a);
        catch_up(a);
    }
    unlock_journal(a);
}

static void asha_init(Asha *a, const ProcessGroup *world, const ProcessGroup *group, const SweepFile *sf,
                      const SweepTrials *trials, const AshaHooks *hooks)
{
    memset(a, 0, sizeof *a);
    a->world = world;
    a->group = group;
    a->sf = sf;
    a->trials = trials;
    a->hooks = hooks;
    a->journal.fd = a->lock_fd = -1;
    AshaLayout layout;
    scheduler_layout(&sf->scheduler, trials->items[0].epochs, &layout);   /* one epochs for all: checked */
    asha_table_init(&a->table, &layout);
    a->last_run = xcalloc((size_t)trials->count, sizeof *a->last_run);
    a->dropped = xcalloc((size_t)trials->count, sizeof *a->dropped);
}

static void asha_free(Asha *a)
{
    if (a->journal.fd >= 0) close(a->journal.fd);
    if (a->lock_fd >= 0) close(a->lock_fd);
    asha_table_free(&a->table);
    free(a->last_run);
    free(a->dropped);
}

/* ---- deciding ------------------------------------------------------------------ */

enum { DO_TRAIN, DO_WAIT, DO_DONE, DO_STOP };

/* The status of trial x's final run file as a RunStatus, or -1 when it
 * has none (still to train). An unreadable one counts as failed. */
static int final_file_status(const SweepTrial *x, int *stopped_early)
{
    if (access(x->run_file, F_OK)) return -1;
    char err[1024], status[32] = "";
    int64_t early = 0;
    RunFile *f = runfile_open(x->run_file, err, sizeof err);
    if (f) {
        runfile_read_attr_string(f, "status", status, sizeof status, err, sizeof err);
        if (runfile_has_attr(f, "early_stopped")) runfile_read_attr_int64(f, "early_stopped", &early, err, sizeof err);
        runfile_close(f);
    }
    *stopped_early = (int)early;
    return !strcmp(status, "complete") ? RUN_COMPLETE : !strcmp(status, "diverged") ? RUN_DIVERGED : RUN_FAILED;
}

typedef struct Order {
    int what;                 /* DO_* */
    int row, train_to;        /* DO_TRAIN */
    /* DO_TRAIN of a trial whose final run file exists already (an earlier
     * run was killed after finishing it, before its journal line): its
     * RunStatus, taken from the file instead of training; -1: train. */
    int ended_as, ended_early;   /* ended_early: its early_stopped attribute */
    int orphan;                  /* an earlier run died training it */
} Order;

/* A trial RUNNING by an earlier run's decision: that run died with it in
 * flight; -1 when there is none. */
static int first_orphan(const Asha *a)
{
    for (int i = 0; i < a->table.n_trials; i++)
        if (a->table.trials[i].state == ASHA_RUNNING && a->last_run[i] < a->run) return i;
    return -1;
}

/* Under the lock: orphans first, then the rule; the decision is appended
 * and read back (catch_up), so this rank's table applies it exactly as
 * every other rank's will. */
static Order decide(Asha *a)
{
    int orphan = first_orphan(a);
    if (orphan >= 0) {
        Order o = {DO_TRAIN, orphan, asha_epochs_target(&a->table, orphan), -1, 0, 1};
        cJSON *ev = line_new("resume", orphan);
        cJSON_AddNumberToObject(ev, "train_to", o.train_to);
        cJSON_AddNumberToObject(ev, "run", a->run);
        append_line(a, ev);
        catch_up(a);
        return o;
    }
    AshaDecision d = asha_next(&a->table, a->table.n_trials < a->trials->count);
    if (d.action == ASHA_WAIT) return (Order){DO_WAIT, -1, 0, -1, 0, 0};
    if (d.action == ASHA_DONE) return (Order){DO_DONE, -1, 0, -1, 0, 0};
    cJSON *ev = line_new(d.action == ASHA_START ? "start" : "promote", d.trial);
    if (d.action == ASHA_START) {
        cJSON_AddStringToObject(ev, "id", a->trials->items[d.trial].id);
        cJSON_AddNumberToObject(ev, "bracket", d.bracket);
    } else
        cJSON_AddNumberToObject(ev, "from_rung", d.from_rung);
    cJSON_AddNumberToObject(ev, "train_to", d.train_to);
    cJSON_AddNumberToObject(ev, "run", a->run);
    append_line(a, ev);
    catch_up(a);
    return (Order){DO_TRAIN, d.trial, d.train_to, -1, 0, 0};
}

/* ---- results --------------------------------------------------------------------- */

/* Validation accuracy after `epochs` epochs, from the trial's run file
 * (final or .tmp): the rule's metric. Read from the file rather than the
 * trainer so that a trial killed between its epoch and its journal line
 * is recorded the same way when a rerun finds it there. NaN if absent. */
static double val_accuracy_at(const char *run_file, int epochs)
{
    char tmp[SWEEP_PATH_MAX + 160], err[1024];
    if (runfile_tmp_path(run_file, tmp, sizeof tmp)) return NAN;
    const char *path = access(run_file, F_OK) == 0 ? run_file : tmp;
    RunFile *f = runfile_open(path, err, sizeof err);
    if (!f) return NAN;
    RunEpochs e;
    double m = NAN;
    if (runfile_read_epochs(f, &e, err, sizeof err) == 0) {
        for (long i = 0; i < e.count; i++)
            if (e.epoch[i] == epochs && e.has_validation) m = e.val_accuracy[i];
        run_epochs_free(&e);
    }
    runfile_close(f);
    return m;
}

/* The trial reached max_epochs below its configured epochs (max_epochs =
 * M < epochs): its paused .tmp is its final file, complete. */
static int finish_at_max_epochs(const SweepTrial *x, int epochs, TrialOutcome *o)
{
    if (o->status != RUN_PAUSED) return 0;
    int rc = run_record_end_paused(x->run_file, epochs, RUN_COMPLETE, -1, o->error, sizeof o->error);
    if (rc) report_error("sweep: trial %s reached max_epochs %d, but finishing its run file failed: %s", x->id,
                         epochs, o->error);
    o->status = rc ? RUN_FAILED : RUN_COMPLETE;
    return rc;
}

/* Under the lock: what the trial's run reached, as a rung line, or a drop. */
static void record_result(Asha *a, int row, int train_to, TrialOutcome *o)
{
    const SweepTrial *x = &a->trials->items[row];
    int bracket = a->table.trials[row].bracket;
    int rung = asha_rung_at(&a->table.layout, bracket, train_to);
    int reached = o->started && (o->status == RUN_PAUSED || (o->status == RUN_COMPLETE && !o->stopped_early));
    if (reached && rung == a->table.layout.brackets[bracket].n_rungs && train_to < x->epochs)
        reached = finish_at_max_epochs(x, train_to, o) == 0;
    if (reached) {
        cJSON *ev = line_new("rung", row);
        cJSON_AddNumberToObject(ev, "rung", rung);
        cJSON_AddNumberToObject(ev, "epochs", train_to);
        sweep_event_number(ev, "metric", val_accuracy_at(x->run_file, train_to));
        append_line(a, ev);
        return;
    }
    int code = !o->started ? RAN_FAILED : o->status == RUN_DIVERGED ? RAN_DIVERGED
               : o->status == RUN_COMPLETE ? RAN_COMPLETE : RAN_FAILED;
    cJSON *ev = line_new("drop", row);
    cJSON_AddStringToObject(ev, "status", DROP_STATUS[code]);
    cJSON_AddNumberToObject(ev, "epochs", o->started ? o->start_epoch + o->epochs_run : 0);
    append_line(a, ev);
    if (code != RAN_COMPLETE && a->hooks->failed) a->hooks->failed(a->hooks->user);
}

/* Under the lock, once nothing more can be promoted: the finish line
 * (once per journal), then every trial stopped at a rung whose .tmp is
 * still paused becomes its final file, status pruned, stopped_at_rung. */
static void finish_waiting(Asha *a)
{
    if (!a->finished) {
        cJSON *ev = line_new("finish", -1);
        cJSON_AddNumberToObject(ev, "run", a->run);
        append_line(a, ev);
        catch_up(a);
    }
    for (int i = 0; i < a->table.n_trials; i++) {
        const AshaTrial *t = &a->table.trials[i];
        const SweepTrial *x = &a->trials->items[i];
        char tmp[SWEEP_PATH_MAX + 160], err[1200], reason[256];
        if (t->state != ASHA_STOPPED || a->dropped[i] || t->rung < 0) continue;
        if (runfile_tmp_path(x->run_file, tmp, sizeof tmp) || access(tmp, F_OK)) continue;
        int epochs = asha_epochs_reached(&a->table, i);
        if (run_record_end_paused(x->run_file, epochs, RUN_PRUNED, t->rung, err, sizeof err)) {
            report_error("sweep: trial %s stopped at rung %d, but finishing its run file failed: %s", x->id, t->rung,
                         err);
            continue;
        }
        snprintf(reason, sizeof reason, "asha: stopped at rung %d (epoch %d): validation accuracy %.2f%% was not in "
                 "the top 1/%d of its rung", t->rung, epochs, 100 * t->metric[t->rung], a->table.layout.eta);
        if (a->hooks->stopped_at_rung) a->hooks->stopped_at_rung(a->hooks->user, i, t->rung, epochs,
                                                                 t->metric[t->rung], reason);
    }
}

/* ---- the loop ---------------------------------------------------------------------- */

static void wait_a_little(Asha *a)
{
    for (int i = 0; i < 4 && !a->hooks->stopping(a->hooks->user); i++) {
        struct timespec pause = {0, (long)(WAIT_SECONDS / 4 * 1e9)};
        nanosleep(&pause, NULL);
    }
}

/* The group's first rank decides; every rank of the group acts. */
static Order next_order(Asha *a)
{
    Order o = {DO_STOP, -1, 0, -1, 0, 0};
    int stop = a->hooks->stopping(a->hooks->user), early = 0;
    if (a->group->rank == 0 && !stop) {
        lock_journal(a);
        o = decide(a);
        if (o.what == DO_TRAIN) o.ended_as = final_file_status(&a->trials->items[o.row], &early);
        o.ended_early = early;
        if (o.what == DO_DONE) finish_waiting(a);
        unlock_journal(a);
    }
    comm_broadcast_bytes(a->group, &o, sizeof o, 0);
    return o;
}

static void work(Asha *a)
{
    for (;;) {
        Order o = next_order(a);
        if (o.what == DO_STOP || o.what == DO_DONE) return;
        if (o.what == DO_WAIT) {
            if (a->group->rank == 0) wait_a_little(a);
            continue;
        }
        TrialOutcome result;
        if (o.ended_as >= 0) {   /* only the first rank records it */
            memset(&result, 0, sizeof result);
            result.started = 1;
            result.status = (RunStatus)o.ended_as;
            result.stopped_early = o.ended_early;
        } else
            a->hooks->run(a->hooks->user, o.row, o.train_to, o.orphan, &result);
        /* Interrupted by a stop signal: nothing to record, a rerun continues it. */
        if (a->group->rank != 0 || (result.started && result.status == RUN_INTERRUPTED)) continue;
        lock_journal(a);
        record_result(a, o.row, o.train_to, &result);
        unlock_journal(a);
    }
}

/* Rank 0, after every group stopped: each trial's end in this run, from
 * the journal (the one account all groups wrote to). */
static void outcomes(Asha *a, int *outcome, int *stopped_rung)
{
    lock_journal(a);
    unlock_journal(a);
    for (int i = 0; i < a->trials->count; i++) {
        outcome[i] = RAN_NOT;
        stopped_rung[i] = -1;
        if (i >= a->table.n_trials) continue;
        const AshaTrial *t = &a->table.trials[i];
        if (t->state == ASHA_COMPLETE) outcome[i] = RAN_COMPLETE;
        else if (t->state == ASHA_STOPPED && a->dropped[i]) outcome[i] = a->dropped[i];
        else if (t->state == ASHA_STOPPED) {
            outcome[i] = RAN_STOPPED;
            stopped_rung[i] = t->bracket * ASHA_MAX_RUNGS + t->rung;
        } else
            outcome[i] = RAN_INTERRUPTED;   /* running or waiting when the sweep stopped: a rerun goes on */
    }
}

SweepAsha *sweep_asha_open(const ProcessGroup *world, const ProcessGroup *group, const SweepFile *sf,
                           const SweepTrials *trials)
{
    Asha *a = xmalloc(sizeof *a);
    asha_init(a, world, group, sf, trials, NULL);
    char err[2600] = "";
    if (hash_file(sf->path, &a->file_hash))
        snprintf(err, sizeof err, "sweep: cannot read %.1000s again: %s", sf->path, strerror(errno));
    else if (group->rank == 0 && open_journal(a, err, sizeof err) == 0 && world->rank == 0)
        start_run(a, err, sizeof err);
    if (comm_agree(world, err[0] ? err : NULL)) {
        sweep_asha_close(a);
        return NULL;
    }
    comm_broadcast_bytes(world, &a->run, sizeof a->run, 0);
    return a;
}

void sweep_asha_run(SweepAsha *a, const AshaHooks *hooks, int *outcome, int *stopped_rung)
{
    int n = a->trials->count;
    a->hooks = hooks;
    work(a);
    comm_barrier(a->world);
    if (a->world->rank == 0) outcomes(a, outcome, stopped_rung);
    comm_broadcast_bytes(a->world, outcome, (long)n * (long)sizeof *outcome, 0);
    comm_broadcast_bytes(a->world, stopped_rung, (long)n * (long)sizeof *stopped_rung, 0);
}

void sweep_asha_close(SweepAsha *a)
{
    if (!a) return;
    asha_free(a);
    free(a);
}
