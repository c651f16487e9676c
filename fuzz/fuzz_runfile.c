/* libFuzzer target: reading run files (results/runfile.c, and what reads
 * them through it: sweepreport's report_load_file, eval/predict's
 * run_load_config).
 *
 * Mutating an HDF5 file byte by byte mostly exercises HDF5's own parser
 * (not instrumented here, and not ours). This harness instead starts every
 * input from a real run file (build-fuzz/fuzz/runfile_base.h5, made by the
 * build with `sweeprun train --model gecco --set feature_length=8 --epochs 1
 * --train-subset 500 --test-subset 50 --eval-batch-size 16`) and reads the input as a list of edits made
 * through the HDF5 API: delete, retype, reshape or rewrite attributes and
 * datasets, put a group or a soft link where a dataset was, grow a dataset
 * to a huge extent without storing it. The result is always a valid HDF5
 * file, so everything the fuzzer finds is in how our readers treat a file
 * that is HDF5 but not the run file they expect. Then every reader runs on
 * it, and whatever a reader accepts is touched to the last element it
 * claims to hold (ASan checks the sizes). Seeds (edit lists):
 * fuzz/corpus/runfile; the empty input reads the base file unchanged. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "fuzz_input.h"
#include "model.h"
#include "report.h"
#include "run_load.h"
#include "runfile.h"

/* ---- the input as a stream of edits ---------------------------------------- */

typedef struct Bytes {
    const uint8_t *p;
    size_t n, at;
} Bytes;

static unsigned u8(Bytes *b) { return b->at < b->n ? b->p[b->at++] : 0; }
static unsigned u16(Bytes *b) { return u8(b) | u8(b) << 8; }
static double f64(Bytes *b)
{
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits |= (uint64_t)u8(b) << (8 * i);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* What the edits can name: the base file's layout, plus a few names it
 * lacks. Every group and dataset the readers open, and every attribute. */
static const char *const OBJECTS[] = {
    "epochs", "test", "weights", "checkpoint",
    "epochs/epoch", "epochs/lr", "epochs/seconds", "epochs/test_accuracy",
    "epochs/test_loss", "epochs/train_accuracy", "epochs/train_loss",
    "test/confusion", "test/context_images", "test/misclassified_images",
    "test/misclassified_index", "test/misclassified_label", "test/misclassified_pred",
    "checkpoint/params", "checkpoint/buffers", "checkpoint/state1", "checkpoint/state2",
    "weights/bn.num_batches_tracked", "weights/bn.running_var", "weights/conv1.linear.weight",
    "weights/fc1.weight", "weights/fc1.bias", "weights/extra",
};
#define N_OBJECTS (int)(sizeof OBJECTS / sizeof OBJECTS[0])

static const char *const ATTRS[] = {
    "format", "format_version", "config", "device", "model", "status",
    "final_test_accuracy", "best_test_accuracy", "param_count", "epochs_completed",
    "feature_length", "lr", "seed", "sweep", "trial_id", "error", "dataset",
    "epoch", "step",   /* attributes of /checkpoint */
};
#define N_ATTRS (int)(sizeof ATTRS / sizeof ATTRS[0])

/* Where attribute edits go: the root, or /checkpoint (epoch, step). */
static hid_t attr_owner(hid_t file, Bytes *b)
{
    if (u8(b) & 1) return H5Oopen(file, "/", H5P_DEFAULT);
    return H5Oopen(file, "checkpoint", H5P_DEFAULT);
}

/* Element types a replaced attribute or dataset may get. */
static hid_t pick_type(Bytes *b, int *is_string)
{
    *is_string = 0;
    switch (u8(b) % 9) {
    case 0: return H5Tcopy(H5T_STD_U8LE);
    case 1: return H5Tcopy(H5T_STD_I32LE);
    case 2: return H5Tcopy(H5T_STD_I64BE);
    case 3: return H5Tcopy(H5T_IEEE_F32LE);
    case 4: return H5Tcopy(H5T_IEEE_F64LE);
    case 5: return H5Tcopy(H5T_STD_U64LE);
    case 6: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 1 + u8(b) % 64);
        H5Tset_strpad(t, u8(b) & 1 ? H5T_STR_NULLTERM : H5T_STR_NULLPAD);
        *is_string = 1;
        return t;
    }
    case 7: {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, u8(b) & 1 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        *is_string = 2;
        return t;
    }
    default: return H5Tcopy(H5T_STD_I8LE);
    }
}

/* A large extent from 15 bits: multiples of 64 up to about a million, or
 * of 2^24 up to 2^38 (past what any reader should allocate). */
