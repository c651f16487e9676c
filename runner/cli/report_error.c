/* The one place the sweeprun CLI prints its "sweeprun: ..." lines to
 * stderr (commands.h). comm/ prints its own: it sits below the CLI. */
#include <stdarg.h>
#include "commands.h"
#include "util.h"

void report_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error_line("sweeprun: ", fmt, ap);
    va_end(ap);
}
