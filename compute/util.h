/* Small helpers every file uses (compute/, runner/, sweeps/): checked
 * allocation, fatal errors, float text, a monotonic clock, the parallel
 * threshold. Defined once here. */
#ifndef SWEEPRUN_UTIL_H
#define SWEEPRUN_UTIL_H
#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t bytes);
void *xaligned_alloc(size_t alignment, size_t bytes);
/* One line to stderr: prefix, the formatted message, a newline (fatal's
 * "sweeprun: internal error: ", the CLI's "sweeprun: "). */
void vprint_error_line(const char *prefix, const char *fmt, va_list ap);
/* An internal invariant broke (a bug, not bad input): print and abort. */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Shortest %g text of x that reads back as the same float ("0.1", not
 * "0.100000001"): readable run files that parse back exactly. */
void float_shortest_text(float x, char *buf, size_t size);
/* The same for a double: 0.1, not 0.10000000000000001. */
void double_shortest_text(double x, char *buf, size_t size);
/* The decimal a float hyperparameter was written as, as a double
 * (0.999f -> 0.999). PyTorch keeps hyperparameters as Python doubles;
 * scalar maths from the float itself drifts (1 - 0.999f is off by 1.3e-5
 * relative), the recovered decimal does not. */
double float_intended_double(float x);

/* Seconds on a monotonic clock (CLOCK_MONOTONIC): for durations only. */
double now_seconds(void);
/* qsort comparator: doubles in ascending order. */
int compare_doubles(const void *a, const void *b);

/* Element loops shorter than this run on one thread: below it, OpenMP's
 * fork/join costs more than the loop (32768 floats = 128 KiB). */
#define PAR_MIN 32768L

#define CHECK(cond, ...) do { if (!(cond)) fatal(__VA_ARGS__); } while (0)

#endif