static hsize_t big_dim(unsigned v)
{
    return (hsize_t)(v & 0x3fff) << (v & 0x4000 ? 24 : 6);
}

/* A dataspace: scalar, null, or simple of rank 1..3 with dims from the
 * input (each 0..1099, or a big one when allowed). */
static hid_t pick_space(Bytes *b, int allow_big, hsize_t *npoints)
{
    unsigned kind = u8(b) % 6;
    if (kind == 0) {
        *npoints = 1;
        return H5Screate(H5S_SCALAR);
    }
    if (kind == 1) {
        *npoints = 0;
        return H5Screate(H5S_NULL);
    }
    int rank = 1 + (int)(kind - 2) % 3;
    hsize_t dims[3], max[3];
    *npoints = 1;
    for (int i = 0; i < rank; i++) {
        unsigned v = u16(b);
        dims[i] = allow_big && (v & 0x8000) ? big_dim(v) : v % 1100;
        max[i] = H5S_UNLIMITED;
        *npoints *= dims[i];
    }
    return H5Screate_simple(rank, dims, max);
}

/* Values for n elements of type t (at most a small number are written). */
static void *make_values(Bytes *b, hid_t t, int is_string, size_t n)
{
    if (is_string == 2) {
        char **s = calloc(n ? n : 1, sizeof *s);
        for (size_t i = 0; i < n; i++) {
            size_t len = u8(b) % 48;
            s[i] = calloc(1, len + 1);
            for (size_t k = 0; k < len; k++) s[i][k] = (char)u8(b);
        }
        return s;
    }
    size_t size = H5Tget_size(t);
    unsigned char *v = calloc(n ? n : 1, size);
    if (H5Tget_class(t) == H5T_FLOAT && size == 8) {
        for (size_t i = 0; i < n; i++) {
            double d = f64(b);
            /* the file type is little-endian; so is every machine we fuzz on */
            memcpy(v + i * 8, &d, 8);
        }
    } else {
        for (size_t i = 0; i < n * size; i++) v[i] = (unsigned char)u8(b);
    }
    return v;
}

static void free_values(void *v, int is_string, size_t n)
{
    if (is_string == 2)
        for (size_t i = 0; i < n; i++) free(((char **)v)[i]);
    free(v);
}

static void edit_set_attr(hid_t file, Bytes *b)
{
    hid_t owner = attr_owner(file, b);
    const char *name = ATTRS[u8(b) % N_ATTRS];
    int is_string;
    hid_t t = pick_type(b, &is_string);
    hsize_t n;
    hid_t sp = pick_space(b, 0, &n);
    if (owner >= 0 && n <= 64) {
        if (H5Aexists(owner, name) > 0) H5Adelete(owner, name);
        hid_t a = H5Acreate2(owner, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) {
            void *v = make_values(b, t, is_string, n);
            if (n) H5Awrite(a, t, v);
            free_values(v, is_string, n);
            H5Aclose(a);
        }
    }
    H5Sclose(sp);
    H5Tclose(t);
    if (owner >= 0) H5Oclose(owner);
}

static void edit_delete_attr(hid_t file, Bytes *b)
{
    hid_t owner = attr_owner(file, b);
    const char *name = ATTRS[u8(b) % N_ATTRS];
    if (owner >= 0) {
        if (H5Aexists(owner, name) > 0) H5Adelete(owner, name);
        H5Oclose(owner);
    }
}

static void delete_object(hid_t file, const char *path)
{
    if (H5Lexists(file, path, H5P_DEFAULT) > 0) H5Ldelete(file, path, H5P_DEFAULT);
}

/* Replace a dataset (or group) with a new dataset of any type and shape.
 * Small ones get values from the input; big ones are chunked and never
 * written, so they cost nothing in the file however large they claim to be. */
static void edit_replace_dataset(hid_t file, Bytes *b)
{
    const char *path = OBJECTS[u8(b) % N_OBJECTS];
    int is_string;
    hid_t t = pick_type(b, &is_string);
    hsize_t n;
    hid_t sp = pick_space(b, 1, &n);
    delete_object(file, path);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > 0) {   /* unlimited max dims need chunks; chunk dims are at least 1 */
        hsize_t dims[3], chunk[3];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        for (int i = 0; i < rank; i++) chunk[i] = dims[i] < 1 ? 1 : dims[i] > 16 ? 16 : dims[i];
        H5Pset_chunk(dcpl, rank, chunk);
    }
    hid_t d = H5Dcreate2(file, path, t, sp, lcpl, dcpl, H5P_DEFAULT);
    if (d >= 0) {
        if (n > 0 && n <= 4096) {
            void *v = make_values(b, t, is_string, (size_t)n);
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            free_values(v, is_string, (size_t)n);
        }
        H5Dclose(d);
    }
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    H5Tclose(t);
}

