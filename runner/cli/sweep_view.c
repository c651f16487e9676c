#include "sweep_view.h"
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "sweep_events.h"
#include "util.h"

/* ---- text pieces ------------------------------------------------------------ */

void view_duration(double seconds, char *buf, int size)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, size, "?");
        return;
    }
    long s = lround(seconds);
    if (s < 60) snprintf(buf, size, "%lds", s);
    else if (s < 3600) snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
}

int view_terminal_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

static void percent(double fraction, char *buf, int size)
{
    if (isfinite(fraction)) snprintf(buf, size, "%.2f%%", 100 * fraction);
    else snprintf(buf, size, "-");
}

/* "lr=0.003 dropout=0.1" */
static void swept_text(const StatusTrial *t, char *buf, int size)
{
    int used = 0;
    buf[0] = 0;
    for (int k = 0; k < t->n_swept && used < size; k++)
        used += snprintf(buf + used, size - used, "%s%s=%s", k ? " " : "", t->swept_key[k], t->swept_value[k]);
}

void view_totals_line(const SweepStatus *s, int running_now, char *buf, int size)
{
    StatusTotals t;
    sweep_status_totals(s, &t);
    int used = snprintf(buf, size, "%d/%d done (%d complete, %d pruned/stopped, %d diverged, %d failed), %d %s, %d queued",
                        t.done, s->n_trials, t.by_kind[STATUS_COMPLETE],
                        t.by_kind[STATUS_PRUNED] + t.by_kind[STATUS_STOPPED], t.by_kind[STATUS_DIVERGED],
                        t.by_kind[STATUS_FAILED], t.by_kind[STATUS_RUNNING] + t.by_kind[STATUS_INTERRUPTED],
                        running_now || !t.by_kind[STATUS_INTERRUPTED] ? "running" : "interrupted", t.queued);
    if (t.by_kind[STATUS_WAITING] && used < size)
        used += snprintf(buf + used, size - used, ", %d waiting at a rung", t.by_kind[STATUS_WAITING]);
    if (running_now && used < size) {
        int untimed;
        char eta[32];
        view_duration(sweep_status_eta(s, &untimed), eta, sizeof eta);
        snprintf(buf + used, size - used, ", ETA %s", untimed ? "? (a model has no timed epoch yet)" : eta);
    }
}

void view_best_line(const SweepStatus *s, char *buf, int size)
{
    const StatusTrial *b = sweep_status_best(s);
    if (!b) {
        snprintf(buf, size, "best so far: none yet (chosen on validation accuracy only)");
        return;
    }
    char swept[400], val[16], test[16];
    swept_text(b, swept, sizeof swept);
    percent(b->best_val, val, sizeof val);
    percent(b->best_val_test, test, sizeof test);
    /* Most telling first: a narrow terminal cuts the end. */
    snprintf(buf, size, "best so far: %s val %s (epoch %d, test %s) %s%s%s", b->id, val, b->best_epoch, test, b->model,
             swept[0] ? " " : "", swept);
}

/* ---- the table ------------------------------------------------------------------- */

enum { MAX_COLS = 10 + STATUS_MAX_SWEPT, CELL = 48 };

typedef struct Column {
    char title[CELL];
    int priority;     /* dropped lowest first when the table is too wide */
    int width;
    int keep;
} Column;

typedef struct Table {
    Column col[MAX_COLS];
    int n_cols, n_rows;
    char (*cell)[MAX_COLS][CELL];   /* n_rows rows */
} Table;

/* Copy src into a cell, cut to fit. */
static void set_cell(char *cell, const char *src)
{
    size_t n = strlen(src);
    if (n > CELL - 1) n = CELL - 1;
    memcpy(cell, src, n);
    cell[n] = 0;
}

static int add_column(Table *t, const char *title, int priority)
{
    Column *c = &t->col[t->n_cols];
    set_cell(c->title, title);
    c->priority = priority;
    c->keep = 1;
    return t->n_cols++;
}

static int shown(const StatusTrial *x, int run)
{
    return x->run == run && (x->state == STATUS_RUNNING || x->state == STATUS_INTERRUPTED);
}

