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

void sweep_problems_add(SweepProblems *p, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (int i = 0; i < p->count; i++)
        if (p->items[i].line == line && !strcmp(p->items[i].message, msg)) return;
    if (p->count == p->capacity) {
        p->capacity = p->capacity ? 2 * p->capacity : 16;
        p->items = xrealloc(p->items, (size_t)p->capacity * sizeof *p->items);
    }
    p->items[p->count].line = line;
    p->items[p->count].message = strdup(msg);
    p->count++;
}

/* Stable order by line: insertion sort keeps equal lines in the order found. */
static void sort_by_line(SweepProblems *p)
{
    for (int i = 1; i < p->count; i++) {
        SweepProblem x = p->items[i];
        int j = i;
        for (; j > 0 && p->items[j - 1].line > x.line; j--) p->items[j] = p->items[j - 1];
        p->items[j] = x;
    }
}

void sweep_problem_format(const SweepProblems *p, int i, char *buf, int size)
{
    if (p->items[i].line > 0) snprintf(buf, size, "%s:%d: %s", p->path, p->items[i].line, p->items[i].message);
    else snprintf(buf, size, "%s: %s", p->path, p->items[i].message);
}

void sweep_problems_print(SweepProblems *p, FILE *f)
{
    sort_by_line(p);
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
    p->items = NULL;
    p->count = p->capacity = 0;
}
