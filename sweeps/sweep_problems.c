#include "sweep_problems.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

void sweep_problems_init(SweepProblems *p, const char *path)
{
    memset(p, 0, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s", path);
}

/* A problem is found once per trial that has it (100,000 trials, one bad
 * value: 100,000 times): the duplicate check is a hash lookup, and the
 * sort O(n log n). A linear scan per problem made 50,651 distinct
 * problems on one line take 23 s (80% of it in that scan's strcmp). */
void sweep_problems_add(SweepProblems *p, int line, const char *fmt, ...)
{
    char msg[2048], key[2100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(key, sizeof key, "%d:%s", line, msg);
    if (name_index_find(&p->seen, key) >= 0) return;
    name_index_add(&p->seen, key, p->count);
    if (p->count == p->capacity) {
        p->capacity = p->capacity ? 2 * p->capacity : 16;
        p->items = xrealloc(p->items, (size_t)p->capacity * sizeof *p->items);
    }
    p->items[p->count] = (SweepProblem){.line = line, .message = strdup(msg), .order = p->count};
    p->count++;
}

static int by_line_then_order(const void *a, const void *b)
{
    const SweepProblem *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

void sweep_problem_format(const SweepProblems *p, int i, char *buf, int size)
{
    if (p->items[i].line > 0) snprintf(buf, size, "%s:%d: %s", p->path, p->items[i].line, p->items[i].message);
    else snprintf(buf, size, "%s: %s", p->path, p->items[i].message);
}

void sweep_problems_print(SweepProblems *p, FILE *f)
{
    if (p->count > 1) qsort(p->items, (size_t)p->count, sizeof *p->items, by_line_then_order);
    char buf[4096];
    for (int i = 0; i < p->count; i++) {
        sweep_problem_format(p, i, buf, sizeof buf);
        fprintf(f, "%s\n", buf);
    }
}

void sweep_problems_free(SweepProblems *p)
{
    for (int i = 0; i < p->count; i++) free(p->items[i].message);
    free(p->items);
    name_index_free(&p->seen);
    p->items = NULL;
    p->count = p->capacity = 0;
}