/* The swept keys of the shown rows, in first-seen order. */
static int swept_keys(const SweepStatus *s, char keys[STATUS_MAX_SWEPT][48])
{
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        if (!shown(&s->trials[i], s->runs)) continue;
        for (int k = 0; k < s->trials[i].n_swept; k++) {
            int seen = 0;
            for (int j = 0; j < n; j++) seen |= !strcmp(keys[j], s->trials[i].swept_key[k]);
            if (!seen && n < STATUS_MAX_SWEPT) snprintf(keys[n++], 48, "%s", s->trials[i].swept_key[k]);
        }
    }
    return n;
}

static const char *swept_value(const StatusTrial *x, const char *key)
{
    for (int k = 0; k < x->n_swept; k++)
        if (!strcmp(x->swept_key[k], key)) return x->swept_value[k];
    return "";
}

static void fill_row(const SweepStatus *s, const StatusTrial *x, Table *t, const int *at, int n_keys,
                     char keys[STATUS_MAX_SWEPT][48])
{
    char (*row)[CELL] = t->cell[t->n_rows++];
    set_cell(row[at[0]], x->id);
    set_cell(row[at[1]], x->model);
    for (int k = 0; k < n_keys; k++) set_cell(row[at[2 + k]], swept_value(x, keys[k]));
    int c = 2 + n_keys;
    set_cell(row[at[c++]], x->ranks);
    set_cell(row[at[c++]], x->host);
    set_cell(row[at[c++]], x->device);
    snprintf(row[at[c++]], CELL, "%d/%d", x->epoch, x->epochs);
    char acc[16];
    percent(isfinite(x->last_val) ? x->last_val : x->last_test, acc, sizeof acc);
    snprintf(row[at[c++]], CELL, "%s%s", isfinite(x->last_val) || !isfinite(x->last_test) ? "val " : "test ", acc);
    if (x->state == STATUS_RUNNING) view_duration(sweep_status_trial_eta(s, x), row[at[c++]], CELL);
    else set_cell(row[at[c++]], status_kind_name(x->state));
}

/* Drop the least useful columns until the table fits in width. */
static void fit(Table *t, int width)
{
    for (;;) {
        int total = 0, drop = -1;
        for (int c = 0; c < t->n_cols; c++) {
            if (!t->col[c].keep) continue;
            int w = (int)strlen(t->col[c].title);
            for (int r = 0; r < t->n_rows; r++) {
                int l = (int)strlen(t->cell[r][c]);
                if (l > w) w = l;
            }
            t->col[c].width = w;
            total += w + (total ? 2 : 0);
            if (t->col[c].priority < 100 && (drop < 0 || t->col[c].priority < t->col[drop].priority)) drop = c;
        }
        if (total < width || drop < 0) return;
        t->col[drop].keep = 0;
    }
}

static void print_line(FILE *out, const Table *t, int width, const char *(*get)(const Table *, int, int), int r)
{
    char line[1024];
    int used = 0;
    for (int c = 0; c < t->n_cols; c++) {
        if (!t->col[c].keep) continue;
        used += snprintf(line + used, sizeof line - (size_t)used, "%s%-*s", used ? "  " : "", t->col[c].width,
                         get(t, r, c));
        if (used >= (int)sizeof line) used = (int)sizeof line - 1;
    }
    while (used > 0 && line[used - 1] == ' ') used--;
    if (used >= width) used = width - 1;   /* never wrap: the live view counts its lines */
    fprintf(out, "%.*s\n", used, line);
}

static const char *title_of(const Table *t, int r, int c) { (void)r; return t->col[c].title; }
static const char *cell_of(const Table *t, int r, int c) { return t->cell[r][c]; }

