/* `sweeprun sweep FILE.ini`: every trial of a sweep, once, across the
 * ranks of the job (mpirun -np N), into one run file per trial.
 *
 * Every rank reads and expands the file (the trial list is a pure function
 * of it). Rank 0 looks at the out folder: finished trials are skipped,
 * interrupted ones continue from their checkpoint. The world is cut into
 * groups of ranks_per_trial ranks; each group's first rank takes the next
 * trial from the shared counter (sweeps/trial_queue.h) and the group trains
 * it (data-parallel when the group has several ranks) through trial_run(),
 * the same code as `sweeprun train`. At the end rank 0 prints the summary. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "comm.h"
#include "cli_args.h"
#include "commands.h"
#include "dataset.h"
#include "progress.h"
#include "prune_board.h"
#include "runfile.h"
#include "stop_signals.h"
#include "sweep_config.h"
#include "sweep_asha.h"
#include "sweep_log.h"
#include "sweep_outcome.h"
#include "sweep_scheduler.h"
#include "sweep_table.h"
#include "sweep_tpe.h"
#include "sweep_view.h"
#include "trial.h"
#include "trial_queue.h"
#include "util.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sweeprun sweep FILE.ini [--dry-run] [--quiet | --verbose] [--no-live] [--status-every SECONDS]\n"
        "                            [--stop-signals LIST]\n"
        "       mpirun -np N sweeprun sweep FILE.ini\n"
        "\n"
        "Runs every trial of the sweep once, one HDF5 run file per trial in the sweep's out folder.\n"
        "Rerunning the same command skips finished trials and continues interrupted ones.\n"
        "\n"
        "  --dry-run   check the file and print the trials as a table; run nothing, write nothing\n"
        "  --quiet     one line per finished trial and the summary\n"
        "  --verbose   also one line per epoch of every trial (and no live table on a terminal)\n"
        "  --no-live   plain lines even on a terminal\n"
        "  --status-every SECONDS\n"
        "              when stdout is not a terminal: a one-line summary this often (default 60; 0: none)\n"
        "\n"
        "  --stop-signals LIST  signals that stop the sweep: trials in flight checkpoint after their current\n"
        "              step and are marked interrupted, no new trial starts (default " STOP_SIGNALS_DEFAULT ";\n"
        "              'none': no handler). A second SIGINT stops at once\n"
        "\n"
        "On a terminal, rank 0 shows a live table (totals, running trials, best so far, ETA); in logs,\n"
        "one line per trial start and end. Every event also goes to OUT/events.jsonl (docs/events.md);\n"
        "`sweeprun status OUT` reads it from another shell.\n"
        "\n"
        "Format of sweep files: docs/sweep-files.md. Bad files: one 'FILE:LINE: message' per problem,\n"
        "exit code 2, nothing run.\n"
        "exit codes: 0 every trial finished (complete, pruned or diverged), 1 a trial failed, has an\n"
        "unreadable run file, or the sweep stopped at max_failures, 2 bad input, 143 stopped by a stop\n"
        "signal (trials in flight checkpointed; rerun the same command to continue), 130 a second SIGINT\n");
}

/* ---- the plan: file, dataset, trials --------------------------------------- */

typedef struct Plan {
    SweepFile sf;
    SweepTrials trials;
    Dataset data;
    SweepConfigContext ctx;
    SweepResolver resolver;        /* of ctx */
    SweepProblems problems;
    SweepTpe *tpe;                 /* search = tpe: the study (NULL otherwise) */
} Plan;

/* Read, check and expand the sweep file; every problem into plan->problems. */
static void make_plan(const char *path, Plan *p)
{
    memset(p, 0, sizeof *p);
    sweep_problems_init(&p->problems, path);
    sweep_file_parse(path, &p->sf, &p->problems);
    /* A file that cannot be read has no dataset or models to complain about. */
    if (p->sf.unreadable) return;
    char why[1024];
    if (dataset_load(p->sf.dataset, 0, 0, &p->data, why, sizeof why))
        sweep_problems_add(&p->problems, p->sf.line_dataset, "%s", why);
    p->ctx = sweep_config_context(&p->sf, p->data.n_train, p->data.n_test);
    p->resolver = sweep_config_resolver(&p->ctx);
    sweep_expand(&p->sf, &p->resolver, &p->trials, &p->problems);
    /* Proposals made by earlier runs replace their trials' placeholder draws. */
    if (p->sf.search == SEARCH_TPE && !p->problems.count)
        p->tpe = sweep_tpe_load(&p->sf, &p->resolver, &p->trials, &p->problems);
    if (!p->problems.count && !p->trials.count)
        sweep_problems_add(&p->problems, 0, "the sweep has no trials");
    sweep_scheduler_check(&p->sf, &p->trials, &p->problems);
    if (prune_board_check(p->trials.count, prune_board_span(&p->sf.prune, p->trials.max_epochs), why, sizeof why))
        sweep_problems_add(&p->problems, p->sf.line_prune, "%s", why);
}

static void free_plan(Plan *p)
{
    sweep_tpe_free(p->tpe);
    sweep_trials_free(&p->trials);
    sweep_file_free(&p->sf);
    dataset_free(&p->data);
    sweep_problems_free(&p->problems);
}

/* Every rank checked the file; rank 0 prints its problems, or, when only
 * other ranks found some (they see a different file or dataset), those
 * ranks print theirs. Returns 1 on every rank when any rank found one. */
