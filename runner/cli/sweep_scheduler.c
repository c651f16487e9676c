#include "sweep_scheduler.h"
#include <stdlib.h>
#include <string.h>
#include "scheduler.h"
#include "util.h"

int sweep_uses_rungs(const SweepFile *sf)
{
    return sf->scheduler.kind == SCHEDULER_ASHA || sf->scheduler.kind == SCHEDULER_HYPERBAND;
}

static int compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The distinct epochs of the trials, ascending, into *out (caller frees);
 * returns how many. Sweeps usually have one or two values. */
static int distinct_epochs(const SweepTrials *trials, int **out)
{
    int *v = xmalloc((size_t)(trials->count ? trials->count : 1) * sizeof *v);
    for (int i = 0; i < trials->count; i++) v[i] = trials->items[i].epochs;
    qsort(v, (size_t)trials->count, sizeof *v, compare_ints);
    int n = 0;
    for (int i = 0; i < trials->count; i++)
        if (!n || v[n - 1] != v[i]) v[n++] = v[i];
    *out = v;
    return n;
}

int sweep_scheduler_check(const SweepFile *sf, const SweepTrials *trials, SweepProblems *problems)
{
    if (!sweep_uses_rungs(sf)) return 0;
    int *epochs, n = distinct_epochs(trials, &epochs), added = 0;
    char why[600];
    /* One rung layout for the sweep: trials compared at a rung must have
     * trained the same schedule toward the same end. */
    if (n > 1 && !sf->scheduler.max_epochs) {
        sweep_problems_add(problems, sf->line_scheduler, "scheduler: the trials have different epochs (%d to %d); "
                           "asha and hyperband compare trials at the same rungs toward the same max_epochs: give "
                           "every trial the same epochs, or set max_epochs=M (at most %d)", epochs[0], epochs[n - 1],
                           epochs[0]);
        added++;
    }
    for (int i = 0; i < n; i++)
        if (scheduler_check_epochs(&sf->scheduler, epochs[i], why, sizeof why)) {
            sweep_problems_add(problems, sf->line_scheduler, "scheduler: %s (trials of %d epochs)", why, epochs[i]);
            added++;
        }
    free(epochs);
    return added;
}

void sweep_scheduler_print_plan(const SweepFile *sf, const SweepTrials *trials, FILE *f)
{
    if (sf->scheduler.kind == SCHEDULER_NONE) return;
    int *epochs, n = distinct_epochs(trials, &epochs);
    char text[4096];
    for (int i = 0; i < n; i++) {
        scheduler_describe(&sf->scheduler, epochs[i], text, sizeof text);
        if (n > 1) fprintf(f, "trials of %d epochs: ", epochs[i]);
        fprintf(f, "%s\n", text);
    }
    free(epochs);
}