int view_print_table(const SweepStatus *s, FILE *out, int width)
{
    int rows = 0, interrupted = 0;
    for (int i = 0; i < s->n; i++)
        if (shown(&s->trials[i], s->runs)) rows++, interrupted |= s->trials[i].state == STATUS_INTERRUPTED;
    if (!rows) return 0;
    char keys[STATUS_MAX_SWEPT][48];
    int n_keys = swept_keys(s, keys);
    Table t = {.n_cols = 0};
    int at[MAX_COLS];
    at[0] = add_column(&t, "trial", 100);
    at[1] = add_column(&t, "model", 90);
    for (int k = 0; k < n_keys; k++) at[2 + k] = add_column(&t, keys[k], 50 - k);
    int c = 2 + n_keys;
    at[c++] = add_column(&t, "ranks", 70);
    at[c++] = add_column(&t, "host", 10);
    at[c++] = add_column(&t, "device", 60);
    at[c++] = add_column(&t, "epoch", 100);
    at[c++] = add_column(&t, "last acc", 85);
    at[c++] = add_column(&t, interrupted ? "state" : "ETA", 80);
    t.cell = xcalloc((size_t)rows, sizeof *t.cell);
    for (int i = 0; i < s->n; i++)
        if (shown(&s->trials[i], s->runs)) fill_row(s, &s->trials[i], &t, at, n_keys, keys);
    fit(&t, width);
    print_line(out, &t, width, title_of, 0);
    for (int r = 0; r < t.n_rows; r++) print_line(out, &t, width, cell_of, r);
    free(t.cell);
    return rows + 1;
}

void sweep_view_print_status(const SweepStatus *s, const char *out_dir, int running_now, FILE *out, int width)
{
    char line[2048], when[32];
    StatusTotals t;
    sweep_status_totals(s, &t);
    double now = (double)time(NULL);
    double ended = s->run_ended_t > 0 ? s->run_ended_t : s->last_event_t;
    view_duration((running_now ? now : ended) - s->run_started_t, when, sizeof when);
    const char *state = running_now ? "running" : s->run_ended_t > 0 ? "ended" : "not running (interrupted: rerun the sweep to continue)";
    fprintf(out, "sweep %s (%s): %s, %s; run %d of this out folder, %d rank%s (%d per trial)\n", s->sweep, out_dir,
            state, when, s->runs, s->ranks, s->ranks == 1 ? "" : "s", s->ranks_per_trial);
    view_totals_line(s, running_now, line, sizeof line);
    fprintf(out, "%s\n", line);
    view_print_table(s, out, width);
    view_best_line(s, line, sizeof line);
    fprintf(out, "%s\n", line);
    if (s->unreadable_before)
        fprintf(out, "note: %d final run file%s could not be read (counted as failed; see the sweep's summary)\n",
                s->unreadable_before, s->unreadable_before == 1 ? "" : "s");
    if (s->bad_lines)
        fprintf(out, "note: %d line%s of the event log could not be read (first: line %ld); skipped\n", s->bad_lines,
                s->bad_lines == 1 ? "" : "s", s->first_bad_line);
    if (s->torn_bytes && !running_now)
        fprintf(out, "note: the event log's last line is incomplete (%ld bytes: a process was killed while writing "
                     "it); ignored\n", s->torn_bytes);
}

/* ---- the watcher thread ------------------------------------------------------------- */

struct SweepWatch {
    pthread_t thread;
    atomic_int stop;
    char path[4200];
    FILE *out;
    ViewMode mode;
    int verbose;
    double every;
    SweepStatus status;
    int replaying;         /* reading what was there before: fold, print nothing */
    int live_lines;        /* lines of the live table on screen */
    double started, last_draw, last_summary;
    int changed;
    char *scroll;          /* finished-trial lines waiting to scroll above the table */
    size_t scroll_len, scroll_cap;
};

static void emit(SweepWatch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(SweepWatch *w, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    if (w->mode != VIEW_LIVE) {
        fprintf(w->out, "%s\n", line);
        return;
    }
    if (w->scroll_len + (size_t)n + 2 > w->scroll_cap) {
        w->scroll_cap = 2 * (w->scroll_len + (size_t)n + 2);
        w->scroll = xrealloc(w->scroll, w->scroll_cap);
    }
    memcpy(w->scroll + w->scroll_len, line, (size_t)n);
    w->scroll_len += (size_t)n;
    w->scroll[w->scroll_len++] = '\n';
}

static int lead_rank(const cJSON *ev)
{
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ev, "ranks"), 0);
    return cJSON_IsNumber(r) ? r->valueint : 0;
}