static int report_problems(const ProcessGroup *world, Plan *p)
{
    int mine = p->problems.count > 0;
    int first = world->rank == 0 ? mine : 0;
    comm_broadcast_bytes(world, &first, sizeof first, 0);
    if (mine && (world->rank == 0 || !first)) {
        if (world->rank == 0) sweep_problems_print(&p->problems, stderr);
        else
            for (int i = 0; i < p->problems.count; i++) {
                char line[4096];
                sweep_problem_format(&p->problems, i, line, sizeof line);
                report_error("rank %d: %s", world->rank, line);
            }
        if (world->rank == 0)
            report_error("sweep: %d problem%s in %s; nothing was run", p->problems.count,
                         p->problems.count == 1 ? "" : "s", p->sf.path);
    }
    return comm_allreduce_max_int(world, mine);
}

/* Rank 0: the state of every trial's run file, and the accuracies they
 * recorded in the pruning board's epochs (board[epoch - span.first][trial]). */
static void scan_trials(const Plan *p, TrialScan *scans, double *board, PruneSpan span)
{
    int n = p->trials.count, width = p->trials.max_epochs;
    double *acc = xmalloc((size_t)(width ? width : 1) * sizeof *acc);
    for (int i = 0; i < n; i++) {
        const SweepTrial *t = &p->trials.items[i];
        trial_scan(t->run_file, t->id, width, &scans[i], acc);
        if (board)
            for (int r = 0; r < span.count; r++) board[(long)r * n + i] = acc[span.first + r];
    }
    free(acc);
}

static void print_plan_header(const Plan *p, FILE *f)
{
    const SweepFile *sf = &p->sf;
    int configs = 0;
    for (int i = 0; i < p->trials.count; i++)
        if (i == 0 || p->trials.items[i].config != p->trials.items[i - 1].config) configs++;
    fprintf(f, "sweep %s: %d trial%s (%d configuration%s x %d seed%s, %s search), dataset %s, out %s, "
               "%d rank%s per trial", sf->name, p->trials.count, p->trials.count == 1 ? "" : "s", configs,
            configs == 1 ? "" : "s", sf->n_seeds, sf->n_seeds == 1 ? "" : "s",
            sweep_search_name(sf->search), sf->dataset, sf->out, sf->ranks_per_trial,
            sf->ranks_per_trial == 1 ? "" : "s");
    if (sf->prune.enabled)
        fprintf(f, ", prune median after epoch %d (min %d other trials)", sf->prune.warmup, sf->prune.min_trials);
    if (sweep_uses_rungs(sf))
        fprintf(f, ", scheduler %s (min_epochs %d, eta %d)", sf->scheduler.kind == SCHEDULER_ASHA ? "asha" : "hyperband",
                sf->scheduler.min_epochs, sf->scheduler.eta);
    if (p->trials.duplicates_dropped)
        fprintf(f, "; %d repeated random draw%s dropped", p->trials.duplicates_dropped,
                p->trials.duplicates_dropped == 1 ? "" : "s");
    fprintf(f, "\n");
}

static int dry_run(const ProcessGroup *world, const Plan *p)
{
    if (world->rank != 0) return EXIT_OK;
    TrialScan *scans = xcalloc((size_t)p->trials.count, sizeof *scans);
    scan_trials(p, scans, NULL, (PruneSpan){0, 0});
    print_plan_header(p, stdout);
    sweep_print_table(&p->sf, &p->trials, scans, stdout);
    int todo = 0;
    for (int i = 0; i < p->trials.count; i++) todo += !trial_state_finished(scans[i].state);
    sweep_scheduler_print_plan(&p->sf, &p->trials, stdout);
    if (p->tpe) {
        int all, done = sweep_tpe_proposed(p->tpe, &all);
        printf("search tpe: trials with a draw number from %d on are proposed by TPE when they start: %d of %d "
               "proposed so far (%s/%s); the others show random search's draw in their place\n",
               sweep_tpe_startup(p->tpe), done, all, p->sf.out, SWEEP_TPE_JOURNAL);
    }
    if (p->sf.n_objectives) sweep_print_front(&p->sf, &p->trials, stdout);   /* of the trials complete so far */
    printf("%d to run, %d already finished (dry run: nothing was run or written)\n", todo, p->trials.count - todo);
    free(scans);
    return EXIT_OK;
}

/* ---- the out folder ------------------------------------------------------------ */

static int make_dirs(const char *path, char *err, int err_size)
{
    char buf[SWEEP_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || !*p) {
            char keep = *p;
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST) {
                snprintf(err, err_size, "out: cannot create folder %s: %s", buf, strerror(errno));
                return -1;
            }
            *p = keep;
            if (!keep) break;
        }
    }
    return 0;
}

/* One sweep at a time per out folder: two would hand out the same trials.
 * An flock dies with its process, so a killed sweep leaves no stale lock. */
