/* The validation split: images held out of the training set, on which
 * every choice is made (best epoch, early stopping, pruning, the best
 * trial), so the test set is only ever reported.
 *
 * The draw is class-stratified and depends only on the training labels
 * and val_seed, never on the trial's seed, its ranks or its device: every
 * trial of a sweep is chosen on the same images. Class k gets
 * floor(N/10) images, one more for the first N mod 10 classes; within a
 * class the images with the smallest keys rng_u32(val_seed, VALIDATION, i)
 * are taken (ties by index). A class with too few images gives all it
 * has and the shortfall goes to the next classes in turn. */
#ifndef SWEEPRUN_VALIDATION_H
#define SWEEPRUN_VALIDATION_H
#include "config.h"
#include "dataset.h"

/* How the split was drawn, for run files. */
extern const char VALIDATION_RULE[];

/* The number of images cfg holds out of n_train: val_split, or for
 * "auto" (VAL_SPLIT_AUTO) n_train / 12 capped at 5000 (MNIST's 60,000:
 * 5000). -1 with "val_split: ..." in err when it leaves fewer than 2
 * training images or more images than the set has. */
int validation_count(const TrainConfig *cfg, int n_train, char *err, int err_size);

/* out = src with n_val training images moved into the validation split
 * (out->val_x, val_y, val_index: ascending indices into src's training
 * images). The remaining training images keep their order. out owns
 * copies of everything (dataset_free); src is unchanged. n_val = 0 copies. */
void dataset_hold_out(const Dataset *src, int n_val, uint64_t val_seed, Dataset *out);

#endif
