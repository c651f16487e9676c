/* Small helpers every compute file uses: checked allocation, fatal errors. */
#ifndef SWEEPRUN_UTIL_H
#define SWEEPRUN_UTIL_H
#include <stddef.h>

void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t bytes);
void *xaligned_alloc(size_t alignment, size_t bytes);
/* An internal invariant broke (a bug, not bad input): print and abort. */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#define CHECK(cond, ...) do { if (!(cond)) fatal(__VA_ARGS__); } while (0)

#endif