static int lock_out(const char *out, int *fd, char *err, int err_size)
{
    char path[SWEEP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/.sweeprun.lock", out);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);   /* a child must not inherit (and keep) the lock */
    if (*fd < 0) {
        snprintf(err, err_size, "out: cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    /* `sweeprun status` takes a shared lock for an instant to ask whether a
     * sweep runs: a start that meets it retries for two seconds. */
    int locked = flock(*fd, LOCK_EX | LOCK_NB) == 0;
    for (int tries = 0; !locked && tries < 40; tries++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        locked = flock(*fd, LOCK_EX | LOCK_NB) == 0;
    }
    if (!locked) {
        snprintf(err, err_size, "out: another sweep is running in %.500s (%.540s is locked); wait for it to end",
                 out, path);
        close(*fd);
        *fd = -1;
        return -1;
    }
    return 0;
}

/* ---- running trials --------------------------------------------------------------- */

/* Outcome codes per trial (sweep_outcome.h): without a rung scheduler,
 * summed over ranks at the end (each trial is run by one group, whose
 * first rank writes its code); with one, from the ASHA journal. */

typedef struct Sweep {
    const ProcessGroup *world, *group;
    Plan *plan;
    SweepEventLog log;             /* OUT/events.jsonl (group leads) */
    PruneBoard board;
    TrialQueue queue;
    const SweepTrial *trial;       /* the one this group trains now */
    TrainConfig cfg;
    double started;
    int *outcome, *resumed;        /* per trial */
    int *stopped_rung;             /* per trial: the ASHA rung a RAN_STOPPED trial stopped at */
    double *column;                /* one board column */
    char command[2048];
    int nccl_ready, nccl_device;
    int cuda_index;                /* the trial in flight's device (-1: the CPU) */
    char prune_reason[256];        /* why the trial in flight was pruned ("" if it was not) */
    /* Stopping on a signal: this rank must stop (a signal here, or the
     * queue's stop mark), it has set the mark, when it last read it; and,
     * after the work, whether any rank stopped. */
    int stopping, marked, stopped;
    double mark_read_at;
} Sweep;

static void on_start(void *user, const Trainer *t, int start_epoch)
{
    (void)t;
    Sweep *s = user;
    sweep_log_trial_start(&s->log, s->group, &s->plan->sf, s->trial, start_epoch, s->cuda_index);
}

static int on_epoch(void *user, const EpochStats *st)
{
    Sweep *s = user;
    const SweepTrial *x = s->trial;
    sweep_log_epoch(&s->log, s->plan->sf.name, x, st);
    /* Pruning decides on the validation split, never on the test set
     * (sweep_trial_config refuses pruning without a split). */
    prune_board_post(&s->board, x->index, st->epoch, st->val_accuracy);
    const PruneRule *rule = &s->plan->sf.prune;
    if (!rule->enabled || st->epoch + 1 < rule->warmup || st->epoch + 1 >= x->epochs) return 0;
    prune_board_read(&s->board, st->epoch, s->column);
    int m = 0;
    for (int i = 0; i < s->plan->trials.count; i++)
        if (i != x->index && !strcmp(s->plan->trials.items[i].model, x->model)) s->column[m++] = s->column[i];
    double median;
    int prune = prune_decide(rule, st->epoch + 1, st->val_accuracy, s->column, m, &median);
    if (prune)
        snprintf(s->prune_reason, sizeof s->prune_reason,
                 "validation accuracy %.2f%% is below the median %.2f%% of the other %s trials", 100 * st->val_accuracy,
                 100 * median, x->model);
    return prune;
}

/* How often a group's first rank reads the queue's stop mark while it
 * trains: a signal that reached other ranks only stops this group within
 * this many seconds. Between reads a step costs one clock read (35-110 ns
 * measured). A read is an MPI_Fetch_and_op on rank 0's window: 0.6-0.8 us
 * on the shared 2-core machine (Open MPI 4.1.4, osc/sm, 2 ranks, 100,000
 * reads), so reading it every step (a gecco step is about 2.4 ms) would
 * cost little too; the clock keeps the cost independent of the transport
 * (across nodes a fetch may wait until rank 0 enters MPI). */
#define STOP_MARK_READ_SECONDS 0.05

enum { MARK_UNREAD, MARK_EVERY_SO_OFTEN, MARK_NOW };

/* Whether this rank must stop: a stop signal reached it (it then sets the
 * queue's stop mark, once, for the other groups), or another rank set the
 * mark (read as `read` says: not at all, at most every
 * STOP_MARK_READ_SECONDS, or now). */
static int sweep_stopping(Sweep *s, int read)
{
    if (!s->stopping && stop_signal_caught()) s->stopping = 1;
    if (s->stopping && !s->marked) {
        trial_queue_stop(&s->queue);
        s->marked = 1;
    }
    if (s->stopping || read == MARK_UNREAD) return s->stopping;
    double now = now_seconds();
    if (read == MARK_NOW || now - s->mark_read_at >= STOP_MARK_READ_SECONDS) {
        s->mark_read_at = now;
        s->stopping = trial_queue_stopped(&s->queue);
    }
    return s->stopping;
}

/* Trainer.stop_requested in a sweep. Every rank asks its own signal; a
 * group's first rank also reads the stop mark (the step's all-reduce
 * tells the others). */
static int trial_stop_requested(void *user)
{
    Sweep *s = user;
    return sweep_stopping(s, s->group->rank == 0 ? MARK_EVERY_SO_OFTEN : MARK_UNREAD);
}

/* The dataset as this trial sees it (train_subset/test_subset of the one
 * loaded copy). */
static Dataset subset_view(const Dataset *full, const TrainConfig *cfg)
{
    Dataset v = *full;
    if (cfg->train_subset > 0 && cfg->train_subset < v.n_train) v.n_train = (int)cfg->train_subset;
    if (cfg->test_subset > 0 && cfg->test_subset < v.n_test) v.n_test = (int)cfg->test_subset;
    return v;
}

/* The group's first rank: the trial's end into the event log (rank 0's
 * view prints it). When the log refuses it, a failure still reaches stderr. */
static void report_result(Sweep *s, const TrialOutcome *o, double seconds)
{
    const SweepTrial *x = s->trial;
    int logged = sweep_log_trial_end(&s->log, s->plan->sf.name, x, o, s->prune_reason, seconds) == 0;
    if (!logged && (!o->started || o->status == RUN_FAILED || o->status == RUN_DIVERGED))
        report_error("rank %d: trial %s %s: %s", s->world->rank, x->id, o->started && o->status == RUN_DIVERGED
                     ? "diverged" : "failed", o->error);
}

/* Train one trial on this group until train_until epochs in all (0: to
 * the end). Returns its outcome code; *out (may be NULL) gets trial_run's
 * outcome. A trial paused at train_until has not ended: no trial_end. */
static int run_one(Sweep *s, const SweepTrial *x, int train_until, TrialOutcome *out)
{
    Plan *p = s->plan;
    int lead = s->group->rank == 0;
    char err[1024];
    int cuda_index = -1;
    s->trial = x;
    s->prune_reason[0] = 0;
    double started = now_seconds();
    TrialOutcome o;
    memset(&o, 0, sizeof o);
    /* Checked during expansion already: cannot fail here but for a bug. */
    if (sweep_trial_config(&p->ctx, x->settings, x->n_settings, &s->cfg, NULL, err, sizeof err)
        || trial_resolve_device(&s->cfg, s->world, &cuda_index, NULL, 0, err, sizeof err))
        comm_abort(s->world, 1, "sweep: trial %s: %s", x->id, err);
    TrainConfig *cfg = &s->cfg;
    snprintf(cfg->out, sizeof cfg->out, "%s", x->run_file);
    snprintf(cfg->sweep, sizeof cfg->sweep, "%s", p->sf.name);
    snprintf(cfg->trial_id, sizeof cfg->trial_id, "%s", x->id);
    cfg->world_size = s->world->world_size;
    cfg->ranks_per_trial = s->group->size;
    /* GPU groups always sum with NCCL; CPU groups only when asked. */
    int use_nccl = cfg->allreduce == ALLREDUCE_NCCL || (cuda_index >= 0 && s->group->size > 1);
    if (use_nccl && !s->nccl_ready) {
        if (comm_nccl_init((ProcessGroup *)s->group, &s->nccl_device, err, sizeof err)) {
            if (lead) {
                memset(&o, 0, sizeof o);
                o.status = RUN_FAILED;
                snprintf(o.error, sizeof o.error, "allreduce nccl: %s", err);
                report_result(s, &o, now_seconds() - started);
            }
            return RAN_FAILED;
        }
        s->nccl_ready = 1;
    }
    if (cuda_index >= 0 && s->nccl_ready) cuda_index = s->nccl_device;   /* the GPU NCCL bound */
    s->cuda_index = cuda_index;
    int threads = set_compute_threads(cfg->threads ? cfg->threads : trial_default_threads(s->world));
    Dataset view = subset_view(&p->data, cfg), split;
    /* Checked during expansion (sweep_trial_config): cannot fail here. */
    if (trial_hold_out(cfg, &view, &split, err, sizeof err)) comm_abort(s->world, 1, "sweep: trial %s: %s", x->id, err);
    TrialHooks hooks = {.user = s, .on_start = on_start, .on_epoch = on_epoch};
    TrialSpec spec = {.cfg = cfg, .group = s->group, .data = &split, .cuda_index = cuda_index, .threads = threads,
                      .command = s->command, .resume = 1, .train_until = train_until, .use_nccl = use_nccl,
                      .hooks = &hooks, .stop_requested = trial_stop_requested, .stop_user = s};
    trial_run(&spec, &o);
    dataset_free(&split);
    if (out) *out = o;
    int paused = o.started && o.status == RUN_PAUSED;
    if (lead && !paused) report_result(s, &o, now_seconds() - started);
    if (lead && paused) sweep_log_trial_pause(&s->log, p->sf.name, x, train_until);
    /* Summed over ranks at the end. Under ASHA every promotion continues
     * a checkpoint: only resumes after an interruption would count, and
     * the journal, not this flag, tells those. */
    if (lead && o.resumed && !train_until) s->resumed[x->index] = 1;
    if (!o.started) return RAN_FAILED;
    switch (o.status) {
    case RUN_COMPLETE: return RAN_COMPLETE;
    case RUN_DIVERGED: return RAN_DIVERGED;
    case RUN_PRUNED: return RAN_PRUNED;
    case RUN_INTERRUPTED: return RAN_INTERRUPTED;
    default: return RAN_FAILED;
    }
}

/* Take tickets until the list is done (or too many trials failed, or a
 * stop signal came: no trial starts after it). */
static void work(Sweep *s, const int *todo, int n_todo)
{
    int lead = s->group->rank == 0;
    int limit = s->plan->sf.max_failures;
    for (;;) {
        long long ticket = -1;
        if (!lead) sweep_stopping(s, MARK_UNREAD);   /* a signal here: set the mark for the lead */
        if (lead && !sweep_stopping(s, MARK_NOW) && (limit < 0 || trial_queue_failures(&s->queue) <= limit))
            ticket = trial_queue_next(&s->queue);
        comm_broadcast_bytes(s->group, &ticket, sizeof ticket, 0);
        if (ticket < 0 || ticket >= n_todo) return;
        const SweepTrial *x = &s->plan->trials.items[todo[ticket]];
        SweepTpe *tpe = s->plan->tpe;
        if (tpe) sweep_tpe_prepare(tpe, s->group, x->index);   /* its values now, from the results so far */
        TrialOutcome o;
        int code = run_one(s, x, 0, &o);
        if (lead) {
            s->outcome[x->index] = code;
            if (code == RAN_FAILED || code == RAN_DIVERGED) trial_queue_add_failure(&s->queue);
            if (tpe) sweep_tpe_result(tpe, x->index, &o);
        }
    }
}

/* ---- ASHA and Hyperband (sweep_asha.c decides, these hooks train) ---------------------- */

static void asha_run_trial(void *user, int index, int train_to, int orphan, TrialOutcome *o)
{
    Sweep *s = user;
    run_one(s, &s->plan->trials.items[index], train_to, o);
    if (orphan && s->group->rank == 0 && o->resumed) s->resumed[index] = 1;   /* summed over ranks at the end */
}

/* As work() asks: a signal or the stop mark, or max_failures exceeded. */
static int asha_stopping(void *user)
{
    Sweep *s = user;
    if (s->group->rank != 0) return sweep_stopping(s, MARK_UNREAD);
    int limit = s->plan->sf.max_failures;
    return sweep_stopping(s, MARK_NOW) || (limit >= 0 && trial_queue_failures(&s->queue) > limit);
}

static void asha_failed(void *user) { trial_queue_add_failure(&((Sweep *)user)->queue); }

/* A trial stopped at a rung ends like a pruned one: a trial_end with
 * status pruned and the rung in its reason. */
static void asha_stopped_at_rung(void *user, int index, int rung, int epochs, double metric, const char *reason)
{
    Sweep *s = user;
    (void)rung;
    TrialOutcome o;
    memset(&o, 0, sizeof o);
    o.started = 1;
    o.status = RUN_PRUNED;
    o.start_epoch = epochs;
    o.last.val_accuracy = metric;
    sweep_log_trial_end(&s->log, s->plan->sf.name, &s->plan->trials.items[index], &o, reason, 0);
}

static void run_asha(Sweep *s, SweepAsha *asha)
{
    AshaHooks hooks = {.user = s, .run = asha_run_trial, .stopping = asha_stopping, .failed = asha_failed,
                       .stopped_at_rung = asha_stopped_at_rung};
    sweep_asha_run(asha, &hooks, s->outcome, s->stopped_rung);
}

/* ---- the summary ----------------------------------------------------------------------- */

/* ASHA: "stopped at rung k  N" for each rung where trials of this run stopped. */
static void print_stopped_at_rungs(const Sweep *s, const TrialScan *scans)
{
    if (!sweep_uses_rungs(&s->plan->sf)) return;
    enum { WHERE = ASHA_MAX_BRACKETS * ASHA_MAX_RUNGS };
    int *count = xcalloc(WHERE, sizeof *count);
    for (int i = 0; i < s->plan->trials.count; i++)
        if (!trial_state_finished(scans[i].state) && s->outcome[i] == RAN_STOPPED && s->stopped_rung[i] >= 0
            && s->stopped_rung[i] < WHERE)
            count[s->stopped_rung[i]]++;
    /* Hyperband's brackets have their rungs at different epochs: rung k of
     * one bracket is not rung k of another. */
    int hyperband = s->plan->sf.scheduler.kind == SCHEDULER_HYPERBAND;
    for (int w = 0; w < WHERE; w++) {
        if (!count[w]) continue;
        if (hyperband) printf("  stopped at rung %d of bracket %d  %d\n", w % ASHA_MAX_RUNGS, w / ASHA_MAX_RUNGS, count[w]);
        else printf("  stopped at rung %d  %d\n", w % ASHA_MAX_RUNGS, count[w]);
    }
    free(count);
}

static void print_summary(const Sweep *s, const TrialScan *scans, double seconds)
{
    const Plan *p = s->plan;
    int n = p->trials.count;
    int ran[RAN_CODES] = {0}, earlier[TRIAL_STATES] = {0}, not_run = 0, resumed = 0, finished = 0, unfinished = 0;
    for (int i = 0; i < n; i++) {
        if (scans[i].state == TRIAL_UNREADABLE) earlier[TRIAL_UNREADABLE]++;
        else if (trial_state_finished(scans[i].state)) earlier[scans[i].state]++;
        else if (s->outcome[i] == RAN_NOT) not_run++;
        else ran[s->outcome[i]]++;
        resumed += s->resumed[i];
        char tmp[SWEEP_PATH_MAX + 160];
        if (access(p->trials.items[i].run_file, F_OK) == 0) finished++;
        else if (runfile_tmp_path(p->trials.items[i].run_file, tmp, sizeof tmp) == 0 && access(tmp, F_OK) == 0)
            unfinished++;
    }
    int unreadable = earlier[TRIAL_UNREADABLE];
    int skipped = n - not_run - unreadable - ran[RAN_COMPLETE] - ran[RAN_DIVERGED] - ran[RAN_FAILED] - ran[RAN_PRUNED]
                  - ran[RAN_INTERRUPTED] - ran[RAN_STOPPED];
    printf("\nsweep %s: %d trial%s on %d rank%s (%d per trial) in %.1f s\n", p->sf.name, n, n == 1 ? "" : "s",
           s->world->size, s->world->size == 1 ? "" : "s", s->group->size, seconds);
    printf("  complete  %d\n  pruned    %d\n  diverged  %d\n  failed    %d\n", ran[RAN_COMPLETE], ran[RAN_PRUNED],
           ran[RAN_DIVERGED], ran[RAN_FAILED]);
    print_stopped_at_rungs(s, scans);
    printf("  skipped   %d", skipped);
    if (skipped) {
        printf(" (finished by an earlier run:");
        const char *sep = " ";
        for (int st = TRIAL_COMPLETE; st < TRIAL_UNREADABLE; st++)
            if (earlier[st]) {
                printf("%s%d %s", sep, earlier[st], trial_state_name((TrialState)st));
                sep = ", ";
            }
        printf(")");
    }
    printf("\n");
    if (unreadable) {
        printf("  unreadable %d (a final run file that cannot be read is never overwritten: not run)\n", unreadable);
        for (int i = 0; i < n; i++)
            if (scans[i].state == TRIAL_UNREADABLE) printf("    %s\n", scans[i].note);
    }
    if (resumed) printf("  resumed   %d (continued from their checkpoint)\n", resumed);
    if (ran[RAN_INTERRUPTED])
        printf("  interrupted %d (stopped by a signal, checkpoint written: rerun the same command to continue them)\n",
               ran[RAN_INTERRUPTED]);
    if (not_run && s->stopped)
        printf("  not run   %d (stopped by a signal before they started: rerun the same command to run them)\n",
               not_run);
    else if (not_run)
        printf("  not run   %d (stopped: more than max_failures = %d trials failed or diverged)\n", not_run,
               p->sf.max_failures);
    printf("run files: %s/ (%d finished, %d unfinished)\n", p->sf.out, finished, unfinished);
}

/* ---- the command -------------------------------------------------------------------------- */


/* The job must split into groups of ranks_per_trial: checked on every
 * rank before anything is written. 0 ok, -1 (on every rank) after the
 * message. */
static int check_job_size(const ProcessGroup *world, const Plan *p)
{
    char err[600] = "";
    int k = p->sf.ranks_per_trial;
    if (k > world->size)
        snprintf(err, sizeof err, "%s:%d: ranks_per_trial: %d needs a job of at least %d ranks (mpirun -np N, N a "
                 "multiple of %d); this one has %d", p->sf.path, p->sf.line_ranks, k, k, k, world->size);
    else if (world->size % k)
        snprintf(err, sizeof err, "%s:%d: ranks_per_trial: %d does not divide the %d ranks of this job",
                 p->sf.path, p->sf.line_ranks, k, world->size);
    return comm_agree(world, err[0] ? err : NULL) ? -1 : 0;
}

/* Whether a trial of the plan sums its gradients with NCCL on a group
 * like this one (run_one's rule: allreduce = nccl, or a GPU group). */
static int plan_needs_nccl(const Plan *p, const ProcessGroup *world, const ProcessGroup *group)
{
    TrainConfig *cfg = xmalloc(sizeof *cfg);
    char err[1024];
    int cuda_index, needs = 0;
    for (int i = 0; i < p->trials.count && !needs; i++) {
        const SweepTrial *x = &p->trials.items[i];
        /* A trial that does not resolve is run_one's to report. */
        if (sweep_trial_config(&p->ctx, x->settings, x->n_settings, cfg, NULL, err, sizeof err)
            || trial_resolve_device(cfg, world, &cuda_index, NULL, 0, err, sizeof err))
            continue;
        needs = cfg->allreduce == ALLREDUCE_NCCL || (cuda_index >= 0 && group->size > 1);
    }
    free(cfg);
    return needs;
}

/* NCCL for the groups, when a trial needs it, before anything is written:
 * a job that cannot use it (two ranks on one GPU, no GPU, a build
 * without NCCL) is bad input, reported once, by the first rank that
 * found it, not a failure of every trial. 0 ok, -1 (every rank). */
static int start_nccl(const ProcessGroup *world, ProcessGroup *group, const Plan *p, int *ready, int *device)
{
    char why[900], err[1000] = "";
    int failed = 0;
    if (comm_allreduce_max_int(world, plan_needs_nccl(p, world, group))) {
        failed = comm_nccl_init(group, device, why, sizeof why) != 0;
        if (failed) snprintf(err, sizeof err, "sweep: allreduce nccl: %s", why);
        *ready = !failed;
    }
    /* The lowest failing rank speaks (its group's verdict is its ranks'). */
    int first = comm_allreduce_max_int(world, failed ? world->size - world->rank : 0);
    int speaker = first && world->rank == world->size - first;
    return comm_agree(world, speaker ? err : NULL) ? -1 : 0;
}

/* Rank 0 prepares the out folder and reads what is done; every rank gets
 * the trial states. 0 ok, -1 (on every rank) after the message. */
static int prepare_out(const ProcessGroup *world, Plan *p, TrialScan *scans, double *board, PruneSpan span,
                       int *lock_fd)
{
    char err[1200] = "";
    int n = p->trials.count;
    if (world->rank == 0 && !make_dirs(p->sf.out, err, sizeof err) && !lock_out(p->sf.out, lock_fd, err, sizeof err))
        scan_trials(p, scans, board, span);
    if (comm_agree(world, err[0] ? err : NULL)) return -1;
    int *states = xmalloc((size_t)n * sizeof *states);
    for (int i = 0; i < n; i++) states[i] = scans[i].state;
    comm_broadcast_bytes(world, states, (long)n * (long)sizeof *states, 0);
    for (int i = 0; i < n; i++) scans[i].state = (TrialState)states[i];
    free(states);
    return 0;
}

/* How rank 0 shows the sweep (sweep_view.h). */
typedef struct ViewOptions {
    int quiet, verbose, no_live;
    double status_every;          /* plain mode: seconds between one-line summaries (0: none) */
} ViewOptions;

static SweepWatch *start_view(const ProcessGroup *world, const Sweep *s, const ViewOptions *v)
{
    if (world->rank != 0) return NULL;
    ViewMode mode = v->quiet ? VIEW_QUIET : !v->verbose && !v->no_live && progress_is_terminal(stdout) ? VIEW_LIVE
                                                                                               : VIEW_PLAIN;
    return sweep_watch_start(s->log.path, stdout, mode, v->verbose, v->status_every);
}

/* Every group's first rank appends to the event log; a folder only some
 * nodes can write to is refused before anything runs. */
static int open_log(const ProcessGroup *world, const ProcessGroup *group, Sweep *s)
{
    char err[4400] = "";
    s->log.fd = -1;
    if (group->rank == 0) sweep_events_open(&s->log, s->plan->sf.out, err, sizeof err);
    return comm_agree(world, err[0] ? err : NULL) ? -1 : 0;
}

static const char *const ran_names[RAN_CODES] = {"not_run", "complete", "diverged", "failed", "pruned",
                                                 "interrupted", "stopped_at_rung"};

static int run_sweep(const ProcessGroup *world, Plan *p, const ViewOptions *view, const char *command)
{
    int n = p->trials.count;
    if (check_job_size(world, p)) return EXIT_BAD_INPUT;
    ProcessGroup group;
    char err[256];
    if (comm_split(world, p->sf.ranks_per_trial, &group, err, sizeof err))
        comm_abort(world, 1, "sweep: %s", err);     /* checked in check_job_size */
    int nccl_ready = 0, nccl_device = -1;
    if (start_nccl(world, &group, p, &nccl_ready, &nccl_device)) {
        comm_group_free(&group);
        return EXIT_BAD_INPUT;
    }
    PruneSpan span = prune_board_span(&p->sf.prune, p->trials.max_epochs);   /* size checked in make_plan */
    TrialScan *scans = xcalloc((size_t)n, sizeof *scans);
    double *board = world->rank == 0 ? xmalloc(((size_t)n * span.count + 1) * sizeof *board) : NULL;
    int lock_fd = -1;
    if (prepare_out(world, p, scans, board, span, &lock_fd)) {
        comm_group_free(&group);
        free(scans);
        free(board);
        return EXIT_BAD_INPUT;
    }
    int *todo = xmalloc((size_t)n * sizeof *todo), n_todo = 0;
    for (int i = 0; i < n; i++)
        if (!trial_state_finished(scans[i].state)) todo[n_todo++] = i;
    Sweep s = {.world = world, .group = &group, .plan = p, .started = now_seconds(), .nccl_ready = nccl_ready,
               .nccl_device = nccl_device};
    /* The journal is checked before the event log is touched: a refused
     * one leaves the out folder as it was. */
    SweepAsha *asha = NULL;
    if ((sweep_uses_rungs(&p->sf) && !(asha = sweep_asha_open(world, &group, &p->sf, &p->trials)))
        || (p->tpe && sweep_tpe_start(p->tpe, world, &group)) || open_log(world, &group, &s)) {
        sweep_asha_close(asha);
        if (lock_fd >= 0) close(lock_fd);
        comm_group_free(&group);
        free(todo);
        free(scans);
        free(board);
        return EXIT_BAD_INPUT;
    }
    snprintf(s.command, sizeof s.command, "%s", command);
    s.outcome = xcalloc((size_t)n, sizeof *s.outcome);
    s.resumed = xcalloc((size_t)n, sizeof *s.resumed);
    s.stopped_rung = xcalloc((size_t)n, sizeof *s.stopped_rung);
    s.column = xmalloc((size_t)n * sizeof *s.column);
    if (world->rank == 0 && !view->quiet) {
        print_plan_header(p, stdout);
        int unfinished = 0;
        for (int i = 0; i < n; i++) unfinished += scans[i].state == TRIAL_UNFINISHED;
        printf("%d to run (%d to continue from a checkpoint), %d already finished; %d group%s of %d rank%s\n",
               n_todo, unfinished, n - n_todo, group.n_groups,
               group.n_groups == 1 ? "" : "s", group.size, group.size == 1 ? "" : "s");
        fflush(stdout);
    }
    /* Before any trial starts (trial_queue_open is collective): the log's
     * sweep_start comes before this run's trial events. */
    sweep_log_start(&s.log, world, &p->sf, &p->trials, scans, todo, n_todo);
    SweepWatch *watch = start_view(world, &s, view);
    trial_queue_open(&s.queue, world);
    prune_board_open(&s.board, world, n, span, board);
    if (asha) {
        run_asha(&s, asha);
        sweep_asha_close(asha);
    } else {
        work(&s, todo, n_todo);
        comm_allreduce_sum_int(world, s.outcome, n);
    }
    comm_allreduce_sum_int(world, s.resumed, n);
    s.stopped = comm_allreduce_max_int(world, s.stopping);
    int failures = 0, not_run = 0, interrupted = 0;
    for (int i = 0; i < n_todo; i++) {
        failures += s.outcome[todo[i]] == RAN_FAILED;
        not_run += s.outcome[todo[i]] == RAN_NOT;
        interrupted += s.outcome[todo[i]] == RAN_INTERRUPTED;
    }
    for (int i = 0; i < n; i++) not_run += scans[i].state == TRIAL_UNREADABLE;   /* never done here */
    prune_board_close(&s.board);
    trial_queue_close(&s.queue);
    /* Stopped by a signal with work left: a rerun continues it. */
    int rc = s.stopped && (interrupted || not_run) ? EXIT_INTERRUPTED : failures || not_run ? EXIT_FAILED : EXIT_OK;
    if (world->rank == 0) {
        sweep_watch_stop(watch);
        if (p->tpe) sweep_tpe_refresh(p->tpe);   /* the other groups' proposals, for the front */
        int ran[RAN_CODES] = {0};
        for (int i = 0; i < n_todo; i++) ran[s.outcome[todo[i]]]++;
        sweep_log_end(&s.log, p->sf.name, ran, ran_names, RAN_CODES, now_seconds() - s.started, rc);
        print_summary(&s, scans, now_seconds() - s.started);
        if (p->sf.n_objectives) {
            printf("\n");
            sweep_print_front(&p->sf, &p->trials, stdout);
        }
        fflush(stdout);
    }
    sweep_events_close(&s.log);
    if (lock_fd >= 0) close(lock_fd);
    comm_group_free(&group);
    free(s.outcome);
    free(s.resumed);
    free(s.stopped_rung);
    free(s.column);
    free(todo);
    free(scans);
    free(board);
    return rc;
}

static int sweep_main(const ProcessGroup *world, int argc, char **argv)
{
    const char *path = NULL;
    int dry = 0, help = 0, took;
    ViewOptions view = {.status_every = 60};
    char err[512] = "", why[400];
    StopSignals stops;
    stop_signals_parse(STOP_SIGNALS_DEFAULT, &stops, why, sizeof why);
    for (int i = 1; i < argc && !err[0]; i++) {
        if ((took = stop_signals_take_flag(argc, argv, &i, &stops, why, sizeof why)) != 0) {
            if (took < 0) snprintf(err, sizeof err, "sweep: %s", why);
        } else if (!strcmp(argv[i], "--dry-run")) dry = 1;
        else if (!strcmp(argv[i], "--quiet")) view.quiet = 1;
        else if (!strcmp(argv[i], "--verbose")) view.verbose = 1;
        else if (!strcmp(argv[i], "--no-live")) view.no_live = 1;
        else if (!strcmp(argv[i], "--status-every")) {
            char *end = NULL;
            double v = i + 1 < argc ? strtod(argv[i + 1], &end) : NAN;
            if (!end || *end || !(v >= 0 && v <= 86400))
                snprintf(err, sizeof err, "sweep: --status-every: expected seconds in [0, 86400], got '%s'",
                         i + 1 < argc ? argv[i + 1] : "");
            else view.status_every = v, i++;
        }
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) help = 1;
        else if (!strncmp(argv[i], "--", 2)) snprintf(err, sizeof err, "sweep: unknown option '%s' (see sweeprun sweep --help)", argv[i]);
        else if (path) snprintf(err, sizeof err, "sweep: one sweep file at a time (got '%s' and '%s')", path, argv[i]);
        else path = argv[i];
    }
    if (!err[0] && view.quiet && view.verbose)
        snprintf(err, sizeof err, "sweep: --quiet and --verbose exclude each other");
    StopSignals none = {0};
    stop_signals_install(dry || help || err[0] ? &none : &stops);
    if (help) {
        if (world->rank == 0) usage(stdout);
        return EXIT_OK;
    }
    if (!err[0] && !path) snprintf(err, sizeof err, "sweep: expected a sweep file (usage: sweeprun sweep FILE.ini [--dry-run])");
    if (comm_agree(world, err[0] ? err : NULL)) return EXIT_BAD_INPUT;
    Plan *p = xmalloc(sizeof *p);
    make_plan(path, p);
    int rc;
    if (report_problems(world, p)) rc = EXIT_BAD_INPUT;
    else if (dry) rc = dry_run(world, p);
    else {
        char command[2048];
        cli_command_line(argc, argv, command, sizeof command);
        rc = run_sweep(world, p, &view, command);
    }
    free_plan(p);
    free(p);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    ProcessGroup world;
    stop_signals_hold();   /* before MPI starts its threads */
    comm_init(NULL, NULL, &world);
    int rc = sweep_main(&world, argc, argv);
    comm_finalize(&world);
    return rc;
}
