/* A hold for the tests that must act on a run at a known point (send a
 * stop signal, read `sweeprun status` mid-way, kill -9) however fast the
 * machine is: with
 *
 *     SWEEPRUN_TEST_HOLD=EPOCH:STEP[:RELEASE_FILE]
 *
 * in the environment, a trainer that has done step STEP of epoch EPOCH
 * (both counted from 1), before it asks whether to stop, writes one line
 *
 *     sweeprun: test hold after step STEP of epoch EPOCH (pid P)
 *
 * to stderr and waits until a stop is wanted (then 0.2 s more, so that a
 * second signal sent right behind the first still finds it holding),
 * RELEASE_FILE exists, or 120 s have passed. The hold changes no number:
 * a run held and then stopped or released gives the same bits as one
 * never held. Without the variable the check costs one load per step. */
#ifndef SWEEPRUN_TEST_HOLD_H
#define SWEEPRUN_TEST_HOLD_H
#include "train.h"

/* Called by the backends after step `step` (from 0) of epoch `epoch`
 * (from 0) has been computed, before the stop wish is read. */
void test_hold_point(const Trainer *t, int epoch, int step);

#endif
