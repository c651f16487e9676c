/* IDX reader: good files (plain and gzip), every kind of bad file rejected
 * with a message naming the file and the fact that is wrong, dataset folder
 * lookup, and (when present) the real MNIST test files. */
#define _XOPEN_SOURCE 700
#include "testutil.h"
#include "idx.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>



static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

/* An IDX file: magic, nfields header values, then payload_len bytes of a
 * counting pattern (each byte = index mod mod). */
static void write_idx(const char *path, int gz, uint32_t magic, int nfields, const uint32_t *fields,
                      size_t payload_len, int mod)
{
    size_t hdr = 4 * (size_t)(nfields + 1);
    unsigned char *b = malloc(hdr + payload_len + 1);
    put_be32(b, magic);
    for (int i = 0; i < nfields; i++) put_be32(b + 4 * (i + 1), fields[i]);
    for (size_t i = 0; i < payload_len; i++) b[hdr + i] = (unsigned char)(i % (size_t)mod);
    write_bytes(path, b, hdr + payload_len, gz);
    free(b);
}

static void write_images(const char *path, int gz, uint32_t count, uint32_t rows, uint32_t cols,
                         size_t payload_len)
{
    uint32_t f[3] = {count, rows, cols};
    write_idx(path, gz, IDX_MAGIC_IMAGES, 3, f, payload_len, 251);
}

static void write_labels(const char *path, int gz, uint32_t count, size_t payload_len, int mod)
{
    write_idx(path, gz, IDX_MAGIC_LABELS, 1, &count, payload_len, mod);
}

/* Assert that err mentions the path and every given fact. */
static void assert_err_has(const char *err, const char *path, const char *fact1, const char *fact2)
{
    if (!strstr(err, path) || (fact1 && !strstr(err, fact1)) || (fact2 && !strstr(err, fact2)))
        fail_msg("message \"%s\" should mention \"%s\", \"%s\" and \"%s\"", err, path,
                 fact1 ? fact1 : "", fact2 ? fact2 : "");
    assert_int_equal(strncmp(err, path, strlen(path)), 0);   /* path comes first */
}

static void good_images(int gz)
{
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, gz ? "good-images.gz" : "good-images");
    write_images(p, gz, 3, 4, 5, 60);
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), 0);
    assert_int_equal(im.count, 3);
    assert_int_equal(im.rows, 4);
    assert_int_equal(im.cols, 5);
    for (int i = 0; i < 60; i++) assert_int_equal(im.pixels[i], i % 251);
    idx_images_free(&im);
    assert_null(im.pixels);
}

static void test_good_images_plain(void **state) { (void)state; good_images(0); }
static void test_good_images_gz(void **state) { (void)state; good_images(1); }

static void good_labels(int gz)
{
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, gz ? "good-labels.gz" : "good-labels");
    write_labels(p, gz, 25, 25, 10);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), 0);
    assert_int_equal(lb.count, 25);
    for (int i = 0; i < 25; i++) assert_int_equal(lb.labels[i], i % 10);
    idx_labels_free(&lb);
}

static void test_good_labels_plain(void **state) { (void)state; good_labels(0); }
static void test_good_labels_gz(void **state) { (void)state; good_labels(1); }

static void test_wrong_magic(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "labels-not-images");
    write_labels(p, 0, 4, 4, 10);
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "0x00000801", "expected 0x00000803");
    assert_null(im.pixels);

    test_tmpdir_path(p, sizeof p, "garbage.gz");
    write_bytes(p, (const unsigned char *)"hello world, no idx", 19, 1);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "0x68656C6C", "expected 0x00000801");
}

static void test_truncated_header(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "short-header");
    unsigned char b[10] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0};
    write_bytes(p, b, sizeof b, 0);
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "16-byte header", "ends after 10 bytes");

    test_tmpdir_path(p, sizeof p, "empty.gz");
    write_bytes(p, b, 0, 1);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "8-byte header", "ends after 0 bytes");
}

static void test_truncated_payload(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "short-images");
    write_images(p, 0, 3, 4, 5, 50);
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "expected 60 pixel bytes", "ends after 50");

    test_tmpdir_path(p, sizeof p, "short-labels.gz");
    write_labels(p, 1, 100, 99, 10);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "expected 100 label bytes", "ends after 99");
}

/* A .gz file cut in the middle of the compressed stream (an interrupted
 * download) must be reported, not read as a shorter dataset. */
static void test_cut_gzip_stream(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "cut.gz");
    write_images(p, 1, 200, 28, 28, 200 * 28 * 28);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "expected 156800 pixel bytes", "gzip stream is cut off");
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "long-images.gz");
    write_images(p, 1, 3, 4, 5, 63);
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "3 unexpected bytes", "60 pixel bytes");

    test_tmpdir_path(p, sizeof p, "long-labels");
    write_labels(p, 0, 10, 11, 10);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "1 unexpected bytes", "10 label bytes");
}