static double field(const cJSON *ev, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *field_text(const cJSON *ev, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void say_start(SweepWatch *w, const cJSON *ev, const StatusTrial *t)
{
    if (w->mode == VIEW_QUIET || w->mode == VIEW_LIVE) return;
    char swept[400];
    swept_text(t, swept, sizeof swept);
    int start = t->start_epoch;
    emit(w, "[rank %d] trial %d/%d %s: %s seed %.0f, %s epoch %d of %d%s%s%s on %s %s", lead_rank(ev), t->index + 1,
         w->status.n_trials, t->id, t->model, field(ev, "seed"), start ? "resuming after" : "starting at",
         start ? start : 1, t->epochs, swept[0] ? " (" : "", swept, swept[0] ? ")" : "", t->host, t->device);
}

static void say_pause(SweepWatch *w, const StatusTrial *t)
{
    if (w->mode == VIEW_QUIET || w->mode == VIEW_LIVE) return;
    emit(w, "[rank %s] trial %d/%d %s paused at its rung after epoch %d of %d: waits to be promoted or stopped there",
         t->ranks[0] ? t->ranks : "0", t->index + 1, w->status.n_trials, t->id, t->epoch, t->epochs);
}

static void say_epoch(SweepWatch *w, const cJSON *ev, const StatusTrial *t)
{
    if (!w->verbose || w->mode == VIEW_QUIET) return;
    char val[40] = "";
    double v = field(ev, "val_accuracy");
    if (isfinite(v)) snprintf(val, sizeof val, ", val acc %.2f%%", 100 * v);
    emit(w, "[rank %s] %s epoch %d/%d: train loss %.4f acc %.2f%%%s, test acc %.2f%% (%.1f s)",
         t->ranks[0] ? t->ranks : "0", t->id, t->epoch, t->epochs, field(ev, "train_loss"),
         100 * field(ev, "train_accuracy"), val, 100 * field(ev, "test_accuracy"), field(ev, "seconds"));
}

static void say_end(SweepWatch *w, const cJSON *ev, const StatusTrial *t)
{
    char head[256], best[96] = "";
    int rank = atoi(t->ranks);
    snprintf(head, sizeof head, "[rank %d] trial %d/%d %s", rank, t->index + 1, w->status.n_trials, t->id);
    if (t->best_epoch > 0)
        snprintf(best, sizeof best, "; best val %.2f%% at epoch %d", 100 * t->best_val, t->best_epoch);
    const char *resumed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "resumed")) ? " (resumed)" : "";
    switch (t->state) {
    case STATUS_DIVERGED: emit(w, "%s diverged: %s; run file kept", head, t->error); break;
    case STATUS_FAILED: emit(w, "%s failed: %s", head, t->error); break;
    case STATUS_INTERRUPTED:
        emit(w, "%s interrupted after step %d of epoch %d: checkpoint written, a rerun continues it", head,
             (int)field(ev, "stopped_step"), (int)field(ev, "stopped_epoch"));
        break;
    case STATUS_PRUNED: emit(w, "%s pruned after epoch %d: %s", head, t->epoch, field_text(ev, "reason")); break;
    case STATUS_STOPPED:
        emit(w, "%s stopped early: test accuracy %.2f%% after epoch %d%s%s", head, 100 * field(ev, "test_accuracy"),
             t->epoch, best, resumed);
        break;
    default:
        emit(w, "%s %s: test accuracy %.2f%% after epoch %d%s%s", head, status_kind_name(t->state),
             100 * field(ev, "test_accuracy"), t->epoch, best, resumed);
    }
}

static void on_event(void *user, const cJSON *ev)
{
    SweepWatch *w = user;
    sweep_status_apply(&w->status, ev);
    w->changed = 1;
    if (w->replaying) return;
    const char *name = field_text(ev, "event");
    const StatusTrial *t = NULL;
    for (int i = 0; i < w->status.n; i++)
        if (!strcmp(w->status.trials[i].id, field_text(ev, "trial"))) t = &w->status.trials[i];
    if (!t) return;
    if (!strcmp(name, "trial_start")) say_start(w, ev, t);
    else if (!strcmp(name, "epoch")) say_epoch(w, ev, t);
    else if (!strcmp(name, "trial_end")) say_end(w, ev, t);
    else if (!strcmp(name, "trial_pause")) say_pause(w, t);
}