/* The dataset the next byte names, or -1 (absent, or not a dataset). */
static hid_t open_named_dataset(hid_t file, Bytes *b)
{
    const char *path = OBJECTS[u8(b) % N_OBJECTS];
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) return -1;
    return H5Dopen2(file, path, H5P_DEFAULT);
}

/* Change the extent of an existing chunked dataset (the epoch columns and
 * the /test lists are extendible): columns of different lengths, a list
 * that no longer matches the others, an image stack of a million images. */
static void edit_resize(hid_t file, Bytes *b)
{
    hid_t d = open_named_dataset(file, b);
    if (d < 0) return;
    hid_t sp = H5Dget_space(d);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (rank >= 1 && rank <= 3) {
        hsize_t dims[3];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        unsigned v = u16(b);
        int axis = u8(b) % rank;
        hsize_t want = v & 0x8000 ? big_dim(v) : v % 1100;
        /* Shrinking a huge extent makes HDF5 visit every chunk position it
         * drops (H5D__chunk_prune_by_extent: minutes, a harness timeout, not
         * a reader's fault), so a dataset already past 2^20 only grows. */
        if (want >= dims[axis] || dims[axis] <= ((hsize_t)1 << 20)) {
            dims[axis] = want;
            H5Dset_extent(d, dims);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
}

/* Overwrite the first values of a numeric dataset (NaN, infinities,
 * negative or huge counts and labels); HDF5 converts and clamps. */
static void edit_write_values(hid_t file, Bytes *b)
{
    hid_t d = open_named_dataset(file, b);
    if (d < 0) return;
    hid_t t = H5Dget_type(d), fs = H5Dget_space(d);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t total = fs >= 0 ? H5Sget_simple_extent_npoints(fs) : 0;
    hsize_t count = 1 + u8(b) % 16;
    if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Sget_simple_extent_ndims(fs) == 1 &&
        total >= (hssize_t)count) {
        double v[16];
        for (hsize_t i = 0; i < count; i++) v[i] = f64(b);
        hsize_t start = 0;
        hid_t ms = H5Screate_simple(1, &count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v);
        H5Sclose(ms);
    }
    if (fs >= 0) H5Sclose(fs);
    H5Tclose(t);
    H5Dclose(d);
}

/* A group, or a soft link (possibly dangling, possibly to itself), where
 * an object was. */
static void edit_relink(hid_t file, Bytes *b)
{
    const char *path = OBJECTS[u8(b) % N_OBJECTS];
    const char *target = OBJECTS[u8(b) % N_OBJECTS];
    int as_group = u8(b) & 1;
    delete_object(file, path);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (as_group) {
        hid_t g = H5Gcreate2(file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) H5Gclose(g);
    } else {
        char abs[128];
        snprintf(abs, sizeof abs, "/%s", target);
        H5Lcreate_soft(abs, file, path, lcpl, H5P_DEFAULT);
    }
    H5Pclose(lcpl);
}

static void apply_edits(const char *path, const uint8_t *data, size_t size)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0) abort();   /* the base file always opens: a broken harness */
    Bytes b = {data, size, 0};
    for (int edits = 0; b.at < b.n && edits < 32; edits++) {
        switch (u8(&b) % 7) {
        case 0: edit_set_attr(file, &b); break;
        case 1: edit_delete_attr(file, &b); break;
        case 2: delete_object(file, OBJECTS[u8(&b) % N_OBJECTS]); break;
        case 3: edit_replace_dataset(file, &b); break;
        case 4: edit_resize(file, &b); break;
        case 5: edit_write_values(file, &b); break;
        default: edit_relink(file, &b); break;
        }
    }
    H5Fclose(file);
}

/* ---- the readers --------------------------------------------------------- */

static uint8_t *base;       /* SWEEPRUN_FUZZ_RUNFILE_BASE */
static size_t base_size;
static Model model;         /* the base file's model: gecco, feature_length 8 */
static float *ck_params, *ck_buffers, *ck_state1, *ck_state2;
static volatile double sink;

static int count_attr(const char *name, RunAttrKind kind, void *user)
{
    sink += (double)strlen(name) + kind;
    (*(int *)user)++;
    return 0;
}

static void touch(const void *p, size_t n)
{
    const unsigned char *c = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += c[i];
    sink += s;
}

