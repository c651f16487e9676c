/* The epoch permutation (train.h): image i gets the key
 * rng_u32(seed, SHUFFLE, epoch << 32 | i) and the epoch visits the images
 * sorted by (key, index). The GPU computes the same order with a stable
 * radix sort (test_cuda_parity.c compares the two on 60000 images), so the
 * definition is pinned here by a known answer from an independent
 * implementation of Philox4x32-10 (Python, see below) and by properties. */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "rng.h"
#include "train.h"

/* Computed with a 12-line Python Philox4x32-10 (counter {block lo, block hi,
 * stream, 0}, key {seed lo, seed hi}, word index & 3), seed 42, epoch 3:
 * keys 0x10ac71a4 0x6131d76b 0xca65c747 0x140b08b1 0xab45bde9 0xe7cfa3f6
 *      0x089f9291 0xf142f2b3 0x7d01c89f 0xf179c9b1. */
static void test_known_answer(void **state)
{
    (void)state;
    const uint32_t keys[10] = {0x10ac71a4, 0x6131d76b, 0xca65c747, 0x140b08b1, 0xab45bde9,
                               0xe7cfa3f6, 0x089f9291, 0xf142f2b3, 0x7d01c89f, 0xf179c9b1};
    for (int i = 0; i < 10; i++)
        assert_int_equal(rng_u32(42, RNG_STREAM_SHUFFLE, (uint64_t)3 << 32 | (uint64_t)i), keys[i]);
    const int want[10] = {6, 0, 3, 1, 8, 4, 2, 5, 7, 9};
    int order[10];
    epoch_permutation(42, 3, 10, order);
    assert_memory_equal(order, want, sizeof want);
}

static uint32_t key_of(uint64_t seed, int epoch, int i)
{
    return rng_u32(seed, RNG_STREAM_SHUFFLE, (uint64_t)(uint32_t)epoch << 32 | (uint64_t)i);
}

/* A permutation, ordered by (key, index) (so ties, when keys collide, keep
 * index order), the same on every call, different per epoch and seed. */
static void test_properties(void **state)
{
    (void)state;
    int n = 60000;
    int *a = malloc(sizeof(int) * n), *b = malloc(sizeof(int) * n), *seen = calloc(n, sizeof(int));
    epoch_permutation(7, 1, n, a);
    for (int k = 0; k < n; k++) {
        assert_true(a[k] >= 0 && a[k] < n);
        assert_int_equal(seen[a[k]]++, 0);
    }
    int ties = 0;
    for (int k = 1; k < n; k++) {
        uint32_t p = key_of(7, 1, a[k - 1]), q = key_of(7, 1, a[k]);
        assert_true(p < q || (p == q && a[k - 1] < a[k]));
        ties += p == q;
    }
    epoch_permutation(7, 1, n, b);
    assert_memory_equal(a, b, sizeof(int) * n);
    epoch_permutation(7, 2, n, b);
    assert_memory_not_equal(a, b, sizeof(int) * n);
    epoch_permutation(8, 1, n, b);
    assert_memory_not_equal(a, b, sizeof(int) * n);
    /* Any n: a permutation of 0..n-1. */
    epoch_permutation(7, 1, 5, b);
    for (int k = 0; k < 5; k++) assert_true(b[k] >= 0 && b[k] < 5);
    print_message("60000 images: %d tied keys (kept in index order)\n", ties);
    free(a);
    free(b);
    free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
