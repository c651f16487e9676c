/* A 28x28-style image classification dataset held in memory as bytes (the
 * IDX files' own form: 47 MB for MNIST's training set instead of 188 MB of
 * floats); batches are normalised as they are gathered. */
#ifndef SWEEPRUN_DATASET_H
#define SWEEPRUN_DATASET_H
#include <stdint.h>
#include "idx.h"

#define DATASET_CLASSES 10

typedef struct Dataset {
    char dir[DATASET_PATH_MAX];   /* folder the files came from */
    int rows, cols;
    int n_train, n_test;
    unsigned char *train_x, *train_y;
    unsigned char *test_x, *test_y;
    /* The validation split (validation.h): n_val images held out of the
     * training file's, val_index[i] their index there (ascending). Zero
     * and NULL without a split; train_x then holds every training image. */
    int n_val;
    unsigned char *val_x, *val_y;
    int32_t *val_index;
} Dataset;

/* Which held-out images an evaluation scores. */
typedef enum { SPLIT_VALIDATION = 0, SPLIT_TEST = 1 } DataSplit;
/* The images, labels and count of split. */
void dataset_split(const Dataset *d, DataSplit split, const unsigned char **x, const unsigned char **y, int *n);

/* name: "mnist", "fashion-mnist" or a folder holding the four IDX files.
 * mnist is looked for in $MNIST_DIR, data/mnist, ../shared/data/mnist;
 * fashion-mnist in $FASHION_MNIST_DIR, data/fashion-mnist,
 * /usr/share/datasets/fashion-mnist. A subset > 0 keeps the first N images.
 * 0 ok, -1 with one message in err. */
int dataset_load(const char *name, long train_subset, long test_subset, Dataset *out,
                 char *err, int err_size);
void dataset_free(Dataset *d);

/* out[i, :] = (pixels[index[i]] / 255 - mean) / std for i < n. */
void dataset_gather(const unsigned char *pixels, int image_size, const int *index, int n,
                    float mean, float std, float *out);

#endif