static void test_bad_dims(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    IdxImages im;
    test_tmpdir_path(p, sizeof p, "zero-images");
    write_images(p, 0, 0, 28, 28, 0);
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "image count = 0", "expected 1..");

    test_tmpdir_path(p, sizeof p, "huge-rows");
    write_images(p, 0, 1, 5000, 28, 0);
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "rows = 5000", "expected 1..4096");

    /* A header claiming a large (but in-limit) payload on a tiny file must
     * fail as truncated, without trying to allocate the claimed size. */
    test_tmpdir_path(p, sizeof p, "claims-large");
    write_images(p, 0, 1000000, 28, 28, 10);
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "expected 784000000 pixel bytes", "ends after 10");

    /* Past 1 GiB of pixels the header alone is refused: a gzip bomb (1 MB
     * of zeros expands 1000-fold) could otherwise supply what it claims. */
    test_tmpdir_path(p, sizeof p, "gzip-bomb.gz");
    write_images(p, 1, 100000000, 28, 28, 4 << 20);
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "100000000 images of 28x28", "at most 1073741824 (1 GiB)");

    IdxLabels lb;
    test_tmpdir_path(p, sizeof p, "zero-labels.gz");
    write_labels(p, 1, 0, 0, 10);
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "label count = 0", NULL);
}

static void test_label_out_of_range(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "bad-label");
    uint32_t count = 400;
    unsigned char b[8 + 400];
    put_be32(b, IDX_MAGIC_LABELS);
    put_be32(b + 4, count);
    for (int i = 0; i < 400; i++) b[8 + i] = (unsigned char)(i % 10);
    b[8 + 345] = 12;
    write_bytes(p, b, sizeof b, 0);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "label 12 at index 345", "outside 0..9");
    assert_null(lb.labels);
    /* The same file is fine for a 13-class dataset. */
    assert_int_equal(idx_read_labels(p, 13, &lb, err, sizeof err), 0);
    idx_labels_free(&lb);
}

static void test_missing_file(void **state)
{
    (void)state;
    char p[512], err[512] = "";
    test_tmpdir_path(p, sizeof p, "does-not-exist.gz");
    IdxImages im;
    assert_int_equal(idx_read_images(p, &im, err, sizeof err), -1);
    assert_err_has(err, p, "No such file", NULL);
    IdxLabels lb;
    assert_int_equal(idx_read_labels(p, 10, &lb, err, sizeof err), -1);
    assert_err_has(err, p, "No such file", NULL);
    /* a folder is not a data file */
    assert_int_equal(idx_read_images(test_tmpdir, &im, err, sizeof err), -1);
    assert_err_has(err, test_tmpdir, "not a regular file", NULL);
}

static void test_dataset_files(void **state)
{
    (void)state;
    char d[512], p[600], err[2048] = "";
    char paths[DATASET_FILE_COUNT][DATASET_PATH_MAX];
    test_tmpdir_path(d, sizeof d, "ds");
    assert_int_equal(mkdir(d, 0700), 0);

    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", d);
    write_images(p, 1, 1, 2, 2, 4);
    snprintf(p, sizeof p, "%s/train-labels.idx1-ubyte", d);
    write_labels(p, 0, 1, 1, 10);
    assert_int_equal(dataset_files(d, paths, err, sizeof err), -1);
    assert_err_has(err, d, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte");
    assert_null(strstr(err, "train-images"));   /* only the missing ones */

    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d);
    write_images(p, 0, 1, 2, 2, 4);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", d);
    write_images(p, 1, 1, 2, 2, 4);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", d);
    write_labels(p, 1, 1, 1, 10);
    assert_int_equal(dataset_files(d, paths, err, sizeof err), 0);
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", d);
    assert_string_equal(paths[DATASET_TRAIN_IMAGES], p);
    snprintf(p, sizeof p, "%s/train-labels.idx1-ubyte", d);
    assert_string_equal(paths[DATASET_TRAIN_LABELS], p);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d);   /* plain preferred */
    assert_string_equal(paths[DATASET_TEST_IMAGES], p);

    test_tmpdir_path(p, sizeof p, "no-such-folder");
    assert_int_equal(dataset_files(p, paths, err, sizeof err), -1);
    assert_err_has(err, p, "not found", NULL);
}

static const char *mnist_dir(void)
{
    const char *env = getenv("MNIST_DIR");
    return env && *env ? env : SWEEPRUN_SOURCE_DIR "/../shared/data/mnist";
}

static void test_real_mnist(void **state)
{
    (void)state;
    char paths[DATASET_FILE_COUNT][DATASET_PATH_MAX], err[2048] = "";
    if (dataset_files(mnist_dir(), paths, err, sizeof err) != 0) {
        print_message("skipping: %s\n", err);
        skip();
    }
    IdxImages im;
    IdxLabels lb;
    assert_int_equal(idx_read_images(paths[DATASET_TEST_IMAGES], &im, err, sizeof err), 0);
    assert_int_equal(idx_read_labels(paths[DATASET_TEST_LABELS], 10, &lb, err, sizeof err), 0);
    assert_int_equal(im.count, 10000);
    assert_int_equal(im.rows, 28);
    assert_int_equal(im.cols, 28);
    assert_int_equal(lb.count, 10000);
    assert_int_equal(lb.labels[0], 7);
    assert_int_equal(lb.labels[1], 2);
    assert_int_equal(lb.labels[2], 1);
    idx_images_free(&im);
    idx_labels_free(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_images_plain),
        cmocka_unit_test(test_good_images_gz),
        cmocka_unit_test(test_good_labels_plain),
        cmocka_unit_test(test_good_labels_gz),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_payload),
        cmocka_unit_test(test_cut_gzip_stream),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_bad_dims),
        cmocka_unit_test(test_label_out_of_range),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_dataset_files),
        cmocka_unit_test(test_real_mnist),
    };
    return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
