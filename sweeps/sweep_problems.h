/* The mistakes found in one sweep file, each tied to the line it is on, so
 * the user gets every problem at once as "FILE:LINE: message" (sorted by
 * line, each distinct message once: a bad value shared by 100 trials is one
 * problem, not 100). */
#ifndef SWEEPRUN_SWEEP_PROBLEMS_H
#define SWEEPRUN_SWEEP_PROBLEMS_H
#include <stdio.h>
#include "name_index.h"

typedef struct SweepProblem {
    int line;        /* 1-based; 0 = the file as a whole */
    char *message;
    int order;       /* when it was found: keeps the order within a line */
} SweepProblem;

typedef struct SweepProblems {
    char path[1024];
    SweepProblem *items;
    int count, capacity;
    NameIndex seen;  /* "LINE:message" of every item, for the duplicate check */
} SweepProblems;

void sweep_problems_init(SweepProblems *p, const char *path);
/* Record one problem (ignored when the same line already has this message). */
void sweep_problems_add(SweepProblems *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Print "PATH:LINE: message" (or "PATH: message" for line 0) in line order. */
void sweep_problems_print(SweepProblems *p, FILE *f);
/* One problem as text, for tests and for single-line reports. */
void sweep_problem_format(const SweepProblems *p, int i, char *buf, int size);
void sweep_problems_free(SweepProblems *p);

#endif
