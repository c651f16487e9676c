/* Early stopping on the validation split: stop when the watched number
 * (validation loss, or accuracy) has not improved by more than min_delta
 * for `patience` epochs in a row. The key's text:
 *   off | patience:P[,min_delta:D][,on:val_loss|val_accuracy]
 * (default on:val_loss; D in the number's own units, accuracy as a
 * fraction). A stopped run is complete: it trained every epoch it needed. */
#ifndef SWEEPRUN_EARLY_STOP_H
#define SWEEPRUN_EARLY_STOP_H

typedef struct EarlyStopSpec {
    int patience;                  /* 0 = off */
    double min_delta;
    int on_accuracy;               /* watch validation accuracy instead of loss */
} EarlyStopSpec;

/* 0 ok; -1 with what was expected in why. */
int early_stop_parse(const char *text, EarlyStopSpec *out, char *why, int why_size);
void early_stop_format(const EarlyStopSpec *s, char *buf, int size);

/* What early stopping has seen so far. */
typedef struct EarlyStopState {
    double best;                   /* best watched value; NaN before the first epoch */
    int waited;                    /* epochs since it last improved */
} EarlyStopState;

void early_stop_reset(EarlyStopState *st);
/* Take one epoch's validation numbers; 1 when training should stop now. */
int early_stop_update(const EarlyStopSpec *s, EarlyStopState *st, double val_loss, double val_accuracy);

#endif
