/* SWEEPRUN_TEST_HOLD (test_hold.h): hold a trainer at a known step. */
#define _POSIX_C_SOURCE 200809L
#include "test_hold.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "trainer_backend.h"

typedef struct HoldPoint {
    int read;     /* the variable was looked at */
    int epoch;    /* from 1; 0: no hold */
    int step;     /* from 1 */
    char release[4096];
} HoldPoint;

static HoldPoint hold_point;

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* EPOCH:STEP[:RELEASE_FILE] into hold_point; a malformed value is named
 * once on stderr and holds nothing. */
static void read_hold_point(void)
{
    hold_point.read = 1;
    const char *v = getenv("SWEEPRUN_TEST_HOLD");
    if (!v || !*v) return;
    int epoch = 0, step = 0, used = 0;
    if (sscanf(v, "%d:%d%n", &epoch, &step, &used) != 2 || epoch < 1 || step < 1 ||
        (v[used] != '\0' && (v[used] != ':' || v[used + 1] == '\0'))) {
        fprintf(stderr, "sweeprun: SWEEPRUN_TEST_HOLD: expected EPOCH:STEP[:RELEASE_FILE] (counted from 1), "
                        "got '%s'; not holding\n", v);
        return;
    }
    hold_point.epoch = epoch;
    hold_point.step = step;
    if (v[used] == ':') snprintf(hold_point.release, sizeof hold_point.release, "%s", v + used + 1);
}

static int released(void) { return hold_point.release[0] && access(hold_point.release, F_OK) == 0; }

void test_hold_point(const Trainer *t, int epoch, int step)
{
    if (!hold_point.read) read_hold_point();
    if (hold_point.epoch != epoch + 1 || hold_point.step != step + 1) return;
    if (released()) return;
    fprintf(stderr, "sweeprun: test hold after step %d of epoch %d (pid %ld)\n", step + 1, epoch + 1,
            (long)getpid());
    fflush(stderr);
    const double poll = 0.02, limit = 120;
    for (double waited = 0; waited < limit; waited += poll) {
        if (stop_wanted(t)) {
            sleep_seconds(0.2);
            return;
        }
        if (released()) return;
        sleep_seconds(poll);
    }
}