static void read_with_runfile_api(const char *path)
{
    char err[2048], text[256];
    RunFile *rf = runfile_open(path, err, sizeof err);
    if (!rf) return;
    int n_attrs = 0;
    runfile_visit_attrs(rf, count_attr, &n_attrs, err, sizeof err);
    for (int i = 0; i < N_ATTRS; i++) {
        double d;
        int64_t v;
        if (!runfile_has_attr(rf, ATTRS[i])) continue;
        /* 8 bytes: too short for most strings, to try the length check */
        runfile_read_attr_string(rf, ATTRS[i], text, i % 2 ? 8 : (int)sizeof text, err, sizeof err);
        if (runfile_read_attr_double(rf, ATTRS[i], &d, err, sizeof err) == 0) sink += d;
        if (runfile_read_attr_int64(rf, ATTRS[i], &v, err, sizeof err) == 0) sink += (double)v;
    }
    RunEpochs ep;
    if (runfile_read_epochs(rf, &ep, err, sizeof err) == 0) {
        size_t n = (size_t)ep.count;
        touch(ep.epoch, n * sizeof *ep.epoch);
        touch(ep.train_loss, n * sizeof(double));
        touch(ep.train_accuracy, n * sizeof(double));
        touch(ep.test_loss, n * sizeof(double));
        touch(ep.test_accuracy, n * sizeof(double));
        touch(ep.lr, n * sizeof(double));
        touch(ep.seconds, n * sizeof(double));
        run_epochs_free(&ep);
    }
    RunTestResults tr;
    if (runfile_read_test_results(rf, &tr, err, sizeof err) == 0) {
        size_t k = (size_t)tr.num_classes, px = (size_t)tr.image_rows * (size_t)tr.image_cols;
        touch(tr.confusion, k * k * sizeof *tr.confusion);
        touch(tr.mis_index, (size_t)tr.n_mis * sizeof(int32_t));
        touch(tr.mis_pred, (size_t)tr.n_mis * sizeof(int32_t));
        touch(tr.mis_label, (size_t)tr.n_mis * sizeof(int32_t));
        touch(tr.mis_images, (size_t)tr.n_mis_images * px);
        touch(tr.context_images, (size_t)tr.n_context * px);
        run_test_results_free(&tr);
    }
    runfile_close(rf);
}

static void read_checkpoint_and_weights(const char *path)
{
    char err[2048];
    long np = model.table.n_params, nb = model.table.n_buffers;
    /* With and without optimizer state, as sgd (no state) and adam resume. */
    RunCheckpoint ck = {ck_params, np, ck_buffers, nb, ck_state1, ck_state2, np, 0, 0, 0, 0, 0, 0};
    runfile_read_checkpoint(path, &ck, err, sizeof err);
    RunCheckpoint sgd = {ck_params, np, ck_buffers, nb, NULL, NULL, 0, 0, 0, 0, 0, 0, 0};
    runfile_read_checkpoint(path, &sgd, err, sizeof err);
    runfile_read_weights(path, &model.table, model.params, model.buffers, err, sizeof err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   /* the edits fail often, quietly */
    FILE *f = fopen(SWEEPRUN_FUZZ_RUNFILE_BASE, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) abort();
    base_size = (size_t)ftell(f);
    rewind(f);
    base = malloc(base_size);
    if (!base || fread(base, 1, base_size, f) != base_size) abort();
    fclose(f);

    const ModelDesc *d = model_find("gecco");
    double options[MODEL_MAX_OPTIONS];
    for (int i = 0; i < d->n_options; i++) options[i] = d->options[i].default_value;
    options[model_option_index(d, "feature_length")] = 8;
    model_create(&model, d, options, 0);
    ck_params = calloc((size_t)model.table.n_params, sizeof(float));
    ck_buffers = calloc((size_t)model.table.n_buffers + 1, sizeof(float));
    ck_state1 = calloc((size_t)model.table.n_params, sizeof(float));
    ck_state2 = calloc((size_t)model.table.n_params, sizeof(float));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(base, base_size);
    apply_edits(path, data, size);

    read_with_runfile_api(path);
    read_checkpoint_and_weights(path);

    char err[2048];
    ReportRun run;
    if (report_load_file(path, &run, err, sizeof err) == 0) {
        for (int i = 0; i < run.n_attrs; i++) touch(run.attrs[i].value, strlen(run.attrs[i].value));
        report_run_free(&run);
    }
    TrainConfig cfg;
    double acc;
    run_load_config(path, &cfg, &acc, err, sizeof err);
    return 0;
}
