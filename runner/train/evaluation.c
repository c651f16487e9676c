/* An Evaluation's totals, as both backends finish it, and its release. */
#include "trainer_backend.h"
#include <stdlib.h>

void evaluation_finish(const Trainer *t, const unsigned char *labels, Evaluation *ev, int n, double loss_sum)
{
    if (group_size(t) > 1) {
        /* Each prediction was written by one rank; the others hold 0. */
        comm_allreduce_sum_int(t->group, ev->predictions, n);
        comm_allreduce_sum_double(t->group, &loss_sum, 1);
    }
    for (int i = 0; i < n; i++) {
        int truth = labels[i], pred = ev->predictions[i];
        ev->confusion[truth][pred]++;
        ev->correct += truth == pred;
    }
    ev->count = n;
    ev->labels = labels;
    ev->loss = n ? loss_sum / n : 0;
    ev->accuracy = n ? (double)ev->correct / n : 0;
}

void evaluation_free(Evaluation *ev)
{
    free(ev->predictions);
    ev->predictions = NULL;
}
