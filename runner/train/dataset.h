/* A 28x28-style image classification dataset held in memory as bytes (the
 * IDX files' own form: 47 MB for MNIST's training set instead of 188 MB of
 * floats); batches are normalised as they are gathered. */
#ifndef SWEEPRUN_DATASET_H
#define SWEEPRUN_DATASET_H
#include "idx.h"

#define DATASET_CLASSES 10

typedef struct Dataset {
    char dir[DATASET_PATH_MAX];   /* folder the files came from */
    int rows, cols;
    int n_train, n_test;
    unsigned char *train_x, *train_y;
    unsigned char *test_x, *test_y;
} Dataset;

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
