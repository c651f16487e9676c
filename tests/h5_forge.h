/* Forging run files with the HDF5 API, for tests of what a damaged or
 * hand-edited file does to the readers (tests/test_runfile.c,
 * test_sweep_resume.c, test_predict.c). Each helper opens the file, makes one change
 * and closes it; any HDF5 failure fails the test. Needs cmocka.h first. */
#ifndef SWEEPRUN_H5_FORGE_H
#define SWEEPRUN_H5_FORGE_H
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#define MAX_FORGED_RANK 3

static inline hid_t open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* Replace attribute `name` of object obj ("/" or "checkpoint") by a
 * float64 one. */
static inline void retype_attr(const char *path, const char *obj, const char *name, double value)
{
    hid_t f = open_rw(path), o = H5Oopen(f, obj, H5P_DEFAULT);
    assert_true(H5Adelete(o, name) >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_DOUBLE, &value) >= 0);
    H5Aclose(a), H5Sclose(sp), H5Oclose(o), H5Fclose(f);
}

/* Replace root attribute `name` by a fixed-length string. */
static inline void set_root_string(const char *path, const char *name, const char *value)
{
    hid_t f = open_rw(path);
    if (H5Aexists(f, name) > 0) assert_true(H5Adelete(f, name) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(value) + 1);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, value) >= 0);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t), H5Fclose(f);
}

/* Overwrite the int64 attribute `name` of /checkpoint. */
static inline void set_checkpoint_int(const char *path, const char *name, int64_t value)
{
    hid_t f = open_rw(path), g = H5Gopen2(f, "checkpoint", H5P_DEFAULT), a = H5Aopen(g, name, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, &value) >= 0);
    H5Aclose(a), H5Gclose(g), H5Fclose(f);
}

static inline void set_checkpoint_epoch(const char *path, int64_t epoch) { set_checkpoint_int(path, "epoch", epoch); }

/* Remove attribute `name` of object obj ("/" or "checkpoint"). */
static inline void delete_attr(const char *path, const char *obj, const char *name)
{
    hid_t f = open_rw(path), o = H5Oopen(f, obj, H5P_DEFAULT);
    assert_true(H5Adelete(o, name) >= 0);
    H5Oclose(o), H5Fclose(f);
}

static inline void delete_object(const char *path, const char *name)
{
    hid_t f = open_rw(path);
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    H5Fclose(f);
}

static inline void resize_dataset(const char *path, const char *name, hsize_t n)
{
    hid_t f = open_rw(path), d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(H5Dset_extent(d, &n) >= 0);
    H5Dclose(d), H5Fclose(f);
}

static inline void resize_epoch_columns(const char *path, hsize_t n)
{
    static const char *cols[] = {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds",
                                 "val_loss", "val_accuracy"};
    char name[64];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "/epochs/%s", cols[i]);
        resize_dataset(path, name, n);
    }
}

/* Overwrite the first value of a float or int dataset. */
static inline void poke_first(const char *path, const char *name, double value)
{
    hid_t f = open_rw(path), d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, (hsize_t[]){1}, NULL);
    hsize_t start[MAX_FORGED_RANK] = {0}, count[MAX_FORGED_RANK];
    int rank = H5Sget_simple_extent_ndims(fs);
    for (int i = 0; i < rank; i++) count[i] = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(ms), H5Sclose(fs), H5Dclose(d), H5Fclose(f);
}

/* Replace group/name by a chunked (so nearly empty on disk) dataset of the
 * given shape: the reader must refuse it from the shape alone. */
static inline void forge_dataset(const char *path, const char *name, hid_t type, int rank, const hsize_t *dims)
{
    hid_t f = open_rw(path);
    if (H5Lexists(f, name, H5P_DEFAULT) > 0) assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[MAX_FORGED_RANK];
    for (int i = 0; i < rank; i++) chunk[i] = dims[i] < 16 ? dims[i] : 16;
    H5Pset_chunk(dcpl, rank, chunk);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
}

#endif
