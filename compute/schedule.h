/* Learning-rate schedules, evaluated per epoch (stepped after each epoch's
 * training phase, as PyTorch's schedulers are in the reference recipes).
 * Spec strings:
 *   constant
 *   step:STEP:GAMMA          lr0 * GAMMA^floor(epoch/STEP)          (StepLR)
 *   exp:GAMMA[:FLOOR]        max(lr0 * GAMMA^epoch, FLOOR)
 *   cosine:T_MAX[:ETA_MIN]   ETA_MIN + (lr0-ETA_MIN)(1+cos(pi*min(epoch,T_MAX)/T_MAX))/2
 */
#ifndef SWEEPRUN_SCHEDULE_H
#define SWEEPRUN_SCHEDULE_H

typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_EXP, SCHED_COSINE } ScheduleKind;

typedef struct Schedule {
    ScheduleKind kind;
    int step;          /* step */
    float gamma;       /* step, exp */
    float floor;       /* exp */
    int t_max;         /* cosine */
    float eta_min;     /* cosine */
} Schedule;

/* Parse a spec; on error returns -1 and writes a message (what was expected)
 * into err. */
int schedule_parse(const char *spec, Schedule *out, char *err, int err_size);
/* Learning rate for epoch (0-based). */
float schedule_lr(const Schedule *s, float lr0, int epoch);
/* Canonical spec string of s (for run files). */
void schedule_format(const Schedule *s, char *buf, int size);

#endif
