/* The one place the sweeprun CLI prints its "sweeprun: ..." lines to
 * stderr (commands.h). comm/ prints its own: it sits below the CLI. */
#include <stdarg.h>
#include <stdio.h>
#include "commands.h"

void report_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sweeprun: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