static void read_new(SweepWatch *w)
{
    SweepStatus *s = &w->status;
    long torn = sweep_events_read(w->path, &s->offset, &s->lines, on_event, w, &s->bad_lines, &s->first_bad_line);
    if (torn >= 0) s->torn_bytes = torn;
}

/* Erase the table, let finished lines scroll, draw it again (final: no table). */
static void redraw(SweepWatch *w, int final)
{
    if (w->live_lines) fprintf(w->out, "\033[%dF\033[J", w->live_lines);
    if (w->scroll_len) fwrite(w->scroll, 1, w->scroll_len, w->out);
    w->scroll_len = 0;
    w->live_lines = 0;
    if (!final) {
        int width = view_terminal_width(w->out);
        char line[2048], elapsed[32];
        view_duration(now_seconds() - w->started, elapsed, sizeof elapsed);
        int untimed;
        char eta[32];
        view_duration(sweep_status_eta(&w->status, &untimed), eta, sizeof eta);
        snprintf(line, sizeof line, "sweep %s: %s elapsed, ETA %s%s", w->status.sweep, elapsed, eta,
                 untimed ? " (a model has no timed epoch yet)" : "");
        fprintf(w->out, "%.*s\n", width - 1, line);
        view_totals_line(&w->status, 0, line, sizeof line);
        fprintf(w->out, "%.*s\n", width - 1, line);
        w->live_lines = 2 + view_print_table(&w->status, w->out, width);
        view_best_line(&w->status, line, sizeof line);
        fprintf(w->out, "%.*s\n", width - 1, line);
        w->live_lines++;
    }
    fflush(w->out);
}

static void summary_line(SweepWatch *w)
{
    char line[2048], best[1024];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    view_totals_line(&w->status, 1, line, sizeof line);
    view_best_line(&w->status, best, sizeof best);
    fprintf(w->out, "[%02d:%02d:%02d] %s; %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, line, best);
}

static void tick(SweepWatch *w, int final)
{
    read_new(w);
    double now = now_seconds();
    if (w->mode == VIEW_LIVE) {
        /* At most 4 redraws a second; once a second anyway for the ETA. */
        if (final || (now - w->last_draw >= 0.25 && (w->changed || now - w->last_draw >= 1))) {
            redraw(w, final);
            w->last_draw = now;
            w->changed = 0;
        }
        return;
    }
    if (w->mode == VIEW_PLAIN && w->every > 0 && !final && now - w->last_summary >= w->every) {
        summary_line(w);
        w->last_summary = now;
    }
    fflush(w->out);
}

static void *watch_main(void *arg)
{
    SweepWatch *w = arg;
    struct timespec pause = {0, 100 * 1000 * 1000};   /* 0.1 s: events are seconds apart */
    while (!atomic_load(&w->stop)) {
        tick(w, 0);
        nanosleep(&pause, NULL);
    }
    tick(w, 1);
    return NULL;
}

SweepWatch *sweep_watch_start(const char *events_path, FILE *out, ViewMode mode, int verbose, double every_seconds)
{
    SweepWatch *w = xcalloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", events_path);
    w->out = out;
    w->mode = mode;
    w->verbose = verbose;
    w->every = every_seconds;
    sweep_status_init(&w->status);
    w->replaying = 1;
    read_new(w);
    w->replaying = 0;
    w->started = w->last_summary = w->last_draw = now_seconds();
    atomic_init(&w->stop, 0);
    if (pthread_create(&w->thread, NULL, watch_main, w)) {
        /* No thread: the sweep runs unwatched; its summary still prints. */
        fprintf(stderr, "sweeprun: warning: cannot start the progress view; the sweep goes on without it\n");
        sweep_status_free(&w->status);
        free(w);
        return NULL;
    }
    return w;
}

void sweep_watch_stop(SweepWatch *w)
{
    if (!w) return;
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    sweep_status_free(&w->status);
    free(w->scroll);
    free(w);
}
