/* HDF5 run files: see runfile.h for the protocol, docs/run-file.md for the
 * layout. All HDF5 calls happen with HDF5's error printing replaced by a
 * handler that only remembers the most specific message, so a bad file gives
 * one line from us (plus that detail) instead of a 20-line HDF5 trace. */
#define _GNU_SOURCE   /* memfd_create, dup3 */
#include "runfile.h"
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RF_PATH_MAX 4200
#define MAX_RANK 8
/* Rows per chunk of the growing 1-D datasets: small for the epoch columns
 * (a few hundred rows at most), larger for the misclassified lists (up to
 * the test-set size early in training). Chunks are allocated whole, so a
 * big epoch chunk would cost 8 KB per column in every file. */
#define EPOCH_CHUNK 64
#define LIST_CHUNK 1024
/* Growth step of the in-memory file a new run's first contents are built
 * in (they take about 10 KB). */
#define IMAGE_INCREMENT (64 * 1024)
/* Opening and locking a .tmp is retried when its name moved to another file
 * in between (the previous writer finished or abandoned it just then). */
#define CLAIM_ATTEMPTS 3
/* What the format allows, so a reader never allocates from a shape beyond
 * it: MNIST's 10 classes; 28x28 images (runner/train/dataset.c refuses
 * any other size); at most 100,000 epochs (the largest `epochs` a run can
 * be configured with, runner/train/config.c); a fixed-length string
 * attribute of at most 64 KiB (HDF5's limit for an attribute stored in the
 * object header, where the writer puts them). */
#define MAX_CLASSES 10
#define MAX_IMAGE_SIDE 28
#define MAX_EPOCHS 100000
#define MAX_FIXED_STRING 65536

struct RunFile {
    hid_t file;
    int writable;
    /* Writer only: our own descriptor of the .tmp, holding an exclusive
     * flock for as long as the handle lives (-1 otherwise), and the file it
     * claimed, to notice when the name is given to another file. */
    int claim_fd;
    int created;                  /* the claim created the .tmp */
    int cut_off;                  /* a write failed: nothing more goes to the disk */
    dev_t claim_dev;
    ino_t claim_ino;
    long n_epochs;                /* rows in /epochs (writer) */
    char path[RF_PATH_MAX];       /* the file open now: the .tmp for a writer */
    char final_path[RF_PATH_MAX]; /* writer only */
};

/* The per-epoch columns, in this order everywhere. Column 0 is the int
 * epoch number, the rest are float64. Columns from N_REQUIRED_COLS on came
 * later (validation): a file written before them lacks them, and reads
 * them as NaN. */
#define N_COLS 9
#define N_REQUIRED_COLS 7
static const char *const EPOCH_COLS[N_COLS] = {
    "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds",
    "val_loss", "val_accuracy",
};

/* ---- errors ---------------------------------------------------------------- */

typedef struct Err {
    char *buf;
    int size;
} Err;

static char h5_detail[512];   /* most specific message of the last HDF5 failure */
static int write_refused;     /* ... and it was the disk refusing a write (a full disk) */

static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *unused)
{
    (void)unused;
    if (n == 0) {
        snprintf(h5_detail, sizeof h5_detail, "%s", e->desc ? e->desc : "");
        write_refused = e->min_num == H5E_WRITEERROR;
    }
    return 0;
}

static herr_t on_h5_error(hid_t stack, void *unused)
{
    (void)unused;
    H5Ewalk2(stack, H5E_WALK_UPWARD, keep_innermost, NULL);
    return 0;
}

typedef struct Quiet {
    H5E_auto2_t fn;
    void *data;
} Quiet;

static Quiet quiet(void)
{
    Quiet q;
    H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
    H5Eset_auto2(H5E_DEFAULT, on_h5_error, NULL);
    h5_detail[0] = '\0';
    write_refused = 0;
    return q;
}

static void unquiet(Quiet q) { H5Eset_auto2(H5E_DEFAULT, q.fn, q.data); }

/* Run one internal function with HDF5 printing off, and return its result. */
#define QUIETLY(type, call)            \
    do {                               \
        Quiet q_ = quiet();            \
        type r_ = (call);              \
        unquiet(q_);                   \
        return r_;                     \
    } while (0)

static void cut_off_if_refused(RunFile *rf);

/* Run one writer function on rf: as QUIETLY, and when the disk refused a
 * write the handle is cut off from it at once (see cut_off_if_refused). */
#define WRITING(rf, call)              \
    do {                               \
        Quiet q_ = quiet();            \
        int r_ = (call);               \
        if (r_ != 0) cut_off_if_refused(rf); \
        unquiet(q_);                   \
        return r_;                     \
    } while (0)

static void vformat(Err e, int with_detail, const char *fmt, va_list ap)
{
    if (!e.buf || e.size <= 0) return;
    vsnprintf(e.buf, (size_t)e.size, fmt, ap);
    size_t len = strlen(e.buf);
    if (with_detail && h5_detail[0] && len + 1 < (size_t)e.size)
        snprintf(e.buf + len, (size_t)e.size - len, " (HDF5: %s)", h5_detail);
}

/* Our own finding: the message as given. */
static int fail(Err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(e, 0, fmt, ap);
    va_end(ap);
    return -1;
}

/* An HDF5 call failed: add what HDF5 said. */
static int fail_h5(Err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_h5(Err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(e, 1, fmt, ap);
    va_end(ap);
    h5_detail[0] = '\0';
    return -1;
}

static void format_shape(char *buf, size_t size, int rank, const hsize_t *dims)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)dims[i]);
    if (len < size) snprintf(buf + len, size - len, rank ? "]" : "] (scalar)");
}

/* ---- small HDF5 helpers ---------------------------------------------------- */

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static hid_t utf8_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* Closing the file also closes anything we might have left open, so an
 * error path can never keep the file half-open. */
static hid_t strong_close_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    return fapl;
}

static hid_t open_or_create_group(hid_t loc, const char *name)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) return H5Gopen2(loc, name, H5P_DEFAULT);
    return H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

/* Create or replace a scalar attribute (the type may change, so replace). */
static int put_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *val)
{
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t w = a >= 0 ? H5Awrite(a, mtype, val) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return w < 0 ? -1 : 0;
}

static int put_string_attr(hid_t loc, const char *name, const char *value)
{
    hid_t t = utf8_string_type();
    int rc = put_attr(loc, name, t, t, &value);
    H5Tclose(t);
    return rc;
}

static int put_int64_attr(hid_t loc, const char *name, int64_t v)
{
    return put_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

static int put_double_attr(hid_t loc, const char *name, double v)
{
    return put_attr(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

/* Rank and dims of a dataset; -1 when HDF5 fails or rank > MAX_RANK. */
static int dataset_shape(hid_t d, hsize_t dims[MAX_RANK])
{
    hid_t sp = H5Dget_space(d);
    if (sp < 0) return -1;
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > MAX_RANK) rank = -1;
    if (rank > 0) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    return rank;
}

static hsize_t numel(int rank, const hsize_t *dims)
{
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
}

static int same_shape(int ra, const hsize_t *a, int rb, const hsize_t *b)
{
    if (ra != rb) return 0;
    for (int i = 0; i < ra; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Can the existing dataset be overwritten in place with this type and shape?
 * In place matters: HDF5 never reclaims the space of a deleted dataset, so
 * delete-and-recreate every epoch would grow the file by a checkpoint each
 * time. */
static int reusable(hid_t d, hid_t ftype, int rank, const hsize_t *dims)
{
    hsize_t have[MAX_RANK];
    int r = dataset_shape(d, have);
    hid_t t = H5Dget_type(d);
    int ok = r >= 0 && t >= 0 && H5Tequal(t, ftype) > 0 && same_shape(r, have, rank, dims);
    if (t >= 0) H5Tclose(t);
    return ok;
}

static int write_all(hid_t d, hid_t mtype, hsize_t n, const void *data)
{
    if (n == 0) return 0;
    return H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0;
}

/* A fixed-shape dataset (rank 0 = scalar), overwritten in place when it
 * already exists with the same type and shape. */
static int write_fixed(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                       const hsize_t *dims, const void *data)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) {
        hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
        if (d < 0) return -1;
        if (reusable(d, ftype, rank, dims)) {
            int rc = write_all(d, mtype, numel(rank, dims), data);
            H5Dclose(d);
            return rc;
        }
        H5Dclose(d);
        if (H5Ldelete(loc, name, H5P_DEFAULT) < 0) return -1;
    }
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    if (d < 0) return -1;
    int rc = write_all(d, mtype, numel(rank, dims), data);
    H5Dclose(d);
    return rc;
}

static hid_t create_growing(hid_t loc, const char *name, hid_t ftype, hsize_t n, hsize_t chunk)
{
    hsize_t maxdim = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &n, &maxdim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

/* A 1-D dataset whose length changes between writes (misclassified lists):
 * chunked and unlimited, resized in place. n may be 0. */
static int write_growing(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                         const void *data)
{
    hid_t d = -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) {
        d = H5Dopen2(loc, name, H5P_DEFAULT);
        if (d < 0) return -1;
        if (H5Dset_extent(d, &n) < 0) {   /* not extendible: an older layout */
            H5Dclose(d);
            d = -1;
            if (H5Ldelete(loc, name, H5P_DEFAULT) < 0) return -1;
        }
    }
    if (d < 0) d = create_growing(loc, name, ftype, n, LIST_CHUNK);
    if (d < 0) return -1;
    int rc = write_all(d, mtype, n, data);
    H5Dclose(d);
    return rc;
}

static int flush(RunFile *rf) { return H5Fflush(rf->file, H5F_SCOPE_GLOBAL) < 0 ? -1 : 0; }

static int still_named(const RunFile *rf);
static int fail_replaced(const RunFile *rf, Err e);

/* Flush, then check that the .tmp's name still leads to the file written:
 * a writer must not carry on (and end reporting success) after another
 * program replaced or removed its file. what: "after epoch 3", ... */
static int flush_checked(RunFile *rf, Err e, const char *what)
{
    if (flush(rf) != 0) return fail_h5(e, "%s: cannot flush %s", rf->path, what);
    if (!still_named(rf)) return fail_replaced(rf, e);
    return 0;
}

static int need_writer(RunFile *rf, Err e)
{
    if (!rf) return fail(e, "no run file (NULL handle)");
    if (!rf->writable) return fail(e, "%s: opened read-only; cannot write", rf->path);
    if (rf->cut_off)
        return fail(e, "%s: a write to it failed earlier, so nothing more is written; the run is left "
                       "in this file as the disk took it", rf->path);
    return 0;
}

/* ---- create / resume / finish ------------------------------------------- */

int runfile_tmp_path(const char *final_path, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%s", final_path, RUNFILE_TMP_SUFFIX);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int runfile_is_being_written(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);   /* also releases the lock if it was taken */
    return busy;
}

static RunFile *new_handle(const char *final_path, Err e)
{
    if (strlen(final_path) + sizeof RUNFILE_TMP_SUFFIX > RF_PATH_MAX) {
        fail(e, "%s: path too long", final_path);
        return NULL;
    }
    RunFile *rf = calloc(1, sizeof *rf);
    if (!rf) {
        fail(e, "%s: out of memory", final_path);
        return NULL;
    }
    rf->file = -1;
    rf->claim_fd = -1;
    rf->writable = 1;
    snprintf(rf->final_path, sizeof rf->final_path, "%s", final_path);
    runfile_tmp_path(final_path, rf->path, sizeof rf->path);
    return rf;
}

/* ---- claiming the .tmp ---------------------------------------------------
 * One writer per run file. The writer opens the .tmp itself, never through
 * a symbolic link, and takes an exclusive flock on it before anything is
 * truncated or written; the lock lasts as long as the handle. A second
 * writer (another `train` with the same --out, a second resumer) finds it
 * taken and leaves the file alone. HDF5's own lock comes too late for this:
 * H5Fcreate opens with O_TRUNC first and locks after. */

/* The disk's error behind the last failed create (ENOSPC, ...), else 0. */
static int create_disk_error;

static int is_disk_error(int e) { return e == ENOSPC || e == EDQUOT || e == EIO; }

static int still_named(const RunFile *rf)
{
    struct stat st;
    return lstat(rf->path, &st) == 0 && st.st_dev == rf->claim_dev && st.st_ino == rf->claim_ino;
}

static int fail_replaced(const RunFile *rf, Err e)
{
    return fail(e, "%s: was replaced or removed by another program while this run wrote it; what "
                   "was written is not under this name any more, and the file there now is left alone",
                rf->path);
}

/* Open path for reading and writing without following a symbolic link,
 * creating it when may_create (then *created = 1). */
static int open_no_follow(const char *path, int may_create, int *created)
{
    *created = 0;
    if (may_create) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) {
            *created = fd >= 0;
            return fd;
        }
    }
    /* O_NONBLOCK: a FIFO planted at the name must not hang the open */
    return open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

static int fail_open(const RunFile *rf, Err e)
{
    if (is_disk_error(errno)) create_disk_error = errno;
    if (errno == ELOOP)
        return fail(e, "%s: is a symbolic link; run files are never written through one (remove it, "
                       "or choose another --out)", rf->path);
    return fail(e, "%s: cannot open for writing: %s", rf->path, strerror(errno));
}

/* Give up the claim, first deleting the .tmp when unlink_tmp and the name
 * still leads to the claimed file. */
static void unclaim(RunFile *rf, int unlink_tmp)
{
    if (rf->claim_fd < 0) return;
    if (unlink_tmp && still_named(rf)) unlink(rf->path);
    close(rf->claim_fd);   /* releases the lock */
    rf->claim_fd = -1;
}

/* 1 claimed; 0 the name moved to another file between open and lock (try
 * again); -1 refused, with e. */
static int claim_once(RunFile *rf, int may_create, Err e)
{
    int fd = open_no_follow(rf->path, may_create, &rf->created);
    if (fd < 0) return fail_open(rf, e);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(e, "%s: not a regular file; a run is never written into it", rf->path);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        if (busy)
            return fail(e, "%s: another process is writing this run (it holds the file locked); "
                           "left as it is", rf->path);
        return fail(e, "%s: cannot lock: %s", rf->path, strerror(errno));
    }
    rf->claim_fd = fd;
    rf->claim_dev = st.st_dev;
    rf->claim_ino = st.st_ino;
    if (still_named(rf)) return 1;
    unclaim(rf, 0);
    return 0;
}

static int claim(RunFile *rf, int may_create, Err e)
{
    for (int i = 0; i < CLAIM_ATTEMPTS; i++) {
        int rc = claim_once(rf, may_create, e);
        if (rc != 0) return rc > 0 ? 0 : -1;
    }
    return fail(e, "%s: kept changing while it was being opened; another program is using this name",
                rf->path);
}

/* HDF5 opens the claimed file by its name, with HDF5's own locking off: the
 * claim is the lock (and HDF5's flock, on a second descriptor, would collide
 * with it). Whether HDF5 got the claimed file is checked on its descriptor. */
static int open_claimed(RunFile *rf, Err e)
{
    hid_t fapl = strong_close_fapl();
    H5Pset_file_locking(fapl, 0, 1);
    rf->file = H5Fopen(rf->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    const char *forced = getenv("HDF5_USE_FILE_LOCKING");
    if (rf->file < 0 && forced && strstr(h5_detail, "unable to lock"))
        return fail(e, "%s: HDF5 tried to lock the file this run has already claimed and locked: "
                       "HDF5_USE_FILE_LOCKING=%s in the environment turns HDF5's own locking back on "
                       "(unset it for sweeprun)", rf->path, forced);
    if (rf->file < 0) return fail_h5(e, "%s: cannot open the HDF5 file", rf->path);
    int *fd = NULL;
    struct stat st;
    if (H5Fget_vfd_handle(rf->file, H5P_DEFAULT, (void **)&fd) < 0 || !fd || fstat(*fd, &st) != 0
        || st.st_dev != rf->claim_dev || st.st_ino != rf->claim_ino)
        return fail_replaced(rf, e);
    return 0;
}

/* ---- closing ---------------------------------------------------------------
 * HDF5 1.10 cannot always close a file whose writes failed (a full disk):
 * H5Fclose starts with a flush; when that fails, H5Fclose frees the file but
 * leaves its id registered (fixed in HDF5 1.14), and once one flush has
 * failed every later one fails too ("slist already enabled?"). The
 * library's exit handler then closes the dangling id again and crashes
 * (exit 139). Even when the close succeeds, a refused write can leave
 * parts of the library pinned, and H5close then gives up with "HDF5:
 * infinite loop closing library".
 *
 * So: (1) the moment the disk refuses a write, the handle is cut off from
 * it: HDF5's descriptor is pointed at an in-memory file, where the writes it
 * still holds go (the close can then flush and succeed), and no further
 * write is accepted, so the file on disk keeps what the disk took; (2) the
 * library's exit handler is not installed, and ours shuts HDF5 down only
 * when no write was refused (otherwise the process just ends: every file
 * is closed already, or could not be, and the OS releases the rest). */

static int library_damaged;   /* a write was refused: H5close would loop or crash */

static void close_library(void)
{
    if (!library_damaged) H5close();
}

__attribute__((constructor)) static void own_library_exit(void)
{
    if (H5dont_atexit() >= 0) atexit(close_library);
}

static void discard_pending_writes(hid_t file)
{
    int *fd = NULL;
    int mem = memfd_create("sweeprun-discarded-writes", MFD_CLOEXEC);
    if (mem >= 0 && H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&fd) >= 0 && fd && *fd >= 0)
        dup3(mem, *fd, O_CLOEXEC);
    if (mem >= 0) close(mem);
}

static void cut_off_if_refused(RunFile *rf)
{
    if (!write_refused || !rf || !rf->writable || rf->file < 0 || rf->cut_off) return;
    library_damaged = 1;
    rf->cut_off = 1;
    discard_pending_writes(rf->file);
}

int runfile_disk_refused(const RunFile *rf) { return rf && rf->cut_off; }

/* Close rf->file; -1 when a writer's last writes did not reach the disk. */
static int close_file(RunFile *rf)
{
    if (rf->file < 0) return 0;
    int flushed = !rf->writable || flush(rf) == 0;
    herr_t closed = H5Fclose(rf->file);
    if (closed < 0) library_damaged = 1;
    rf->file = -1;
    return flushed && closed >= 0 && !rf->cut_off ? 0 : -1;
}

static void release(RunFile *rf)
{
    close_file(rf);
    unclaim(rf, 0);
    free(rf);
}

/* ---- create ----------------------------------------------------------- */

static int create_layout(hid_t file)
{
    const char *groups[] = {"epochs", "test", "weights", "checkpoint"};
    for (int i = 0; i < 4; i++) {
        hid_t g = open_or_create_group(file, groups[i]);
        if (g < 0) return -1;
        H5Gclose(g);
    }
    hid_t g = H5Gopen2(file, "epochs", H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = 0;
    for (int c = 0; c < N_COLS && rc == 0; c++) {
        hid_t d = create_growing(g, EPOCH_COLS[c], c ? H5T_IEEE_F64LE : H5T_STD_I32LE, 0, EPOCH_CHUNK);
        rc = d < 0 ? -1 : 0;
        if (d >= 0) H5Dclose(d);
    }
    H5Gclose(g);
    if (rc == 0) rc = put_string_attr(file, "format", RUNFILE_FORMAT);
    if (rc == 0) rc = put_int64_attr(file, "format_version", RUNFILE_FORMAT_VERSION);
    if (rc == 0) rc = put_string_attr(file, "status", "running");
    return rc;
}

/* A new run file's first contents, built in memory (HDF5's core driver
 * without a backing store); *size bytes, malloc'ed. The core driver opens
 * `name` only to see whether it holds a file already, so it is the claimed,
 * emptied .tmp. */
static void *initial_image(const char *name, size_t *size)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, IMAGE_INCREMENT, 0);
    hid_t mem = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (mem < 0) return NULL;
    /* the image holds what was flushed; the metadata cache keeps the rest */
    int built = create_layout(mem) == 0 && H5Fflush(mem, H5F_SCOPE_GLOBAL) >= 0;
    ssize_t n = built ? H5Fget_file_image(mem, NULL, 0) : -1;
    void *image = n > 0 ? malloc((size_t)n) : NULL;
    if (image && H5Fget_file_image(mem, image, (size_t)n) != n) {
        free(image);
        image = NULL;
    }
    H5Fclose(mem);   /* in memory: nothing to write, it cannot fail on a full disk */
    *size = image ? (size_t)n : 0;
    return image;
}

static int write_fully(int fd, const char *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(fd, buf + done, n - done, (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Empty the claimed .tmp and write the first contents through our own
 * descriptor: HDF5 never truncates a path itself, and a disk too full even
 * for these fails here, before HDF5 has the file open (a failed H5Fcreate
 * in HDF5 1.10 leaves the library unable to shut down). */
static int write_initial_layout(RunFile *rf, Err e)
{
    if (ftruncate(rf->claim_fd, 0) != 0)
        return fail(e, "%s: cannot empty the stale file: %s", rf->path, strerror(errno));
    size_t size;
    char *image = initial_image(rf->path, &size);
    if (!image) return fail_h5(e, "%s: cannot build the initial layout", rf->path);
    int rc = write_fully(rf->claim_fd, image, size) == 0 && fsync(rf->claim_fd) == 0 ? 0 : errno;
    free(image);
    if (rc == 0) return 0;
    if (is_disk_error(rc)) create_disk_error = rc;
    return fail(e, "%s: cannot write the new run file: %s", rf->path, strerror(rc));
}

static int refuse_finished(const char *final_path, Err e)
{
    return fail(e, "%s: already exists; refusing to overwrite a finished run (move or delete it first)",
                final_path);
}

static RunFile *create(const char *final_path, Err e)
{
    if (path_exists(final_path)) {
        refuse_finished(final_path, e);
        return NULL;
    }
    RunFile *rf = new_handle(final_path, e);
    if (!rf) return NULL;
    /* A stale .tmp is an interrupted run the caller chose not to resume
     * (runfile_resume is the way to continue it): it is replaced, unless
     * another process is writing it. */
    if (claim(rf, 1, e) != 0) {
        free(rf);
        return NULL;
    }
    if (path_exists(final_path)) {   /* the previous writer finished meanwhile */
        refuse_finished(final_path, e);
        unclaim(rf, rf->created);
        free(rf);
        return NULL;
    }
    if (write_initial_layout(rf, e) != 0 || open_claimed(rf, e) != 0) {
        /* neither the new run nor the stale one it replaced is left: no
         * empty or half-written .tmp */
        close_file(rf);
        unclaim(rf, 1);
        free(rf);
        return NULL;
    }
    return rf;
}

RunFile *runfile_create(const char *final_path, char *err, int err_size)
{
    Quiet q = quiet();
    create_disk_error = 0;
    RunFile *rf = create(final_path, (Err){err, err_size});
    unquiet(q);
    if (!rf) errno = create_disk_error;
    return rf;
}

/* The folder holding path (for fsync after the rename). */
static void sync_parent(const char *path)
{
    char dir[RF_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

static int valid_status(const char *s)
{
    return s && (!strcmp(s, "complete") || !strcmp(s, "diverged") || !strcmp(s, "failed")
                 || !strcmp(s, "pruned"));
}

static int finish(RunFile *rf, const char *status, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    if (!valid_status(status))
        return fail(e, "%s: cannot finish with status '%s' (expected complete, diverged, "
                       "failed or pruned); the run is left in this file", rf->path, status ? status : "(null)");
    if (put_string_attr(rf->file, "status", status) != 0)
        return fail_h5(e, "%s: cannot write the final status; the run is left in this file", rf->path);
    if (flush_checked(rf, e, "the final status; the run is left in this file") != 0) return -1;
    if (close_file(rf) != 0) return fail_h5(e, "%s: cannot close the run file", rf->path);
    /* Data on disk before the name changes: a crash right after the rename
     * must not leave a final file with missing contents. */
    fsync(rf->claim_fd);
    if (!still_named(rf)) return fail_replaced(rf, e);
    if (path_exists(rf->final_path))
        return fail(e, "%s: appeared while the run was going; refusing to overwrite it, the run "
                       "is left in %s", rf->final_path, rf->path);
    if (rename(rf->path, rf->final_path) != 0)
        return fail(e, "%s: cannot rename to %s: %s; the run is left in the .tmp file", rf->path,
                    rf->final_path, strerror(errno));
    sync_parent(rf->final_path);
    return 0;
}

int runfile_finish(RunFile *rf, const char *status, char *err, int err_size)
{
    Quiet q = quiet();
    int rc = finish(rf, status, (Err){err, err_size});
    if (rc != 0) cut_off_if_refused(rf);
    if (rf) release(rf);
    unquiet(q);
    return rc;
}

/* As finish, without the rename: the .tmp stays, marked with status
 * ("interrupted" or "paused"). */
static int suspend(RunFile *rf, const char *status, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    if (put_string_attr(rf->file, "status", status) != 0)
        return fail_h5(e, "%s: cannot mark the run %s", rf->path, status);
    char what[48];
    snprintf(what, sizeof what, "the %s status", status);
    if (flush_checked(rf, e, what) != 0) return -1;
    if (close_file(rf) != 0) return fail_h5(e, "%s: cannot close the run file", rf->path);
    /* On disk before the job ends: the scheduler's SIGKILL may follow. */
    fsync(rf->claim_fd);
    if (!still_named(rf)) return fail_replaced(rf, e);
    return 0;
}

static int suspend_as(RunFile *rf, const char *status, char *err, int err_size)
{
    Quiet q = quiet();
    int rc = suspend(rf, status, (Err){err, err_size});
    if (rc != 0) cut_off_if_refused(rf);
    if (rf) release(rf);
    unquiet(q);
    return rc;
}

int runfile_suspend(RunFile *rf, char *err, int err_size) { return suspend_as(rf, "interrupted", err, err_size); }

int runfile_pause(RunFile *rf, char *err, int err_size) { return suspend_as(rf, "paused", err, err_size); }

void runfile_abandon(RunFile *rf)
{
    if (!rf) return;
    Quiet q = quiet();
    /* what HDF5 still holds need not reach a file about to be deleted */
    if (rf->writable && rf->file >= 0) discard_pending_writes(rf->file);
    close_file(rf);
    unclaim(rf, 1);   /* deletes the .tmp only while it is still this run's */
    free(rf);
    unquiet(q);
}

void runfile_close(RunFile *rf)
{
    if (!rf) return;
    Quiet q = quiet();
    release(rf);
    unquiet(q);
}

/* ---- root attributes ----------------------------------------------------- */

static int set_attr(RunFile *rf, const char *name, hid_t ftype, hid_t mtype, const void *v, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    if (!name || !*name) return fail(e, "%s: empty attribute name", rf->path);
    if (put_attr(rf->file, name, ftype, mtype, v) != 0)
        return fail_h5(e, "%s: cannot write attribute '%s'", rf->path, name);
    return 0;
}

static int set_attr_string(RunFile *rf, const char *name, const char *value, Err e)
{
    if (!value) value = "";
    hid_t t = utf8_string_type();
    int rc = set_attr(rf, name, t, t, &value, e);
    H5Tclose(t);
    return rc;
}

int runfile_set_attr_string(RunFile *rf, const char *name, const char *value, char *err, int err_size)
{
    WRITING(rf, set_attr_string(rf, name, value, (Err){err, err_size}));
}

int runfile_set_attr_double(RunFile *rf, const char *name, double value, char *err, int err_size)
{
    WRITING(rf, set_attr(rf, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, (Err){err, err_size}));
}

int runfile_set_attr_int64(RunFile *rf, const char *name, int64_t value, char *err, int err_size)
{
    WRITING(rf, set_attr(rf, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, (Err){err, err_size}));
}

int runfile_set_attr_uint64(RunFile *rf, const char *name, uint64_t value, char *err, int err_size)
{
    QUIETLY(int, set_attr(rf, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value, (Err){err, err_size}));
}

/* ---- per-epoch table ----------------------------------------------------- */

static int append_row(hid_t g, const char *name, hid_t mtype, const void *val, hsize_t n)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hsize_t grown = n + 1, one = 1;
    int rc = -1;
    if (H5Dset_extent(d, &grown) >= 0) {
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
        if (fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &n, NULL, &one, NULL) >= 0 &&
            H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, val) >= 0)
            rc = 0;
        H5Sclose(ms);
        if (fs >= 0) H5Sclose(fs);
    }
    H5Dclose(d);
    return rc;
}

static int append_epoch(RunFile *rf, const RunEpoch *ep, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    const double vals[N_COLS - 1] = {ep->train_loss, ep->train_accuracy, ep->test_loss,
                                     ep->test_accuracy, ep->lr, ep->seconds,
                                     ep->val_loss, ep->val_accuracy};
    hid_t g = H5Gopen2(rf->file, "epochs", H5P_DEFAULT);
    if (g < 0) return fail_h5(e, "%s: cannot open group /epochs", rf->path);
    hsize_t n = (hsize_t)rf->n_epochs;
    for (int c = 0; c < N_COLS; c++) {
        int rc = c ? append_row(g, EPOCH_COLS[c], H5T_NATIVE_DOUBLE, &vals[c - 1], n)
                   : append_row(g, EPOCH_COLS[c], H5T_NATIVE_INT, &ep->epoch, n);
        if (rc != 0) {
            H5Gclose(g);
            return fail_h5(e, "%s: cannot append to dataset /epochs/%s", rf->path, EPOCH_COLS[c]);
        }
    }
    H5Gclose(g);
    rf->n_epochs++;
    /* a run killed later keeps this epoch */
    char what[40];
    snprintf(what, sizeof what, "after epoch %d", ep->epoch);
    return flush_checked(rf, e, what);
}

int runfile_append_epoch(RunFile *rf, const RunEpoch *e, char *err, int err_size)
{
    WRITING(rf, append_epoch(rf, e, (Err){err, err_size}));
}

/* ---- test results -------------------------------------------------------- */

static int check_test_results(RunFile *rf, const RunTestResults *t, Err e)
{
    if (t->num_classes < 1 || !t->confusion)
        return fail(e, "%s: test results need num_classes >= 1 and a confusion matrix", rf->path);
    if (t->n_mis < 0 || (t->n_mis > 0 && (!t->mis_index || !t->mis_pred || !t->mis_label)))
        return fail(e, "%s: test results: %ld misclassified samples but missing arrays", rf->path,
                    t->n_mis);
    if (t->n_mis_images < 0 || t->n_mis_images > t->n_mis ||
        t->n_mis_images > RUNFILE_MAX_MIS_IMAGES ||
        (t->n_mis_images > 0 && (!t->mis_images || t->image_rows < 1 || t->image_cols < 1)))
        return fail(e, "%s: test results: %ld misclassified images (of %ld misclassified, at most "
                       "%d) with %dx%d pixels", rf->path, t->n_mis_images, t->n_mis,
                    RUNFILE_MAX_MIS_IMAGES, t->image_rows, t->image_cols);
    if (t->n_context < 0 || t->n_context > RUNFILE_MAX_CONTEXT_IMAGES ||
        (t->n_context > 0 && (!t->context_images || t->image_rows < 1 || t->image_cols < 1)))
        return fail(e, "%s: test results: %ld context images (at most %d) with %dx%d pixels",
                    rf->path, t->n_context, RUNFILE_MAX_CONTEXT_IMAGES, t->image_rows, t->image_cols);
    return 0;
}

/* /test/<name>, uint8 [n, rows, cols], chunked along n with an unlimited
 * maximum so each epoch's rewrite resizes it in place. With no images it
 * is cut to n = 0 when present and not created otherwise. */
static int write_images(hid_t g, const char *name, long n, int rows, int cols, const uint8_t *px)
{
    hsize_t dims[3] = {(hsize_t)n, (hsize_t)rows, (hsize_t)cols};
    hid_t d = -1;
    if (H5Lexists(g, name, H5P_DEFAULT) > 0) {
        d = H5Dopen2(g, name, H5P_DEFAULT);
        if (d < 0) return -1;
        hsize_t have[MAX_RANK];
        int same_pixels = dataset_shape(d, have) == 3 &&
                          (dims[0] == 0 || (have[1] == dims[1] && have[2] == dims[2]));
        if (same_pixels) {
            dims[1] = have[1];
            dims[2] = have[2];
        }
        if (!same_pixels || H5Dset_extent(d, dims) < 0) {
            H5Dclose(d);
            d = -1;
            if (H5Ldelete(g, name, H5P_DEFAULT) < 0) return -1;
        }
    }
    if (d < 0 && dims[0] == 0) return 0;
    if (d < 0) {
        hsize_t maxdims[3] = {H5S_UNLIMITED, dims[1], dims[2]}, chunk[3] = {16, dims[1], dims[2]};
        hid_t sp = H5Screate_simple(3, dims, maxdims);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 3, chunk);
        d = H5Dcreate2(g, name, H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Pclose(dcpl);
        H5Sclose(sp);
        if (d < 0) return -1;
    }
    int rc = write_all(d, H5T_NATIVE_UINT8, numel(3, dims), px);
    H5Dclose(d);
    return rc;
}

static int write_test_results(RunFile *rf, const RunTestResults *t, Err e)
{
    if (need_writer(rf, e) != 0 || check_test_results(rf, t, e) != 0) return -1;
    hid_t g = open_or_create_group(rf->file, "test");
    if (g < 0) return fail_h5(e, "%s: cannot open group /test", rf->path);
    hsize_t k[2] = {(hsize_t)t->num_classes, (hsize_t)t->num_classes}, m = (hsize_t)t->n_mis;
    const char *bad = NULL;
    if (write_fixed(g, "confusion", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, k, t->confusion) != 0)
        bad = "confusion";
    else if (write_growing(g, "misclassified_index", H5T_STD_I32LE, H5T_NATIVE_INT32, m, t->mis_index))
        bad = "misclassified_index";
    else if (write_growing(g, "misclassified_pred", H5T_STD_I32LE, H5T_NATIVE_INT32, m, t->mis_pred))
        bad = "misclassified_pred";
    else if (write_growing(g, "misclassified_label", H5T_STD_I32LE, H5T_NATIVE_INT32, m, t->mis_label))
        bad = "misclassified_label";
    else if (write_images(g, "misclassified_images", t->n_mis_images, t->image_rows, t->image_cols,
                          t->mis_images) != 0)
        bad = "misclassified_images";
    else if (write_images(g, "context_images", t->n_context, t->image_rows, t->image_cols,
                          t->context_images) != 0)
        bad = "context_images";
    H5Gclose(g);
    if (bad) return fail_h5(e, "%s: cannot write dataset /test/%s", rf->path, bad);
    return flush_checked(rf, e, "test results");
}

int runfile_write_test_results(RunFile *rf, const RunTestResults *t, char *err, int err_size)
{
    WRITING(rf, write_test_results(rf, t, (Err){err, err_size}));
}

/* ---- weights ---------------------------------------------------------- */

static int write_entry(hid_t g, const ParamEntry *pe, const float *params, const float *buffers)
{
    if (pe->kind == ENTRY_COUNTER) {   /* PyTorch keeps num_batches_tracked as a 0-d int64 */
        int64_t v = (int64_t)llroundf(buffers[pe->offset]);
        return write_fixed(g, pe->name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &v);
    }
    hsize_t dims[TENSOR_MAX_DIMS];
    for (int i = 0; i < pe->ndim; i++) dims[i] = (hsize_t)pe->dims[i];
    const float *src = (pe->kind == ENTRY_PARAM ? params : buffers) + pe->offset;
    return write_fixed(g, pe->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, pe->ndim, dims, src);
}

/* Every entry of t into group g (named where, for messages). */
static int write_entries(RunFile *rf, hid_t g, const char *where, const ParamTable *t, const float *params,
                         const float *buffers, Err e)
{
    for (int i = 0; i < t->count; i++)
        if (write_entry(g, &t->entries[i], params, buffers) != 0)
            return fail_h5(e, "%s: cannot write dataset %s/%s", rf->path, where, t->entries[i].name);
    return 0;
}

static int write_weights(RunFile *rf, const ParamTable *t, const float *params, const float *buffers,
                         Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    hid_t g = open_or_create_group(rf->file, "weights");
    if (g < 0) return fail_h5(e, "%s: cannot open group /weights", rf->path);
    int rc = write_entries(rf, g, "/weights", t, params, buffers, e);
    H5Gclose(g);
    return rc ? rc : flush_checked(rf, e, "weights");
}

int runfile_write_weights(RunFile *rf, const ParamTable *table, const float *params,
                          const float *buffers, char *err, int err_size)
{
    WRITING(rf, write_weights(rf, table, params, buffers, (Err){err, err_size}));
}

/* /best/weights, then /best's epoch: a reader never sees an epoch whose
 * weights are not all there. */
static int write_best_weights(RunFile *rf, const ParamTable *t, const float *params, const float *buffers,
                              int64_t epoch, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    hid_t best = open_or_create_group(rf->file, "best");
    if (best < 0) return fail_h5(e, "%s: cannot open group /best", rf->path);
    hid_t g = open_or_create_group(best, "weights");
    int rc = g < 0 ? fail_h5(e, "%s: cannot open group /best/weights", rf->path)
                   : write_entries(rf, g, "/best/weights", t, params, buffers, e);
    if (g >= 0) H5Gclose(g);
    if (rc == 0 && put_int64_attr(best, "epoch", epoch) != 0)
        rc = fail_h5(e, "%s: cannot write attribute /best epoch", rf->path);
    H5Gclose(best);
    return rc ? rc : flush_checked(rf, e, "best weights");
}

int runfile_write_best_weights(RunFile *rf, const ParamTable *table, const float *params,
                               const float *buffers, int64_t epoch, char *err, int err_size)
{
    WRITING(rf, write_best_weights(rf, table, params, buffers, epoch, (Err){err, err_size}));
}

/* ---- the validation split -------------------------------------------------- */

static int write_validation(RunFile *rf, const int32_t *indices, long n, const char *rule, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    hid_t g = open_or_create_group(rf->file, "validation");
    if (g < 0) return fail_h5(e, "%s: cannot open group /validation", rf->path);
    hsize_t dims[1] = {(hsize_t)n};
    int rc = 0;
    if (write_fixed(g, "indices", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, indices) != 0)
        rc = fail_h5(e, "%s: cannot write dataset /validation/indices", rf->path);
    else if (put_string_attr(g, "rule", rule) != 0)
        rc = fail_h5(e, "%s: cannot write attribute /validation rule", rf->path);
    H5Gclose(g);
    return rc ? rc : flush_checked(rf, e, "the validation split");
}

int runfile_write_validation(RunFile *rf, const int32_t *indices, long n, const char *rule, char *err,
                             int err_size)
{
    WRITING(rf, write_validation(rf, indices, n, rule, (Err){err, err_size}));
}

/* ---- checkpoint ---------------------------------------------------------- */

/* params and buffers are always stored (possibly empty); an optional
 * optimizer state that is NULL now is deleted, so a stale one is never
 * read back. */
static int write_vector(hid_t g, const char *name, const float *data, long n, int optional)
{
    if (optional && !data) {
        if (H5Lexists(g, name, H5P_DEFAULT) > 0) return H5Ldelete(g, name, H5P_DEFAULT) < 0 ? -1 : 0;
        return 0;
    }
    if (!data && n > 0) return -1;
    hsize_t dim = (hsize_t)n;
    return write_fixed(g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &dim, data);
}

static int checkpoint_arrays(hid_t g, const RunCheckpoint *ck, const char **bad)
{
    const char *names[4] = {"params", "buffers", "state1", "state2"};
    const float *data[4] = {ck->params, ck->buffers, ck->state1, ck->state2};
    const long n[4] = {ck->n_params, ck->n_buffers, ck->n_state, ck->n_state};
    for (int i = 0; i < 4; i++) {
        if (write_vector(g, names[i], data[i], n[i], i >= 2) != 0) {
            *bad = names[i];
            return -1;
        }
    }
    return 0;
}

/* Where inside the next epoch the checkpoint stands (all 0 at an epoch's
 * end): written on every checkpoint, so an epoch-end checkpoint after a
 * mid-epoch one never inherits its position. */
static int checkpoint_position(hid_t g, const RunCheckpoint *ck, const char **bad)
{
    if (put_int64_attr(g, *bad = "batch", ck->batch) || put_double_attr(g, *bad = "train_loss_sum", ck->train_loss_sum)
        || put_int64_attr(g, *bad = "train_correct", ck->train_correct)
        || put_double_attr(g, *bad = "epoch_seconds", ck->epoch_seconds))
        return -1;
    return 0;
}

/* The epoch attribute is set to -1 (and flushed) before the arrays are
 * rewritten in place and restored after, so a run killed in the middle of
 * the rewrite leaves a checkpoint that says it is unusable instead of one
 * that mixes two epochs (or two steps). */
static int write_checkpoint(RunFile *rf, const RunCheckpoint *ck, Err e)
{
    if (need_writer(rf, e) != 0) return -1;
    if (ck->epoch < 0 || ck->n_params < 0 || ck->n_buffers < 0 || ck->n_state < 0 || ck->batch < 0
        || ck->train_correct < 0)
        return fail(e, "%s: checkpoint with negative epoch, position or size", rf->path);
    hid_t g = open_or_create_group(rf->file, "checkpoint");
    if (g < 0) return fail_h5(e, "%s: cannot open group /checkpoint", rf->path);
    const char *bad = "epoch";
    int rc = put_int64_attr(g, "epoch", -1) == 0 && flush(rf) == 0 ? 0 : -1;
    if (rc == 0) rc = checkpoint_arrays(g, ck, &bad);
    if (rc == 0 && (rc = put_int64_attr(g, "step", ck->step)) != 0) bad = "step";
    if (rc == 0) rc = checkpoint_position(g, ck, &bad);
    if (rc == 0 && (rc = put_int64_attr(g, "epoch", ck->epoch)) != 0) bad = "epoch";
    H5Gclose(g);
    if (rc != 0) return fail_h5(e, "%s: cannot write /checkpoint/%s", rf->path, bad);
    return flush_checked(rf, e, "the checkpoint");
}

int runfile_write_checkpoint(RunFile *rf, const RunCheckpoint *ck, char *err, int err_size)
{
    WRITING(rf, write_checkpoint(rf, ck, (Err){err, err_size}));
}

/* ---- opening for reading ------------------------------------------------- */

static int get_attr_string(RunFile *rf, const char *name, char *buf, int size, Err e);
static int get_attr_number(RunFile *rf, const char *name, hid_t mtype, int want_int, void *out, Err e);

static int check_format(RunFile *rf, Err e)
{
    char fmt[64];
    if (H5Aexists(rf->file, "format") <= 0)
        return fail(e, "%s: not a sweeprun run file (an HDF5 file without the root attribute "
                       "format = \"%s\")", rf->path, RUNFILE_FORMAT);
    if (get_attr_string(rf, "format", fmt, sizeof fmt, e) != 0) return -1;
    if (strcmp(fmt, RUNFILE_FORMAT) != 0)
        return fail(e, "%s: not a sweeprun run file: format is \"%s\", expected \"%s\"", rf->path,
                    fmt, RUNFILE_FORMAT);
    int64_t version;
    if (get_attr_number(rf, "format_version", H5T_NATIVE_INT64, 1, &version, e) != 0) return -1;
    if (version < 1 || version > RUNFILE_FORMAT_VERSION)
        return fail(e, "%s: run file format_version %lld; this sweeprun reads versions 1..%d",
                    rf->path, (long long)version, RUNFILE_FORMAT_VERSION);
    return 0;
}

/* A run file for reading (writers claim theirs: claim, open_claimed). */
static RunFile *open_existing(const char *path, Err e)
{
    struct stat st;
    if (access(path, R_OK) != 0 || stat(path, &st) != 0) {
        fail(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(e, "%s: not a regular file, so not a sweeprun run file", path);
        return NULL;
    }
    if (H5Fis_hdf5(path) <= 0) {
        fail(e, "%s: not an HDF5 file, so not a sweeprun run file", path);
        return NULL;
    }
    RunFile *rf = new_handle(path, e);
    if (!rf) return NULL;
    snprintf(rf->path, sizeof rf->path, "%s", path);
    rf->writable = 0;
    hid_t fapl = strong_close_fapl();
    rf->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (rf->file < 0) {
        /* HDF5 1.10 locks a file open for writing: the usual cause is a run
         * still in progress */
        int locked = strstr(h5_detail, "unable to lock") != NULL;
        fail_h5(e, "%s: cannot open the HDF5 file%s", path,
                locked ? "; another process has it open for writing (a run in progress?); "
                         "HDF5_USE_FILE_LOCKING=FALSE reads it anyway" : "");
        free(rf);
        return NULL;
    }
    if (check_format(rf, e) != 0) {
        release(rf);
        return NULL;
    }
    return rf;
}

RunFile *runfile_open(const char *path, char *err, int err_size)
{
    QUIETLY(RunFile *, open_existing(path, (Err){err, err_size}));
}

/* A later column missing from a run written before it existed: created
 * with n rows of NaN, so the resumed run appends to every column. */
static int add_missing_column(RunFile *rf, hid_t g, int c, hsize_t n, Err e)
{
    if (c < N_REQUIRED_COLS || H5Lexists(g, EPOCH_COLS[c], H5P_DEFAULT) > 0) return 0;
    double *nan_rows = malloc((size_t)(n ? n : 1) * sizeof *nan_rows);
    if (!nan_rows) return fail(e, "%s: out of memory adding /epochs/%s", rf->path, EPOCH_COLS[c]);
    for (hsize_t i = 0; i < n; i++) nan_rows[i] = NAN;
    hid_t d = create_growing(g, EPOCH_COLS[c], H5T_IEEE_F64LE, n, EPOCH_CHUNK);
    int rc = d >= 0 && write_all(d, H5T_NATIVE_DOUBLE, n, nan_rows) == 0 ? 0 : -1;
    if (d >= 0) H5Dclose(d);
    free(nan_rows);
    return rc == 0 ? 0 : fail_h5(e, "%s: cannot add dataset /epochs/%s", rf->path, EPOCH_COLS[c]);
}

/* Cut every epoch column to n rows (rows after the checkpoint are redone). */
static int truncate_epochs(RunFile *rf, hsize_t n, Err e)
{
    hid_t g = H5Gopen2(rf->file, "epochs", H5P_DEFAULT);
    if (g < 0) return fail_h5(e, "%s: cannot open group /epochs", rf->path);
    int rc = 0;
    for (int c = 0; c < N_COLS && rc == 0; c++) {
        if (add_missing_column(rf, g, c, n, e) != 0) {
            rc = -1;
            break;
        }
        hid_t d = H5Dopen2(g, EPOCH_COLS[c], H5P_DEFAULT);
        hsize_t dims[MAX_RANK];
        int rank = d >= 0 ? dataset_shape(d, dims) : -1;
        if (rank != 1)
            rc = fail_h5(e, "%s: dataset /epochs/%s is missing or not 1-D", rf->path, EPOCH_COLS[c]);
        else if (dims[0] < n)
            rc = fail(e, "%s: dataset /epochs/%s has %llu rows, cannot resume after epoch %llu",
                      rf->path, EPOCH_COLS[c], (unsigned long long)dims[0], (unsigned long long)n);
        else if (H5Dset_extent(d, &n) < 0)
            rc = fail_h5(e, "%s: cannot shorten /epochs/%s", rf->path, EPOCH_COLS[c]);
        if (d >= 0) H5Dclose(d);
    }
    H5Gclose(g);
    return rc;
}

/* The claimed .tmp of an interrupted run, opened for writing. */
static int open_interrupted(RunFile *rf, Err e)
{
    if (H5Fis_hdf5(rf->path) <= 0)
        return fail(e, "%s: not an HDF5 file, so not a sweeprun run file", rf->path);
    if (open_claimed(rf, e) != 0) return -1;
    return check_format(rf, e);
}

static RunFile *resume(const char *final_path, int64_t epochs_done, Err e)
{
    char tmp[RF_PATH_MAX];
    if (path_exists(final_path)) {
        fail(e, "%s: the run is already finished; nothing to resume", final_path);
        return NULL;
    }
    if (runfile_tmp_path(final_path, tmp, sizeof tmp) != 0 || epochs_done < 0) {
        fail(e, "%s: path too long or negative epoch count", final_path);
        return NULL;
    }
    if (!path_exists(tmp)) {
        fail(e, "%s: nothing to resume: %s does not exist", final_path, tmp);
        return NULL;
    }
    RunFile *rf = new_handle(final_path, e);
    if (!rf) return NULL;
    if (claim(rf, 0, e) != 0 || open_interrupted(rf, e) != 0) {
        release(rf);
        return NULL;
    }
    if (truncate_epochs(rf, (hsize_t)epochs_done, e) != 0) {
        release(rf);
        return NULL;
    }
    rf->n_epochs = (long)epochs_done;
    if (put_string_attr(rf->file, "status", "running") != 0 || flush(rf) != 0) {
        fail_h5(e, "%s: cannot mark the run as running again", rf->path);
        release(rf);
        return NULL;
    }
    return rf;
}

RunFile *runfile_resume(const char *final_path, int64_t epochs_done, char *err, int err_size)
{
    QUIETLY(RunFile *, resume(final_path, epochs_done, (Err){err, err_size}));
}

/* ---- reading attributes -------------------------------------------------- */

/* Attribute name of loc (`where` names loc in messages: "root", "/checkpoint"),
 * opened only when it holds exactly one value: every reader reads one. */
static hid_t open_single_attr(RunFile *rf, hid_t loc, const char *where, const char *name, Err e)
{
    if (!rf) return fail(e, "no run file (NULL handle)");
    if (H5Aexists(loc, name) <= 0) return fail(e, "%s: no %s attribute '%s'", rf->path, where, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return fail_h5(e, "%s: cannot open attribute '%s'", rf->path, name);
    hid_t sp = H5Aget_space(a);
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (n != 1) {
        H5Aclose(a);
        return fail(e, "%s: attribute '%s' holds %lld values, expected one", rf->path, name,
                    (long long)n);
    }
    return a;
}

static hid_t open_attr(RunFile *rf, const char *name, Err e)
{
    return open_single_attr(rf, rf ? rf->file : -1, "root", name, e);
}

/* Read a string attribute (variable or fixed length) into a malloc'd copy. */
static char *read_string(hid_t a, hid_t ftype)
{
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t mt = utf8_string_type();
        H5Tset_cset(mt, H5Tget_cset(ftype));
        char *s = NULL, *copy = NULL;
        if (H5Aread(a, mt, &s) >= 0) copy = strdup(s ? s : "");
        if (s) H5free_memory(s);
        H5Tclose(mt);
        return copy;
    }
    size_t n = H5Tget_size(ftype);
    if (n == 0 || n > MAX_FIXED_STRING) return NULL;
    char *s = calloc(1, n + 1);
    if (s && H5Aread(a, ftype, s) < 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static int get_attr_string(RunFile *rf, const char *name, char *buf, int size, Err e)
{
    hid_t a = open_attr(rf, name, e);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int rc = 0;
    char *s = NULL;
    if (H5Tget_class(t) != H5T_STRING)
        rc = fail(e, "%s: attribute '%s' is not a string", rf->path, name);
    else if (!(s = read_string(a, t)))
        rc = fail_h5(e, "%s: cannot read attribute '%s'", rf->path, name);
    else if ((int)strlen(s) >= size)
        rc = fail(e, "%s: attribute '%s' is longer than %d bytes", rf->path, name, size - 1);
    else
        memcpy(buf, s, strlen(s) + 1);
    free(s);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int get_attr_number(RunFile *rf, const char *name, hid_t mtype, int want_int, void *out, Err e)
{
    hid_t a = open_attr(rf, name, e);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(t);
    int rc = 0;
    if (cls != H5T_INTEGER && (want_int || cls != H5T_FLOAT))
        rc = fail(e, "%s: attribute '%s' is not %s", rf->path, name,
                  want_int ? "an integer" : "a number");
    else if (H5Aread(a, mtype, out) < 0)
        rc = fail_h5(e, "%s: cannot read attribute '%s'", rf->path, name);
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int has_attr(RunFile *rf, const char *name)
{
    return rf && name && H5Aexists(rf->file, name) > 0;
}

int runfile_has_attr(RunFile *rf, const char *name) { QUIETLY(int, has_attr(rf, name)); }

int runfile_read_attr_string(RunFile *rf, const char *name, char *buf, int buf_size,
                             char *err, int err_size)
{
    QUIETLY(int, get_attr_string(rf, name, buf, buf_size, (Err){err, err_size}));
}

int runfile_read_attr_double(RunFile *rf, const char *name, double *out, char *err, int err_size)
{
    QUIETLY(int, get_attr_number(rf, name, H5T_NATIVE_DOUBLE, 0, out, (Err){err, err_size}));
}

int runfile_read_attr_int64(RunFile *rf, const char *name, int64_t *out, char *err, int err_size)
{
    QUIETLY(int, get_attr_number(rf, name, H5T_NATIVE_INT64, 1, out, (Err){err, err_size}));
}

typedef struct VisitCtx {
    int (*visit)(const char *, RunAttrKind, void *);
    void *user;
    int rc;
} VisitCtx;

static herr_t visit_one(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    VisitCtx *v = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    RunAttrKind kind = cls == H5T_STRING ? RUN_ATTR_STRING
                       : cls == H5T_FLOAT ? RUN_ATTR_FLOAT
                       : cls == H5T_INTEGER ? RUN_ATTR_INT : RUN_ATTR_OTHER;
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    v->rc = v->visit(name, kind, v->user);
    return v->rc ? 1 : 0;
}

static int visit_attrs(RunFile *rf, int (*visit)(const char *, RunAttrKind, void *), void *user, Err e)
{
    if (!rf) return fail(e, "no run file (NULL handle)");
    VisitCtx v = {visit, user, 0};
    hsize_t idx = 0;
    if (H5Aiterate2(rf->file, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_one, &v) < 0)
        return fail_h5(e, "%s: cannot list the root attributes", rf->path);
    return v.rc;
}

int runfile_visit_attrs(RunFile *rf, int (*visit)(const char *name, RunAttrKind kind, void *user),
                        void *user, char *err, int err_size)
{
    QUIETLY(int, visit_attrs(rf, visit, user, (Err){err, err_size}));
}

/* ---- reading arrays ------------------------------------------------------ */

/* Open group/name and check its rank; dims receives the shape. */
static hid_t open_dataset(RunFile *rf, const char *group, const char *name, int rank,
                          hsize_t dims[MAX_RANK], Err e)
{
    char full[512];
    snprintf(full, sizeof full, "/%s/%s", group, name);
    if (H5Lexists(rf->file, group, H5P_DEFAULT) <= 0 || H5Lexists(rf->file, full, H5P_DEFAULT) <= 0)
        return fail(e, "%s: dataset %s is missing", rf->path, full);
    hid_t d = H5Dopen2(rf->file, full, H5P_DEFAULT);
    if (d < 0) return fail_h5(e, "%s: cannot open dataset %s", rf->path, full);
    int r = dataset_shape(d, dims);
    if (r != rank) {
        H5Dclose(d);
        return fail(e, "%s: dataset %s has %d dimensions, expected %d", rf->path, full, r, rank);
    }
    return d;
}

/* Read the first n values of a 1-D dataset. */
static int read_prefix(hid_t d, hid_t mtype, hsize_t n, void *dst)
{
    if (n == 0) return 0;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &n, NULL);
    hsize_t start = 0;
    int rc = fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL) >= 0 &&
                     H5Dread(d, mtype, ms, fs, H5P_DEFAULT, dst) >= 0
                 ? 0 : -1;
    H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc;
}

/* 0 for a later column (validation) that a file written before it lacks;
 * every other column is required, and a missing one is an error where it
 * is opened. */
static int column_present(RunFile *rf, int c)
{
    if (c < N_REQUIRED_COLS) return 1;
    char full[64];
    snprintf(full, sizeof full, "/epochs/%s", EPOCH_COLS[c]);
    return H5Lexists(rf->file, "epochs", H5P_DEFAULT) > 0 && H5Lexists(rf->file, full, H5P_DEFAULT) > 0;
}

static long epoch_rows(RunFile *rf, Err e)
{
    hsize_t n = (hsize_t)-1;
    for (int c = 0; c < N_COLS; c++) {
        if (!column_present(rf, c)) continue;
        hsize_t dims[MAX_RANK];
        hid_t d = open_dataset(rf, "epochs", EPOCH_COLS[c], 1, dims, e);
        if (d < 0) return -1;
        H5Dclose(d);
        if (dims[0] < n) n = dims[0];
    }
    return (long)n;
}

/* More rows than the run can have: past MAX_EPOCHS, or past the run's own
 * configured `epochs` (root attribute, when it is an integer). */
static int check_epoch_count(RunFile *rf, long n, Err e)
{
    if (n > MAX_EPOCHS)
        return fail(e, "%s: /epochs holds %ld rows, at most %d (the most epochs a run can have)", rf->path, n,
                    MAX_EPOCHS);
    int64_t configured;
    if (has_attr(rf, "epochs") && get_attr_number(rf, "epochs", H5T_NATIVE_INT64, 1, &configured, (Err){0, 0}) == 0
        && n > configured)
        return fail(e, "%s: /epochs holds %ld rows, more than the run's configured epochs = %lld", rf->path, n,
                    (long long)configured);
    return 0;
}

static int read_epochs(RunFile *rf, RunEpochs *out, Err e)
{
    memset(out, 0, sizeof *out);
    if (!rf) return fail(e, "no run file (NULL handle)");
    long n = epoch_rows(rf, e);
    if (n < 0 || check_epoch_count(rf, n, e)) return -1;
    double **cols[N_COLS - 1] = {&out->train_loss, &out->train_accuracy, &out->test_loss,
                                 &out->test_accuracy, &out->lr, &out->seconds,
                                 &out->val_loss, &out->val_accuracy};
    size_t rows = n ? (size_t)n : 1;
    int rc = (out->epoch = calloc(rows, sizeof(int))) ? 0 : -1;
    for (int c = 0; c < N_COLS - 1 && rc == 0; c++)
        rc = (*cols[c] = calloc(rows, sizeof(double))) ? 0 : -1;
    if (rc != 0) {
        run_epochs_free(out);
        return fail(e, "%s: out of memory reading %ld epochs", rf->path, n);
    }
    for (int c = 0; c < N_COLS; c++) {
        if (!column_present(rf, c)) {
            for (long i = 0; i < n; i++) (*cols[c - 1])[i] = NAN;
            continue;
        }
        hsize_t dims[MAX_RANK];
        hid_t d = open_dataset(rf, "epochs", EPOCH_COLS[c], 1, dims, e);
        if (d >= 0) {
            rc = c ? read_prefix(d, H5T_NATIVE_DOUBLE, (hsize_t)n, *cols[c - 1])
                   : read_prefix(d, H5T_NATIVE_INT, (hsize_t)n, out->epoch);
            H5Dclose(d);
            if (rc != 0) fail_h5(e, "%s: cannot read dataset /epochs/%s", rf->path, EPOCH_COLS[c]);
        }
        if (d < 0 || rc != 0) {
            run_epochs_free(out);
            return -1;
        }
    }
    out->count = n;
    out->has_validation = 0;
    for (long i = 0; i < n; i++) out->has_validation |= isfinite(out->val_accuracy[i]) != 0;
    return 0;
}

int runfile_read_epochs(RunFile *rf, RunEpochs *out, char *err, int err_size)
{
    QUIETLY(int, read_epochs(rf, out, (Err){err, err_size}));
}

void run_epochs_free(RunEpochs *e)
{
    if (!e) return;
    free(e->epoch);
    free(e->train_loss);
    free(e->train_accuracy);
    free(e->test_loss);
    free(e->test_accuracy);
    free(e->lr);
    free(e->seconds);
    free(e->val_loss);
    free(e->val_accuracy);
    memset(e, 0, sizeof *e);
}

/* ---- choosing on validation ------------------------------------------------ */

int run_val_better(double acc, double loss, double best_acc, double best_loss)
{
    if (isnan(acc)) return 0;
    if (isnan(best_acc)) return 1;
    if (acc != best_acc) return acc > best_acc;
    return !isnan(loss) && (isnan(best_loss) || loss < best_loss);
}

long run_epochs_best_row(const RunEpochs *e, long rows)
{
    if (!e->val_accuracy) return -1;
    if (rows > e->count) rows = e->count;
    long best = -1;
    for (long i = 0; i < rows; i++)
        if (best < 0 ? !isnan(e->val_accuracy[i])
                     : run_val_better(e->val_accuracy[i], e->val_loss[i], e->val_accuracy[best], e->val_loss[best]))
            best = i;
    return best;
}

double run_epochs_mean_seconds(const RunEpochs *e)
{
    if (e->count <= 0) return NAN;
    double sum = 0;
    for (long i = 0; i < e->count; i++) sum += e->seconds[i];
    return sum / (double)e->count;
}

/* Read a whole 1-D int32 test dataset of exactly n values (n known). */
static int read_mis(RunFile *rf, const char *name, hsize_t n, int32_t **dst, Err e)
{
    hsize_t dims[MAX_RANK];
    hid_t d = open_dataset(rf, "test", name, 1, dims, e);
    if (d < 0) return -1;
    int rc = 0;
    if (dims[0] != n)
        rc = fail(e, "%s: dataset /test/%s has %llu values, /test/misclassified_index has %llu",
                  rf->path, name, (unsigned long long)dims[0], (unsigned long long)n);
    else if (!(*dst = malloc((n ? n : 1) * sizeof(int32_t))))
        rc = fail(e, "%s: out of memory", rf->path);
    else if (read_prefix(d, H5T_NATIVE_INT32, n, *dst) != 0)
        rc = fail_h5(e, "%s: cannot read dataset /test/%s", rf->path, name);
    H5Dclose(d);
    return rc;
}

static int read_confusion(RunFile *rf, RunTestResults *out, Err e)
{
    hsize_t dims[MAX_RANK];
    hid_t d = open_dataset(rf, "test", "confusion", 2, dims, e);
    if (d < 0) return -1;
    int rc = 0;
    if (dims[0] != dims[1] || dims[0] == 0 || dims[0] > MAX_CLASSES)
        rc = fail(e, "%s: dataset /test/confusion is %llux%llu, expected a square matrix of at most %d classes",
                  rf->path, (unsigned long long)dims[0], (unsigned long long)dims[1], MAX_CLASSES);
    else if (!(out->confusion = malloc(dims[0] * dims[1] * sizeof(int64_t))))
        rc = fail(e, "%s: out of memory", rf->path);
    else if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->confusion) < 0)
        rc = fail_h5(e, "%s: cannot read dataset /test/confusion", rf->path);
    out->num_classes = (int)dims[0];
    H5Dclose(d);
    return rc;
}

/* An optional /test/<name> of at most max uint8 images; *n = 0 when absent. */
static int read_images(RunFile *rf, const char *name, hsize_t max, long *n, uint8_t **px,
                       RunTestResults *out, Err e)
{
    char full[128];
    snprintf(full, sizeof full, "/test/%s", name);
    if (H5Lexists(rf->file, full, H5P_DEFAULT) <= 0) return 0;
    hsize_t dims[MAX_RANK];
    hid_t d = open_dataset(rf, "test", name, 3, dims, e);
    if (d < 0) return -1;
    int rc = 0;
    if (dims[0] > max || dims[1] < 1 || dims[2] < 1 || dims[1] > MAX_IMAGE_SIDE || dims[2] > MAX_IMAGE_SIDE ||
        (dims[0] > 0 && out->image_rows && ((hsize_t)out->image_rows != dims[1] ||
                                            (hsize_t)out->image_cols != dims[2])))
        rc = fail(e, "%s: dataset %s is [%llu, %llu, %llu], expected at most %llu images of the "
                     "same size as the other test images, at most %dx%d", rf->path, full, (unsigned long long)dims[0],
                  (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)max,
                  MAX_IMAGE_SIDE, MAX_IMAGE_SIDE);
    else if (!(*px = malloc(dims[0] * dims[1] * dims[2] + 1)))
        rc = fail(e, "%s: out of memory", rf->path);
    else if (dims[0] > 0 && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, *px) < 0)
        rc = fail_h5(e, "%s: cannot read dataset %s", rf->path, full);
    if (rc == 0) {
        *n = (long)dims[0];
        if (dims[0] > 0) {
            out->image_rows = (int)dims[1];
            out->image_cols = (int)dims[2];
        }
    }
    H5Dclose(d);
    return rc;
}

/* The misclassified lists hold one entry per off-diagonal count of the
 * confusion matrix, which counts at most the run's test images (root
 * attribute test_images, when it is an integer): so n_mis is bounded by
 * what the matrix says before the lists are allocated. */
static int check_mis_count(RunFile *rf, const RunTestResults *t, hsize_t n_mis, Err e)
{
    int k = t->num_classes;
    int64_t total = 0, wrong = 0, images;
    for (int i = 0; i < k * k; i++) {
        int64_t c = t->confusion[i];
        if (c < 0 || c > INT32_MAX)
            return fail(e, "%s: dataset /test/confusion holds the count %lld, expected 0..%d", rf->path,
                        (long long)c, INT32_MAX);
        total += c;
        if (i / k != i % k) wrong += c;
    }
    if (has_attr(rf, "test_images") && get_attr_number(rf, "test_images", H5T_NATIVE_INT64, 1, &images, (Err){0, 0}) == 0
        && total > images)
        return fail(e, "%s: dataset /test/confusion counts %lld images, the run has test_images = %lld", rf->path,
                    (long long)total, (long long)images);
    if (n_mis > (hsize_t)wrong)
        return fail(e, "%s: dataset /test/misclassified_index has %llu values, but the confusion matrix counts "
                       "%lld misclassified", rf->path, (unsigned long long)n_mis, (long long)wrong);
    return 0;
}

static int read_test_results(RunFile *rf, RunTestResults *out, Err e)
{
    memset(out, 0, sizeof *out);
    if (!rf) return fail(e, "no run file (NULL handle)");
    hsize_t dims[MAX_RANK];
    int rc = read_confusion(rf, out, e);
    hid_t d = rc == 0 ? open_dataset(rf, "test", "misclassified_index", 1, dims, e) : -1;
    if (d < 0) rc = -1;
    else H5Dclose(d);
    if (rc == 0) rc = check_mis_count(rf, out, dims[0], e);
    if (rc == 0) rc = read_mis(rf, "misclassified_index", dims[0], &out->mis_index, e);
    if (rc == 0) rc = read_mis(rf, "misclassified_pred", dims[0], &out->mis_pred, e);
    if (rc == 0) rc = read_mis(rf, "misclassified_label", dims[0], &out->mis_label, e);
    hsize_t mis_cap = dims[0] < RUNFILE_MAX_MIS_IMAGES ? dims[0] : RUNFILE_MAX_MIS_IMAGES;
    if (rc == 0)
        rc = read_images(rf, "misclassified_images", mis_cap, &out->n_mis_images, &out->mis_images, out, e);
    if (rc == 0)
        rc = read_images(rf, "context_images", RUNFILE_MAX_CONTEXT_IMAGES, &out->n_context,
                         &out->context_images, out, e);
    if (rc != 0) {
        run_test_results_free(out);
        return -1;
    }
    out->n_mis = (long)dims[0];
    return 0;
}

int runfile_read_test_results(RunFile *rf, RunTestResults *out, char *err, int err_size)
{
    QUIETLY(int, read_test_results(rf, out, (Err){err, err_size}));
}

void run_test_results_free(RunTestResults *t)
{
    if (!t) return;
    free(t->confusion);
    free(t->mis_index);
    free(t->mis_pred);
    free(t->mis_label);
    free(t->mis_images);
    free(t->context_images);
    memset(t, 0, sizeof *t);
}

/* ---- reading weights ------------------------------------------------------ */

/* " (written by model X)" when the file says, to explain a mismatch. */
static void model_note(RunFile *rf, char *buf, size_t size)
{
    char model[128];
    buf[0] = '\0';
    if (has_attr(rf, "model") && get_attr_string(rf, "model", model, sizeof model, (Err){0, 0}) == 0)
        snprintf(buf, size, " (the file was written by model '%s')", model);
}

static int check_entry_shape(RunFile *rf, const char *group, const ParamEntry *pe, int rank, const hsize_t *dims,
                             Err e)
{
    hsize_t want[TENSOR_MAX_DIMS];
    int want_rank = pe->kind == ENTRY_COUNTER ? 0 : pe->ndim;
    for (int i = 0; i < want_rank; i++) want[i] = (hsize_t)pe->dims[i];
    /* a counter saved as [1] instead of [] is the same number */
    if (pe->kind == ENTRY_COUNTER && numel(rank, dims) == 1) return 0;
    if (same_shape(rank, dims, want_rank, want)) return 0;
    char have_s[128], want_s[128], note[200];
    format_shape(have_s, sizeof have_s, rank, dims);
    format_shape(want_s, sizeof want_s, want_rank, want);
    model_note(rf, note, sizeof note);
    return fail(e, "%s: dataset /%s/%s has shape %s, the model expects %s%s", rf->path, group,
                pe->name, have_s, want_s, note);
}

static int read_entry(RunFile *rf, const char *group, const ParamEntry *pe, float *params, float *buffers,
                      Err e)
{
    hsize_t dims[MAX_RANK];
    char full[128];
    snprintf(full, sizeof full, "/%s/%s", group, pe->name);
    if (H5Lexists(rf->file, full, H5P_DEFAULT) <= 0) {
        char note[200];
        model_note(rf, note, sizeof note);
        return fail(e, "%s: dataset %s is missing%s", rf->path, full, note);
    }
    hid_t d = H5Dopen2(rf->file, full, H5P_DEFAULT);
    if (d < 0) return fail_h5(e, "%s: cannot open dataset %s", rf->path, full);
    int rank = dataset_shape(d, dims), rc = -1;
    if (rank < 0) fail_h5(e, "%s: cannot read the shape of %s", rf->path, full);
    else if (check_entry_shape(rf, group, pe, rank, dims, e) == 0) {
        int64_t count;
        float *dst = (pe->kind == ENTRY_PARAM ? params : buffers) + pe->offset;
        herr_t r = pe->kind == ENTRY_COUNTER
                       ? H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &count)
                       : H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst);
        if (r < 0) fail_h5(e, "%s: cannot read dataset %s", rf->path, full);
        else rc = 0;
        if (r >= 0 && pe->kind == ENTRY_COUNTER) *dst = (float)count;
    }
    H5Dclose(d);
    return rc;
}

/* Every table entry was found; any further dataset belongs to another model. */
static int check_no_extra(RunFile *rf, const char *group, const ParamTable *t, Err e)
{
    hid_t g = H5Gopen2(rf->file, group, H5P_DEFAULT);
    H5G_info_t info;
    if (g < 0 || H5Gget_info(g, &info) < 0) {
        if (g >= 0) H5Gclose(g);
        return fail_h5(e, "%s: cannot list group /%s", rf->path, group);
    }
    int rc = 0;
    for (hsize_t i = 0; i < info.nlinks && rc == 0 && info.nlinks != (hsize_t)t->count; i++) {
        char name[256];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                               H5P_DEFAULT) < 0)
            continue;
        if (param_table_find(t, name) < 0) {
            char note[200];
            model_note(rf, note, sizeof note);
            rc = fail(e, "%s: dataset /%s/%s is not a weight of this model (file has %llu "
                         "weights, model has %d)%s", rf->path, group, name,
                      (unsigned long long)info.nlinks, t->count, note);
        }
    }
    if (rc == 0 && info.nlinks != (hsize_t)t->count)
        rc = fail(e, "%s: /%s holds %llu datasets, the model has %d weights", rf->path, group,
                  (unsigned long long)info.nlinks, t->count);
    H5Gclose(g);
    return rc;
}

static int read_best_epoch(RunFile *rf, int64_t *epoch, Err e)
{
    hid_t g = H5Gopen2(rf->file, "best", H5P_DEFAULT);
    if (g < 0) return fail_h5(e, "%s: cannot open group /best", rf->path);
    hid_t a = open_single_attr(rf, g, "/best", "epoch", e);
    int rc = a < 0 ? -1 : 0;
    if (a >= 0 && H5Aread(a, H5T_NATIVE_INT64, epoch) < 0)
        rc = fail_h5(e, "%s: cannot read attribute /best epoch", rf->path);
    if (a >= 0) H5Aclose(a);
    H5Gclose(g);
    return rc;
}

/* group: "weights" or "best/weights"; epoch (may be NULL): /best's epoch. */
static int read_weights(const char *path, const char *group, const ParamTable *t, float *params, float *buffers,
                        int64_t *epoch, Err e)
{
    RunFile *rf = open_existing(path, e);
    if (!rf) return -1;
    int rc = 0;
    int best = strcmp(group, "weights") != 0;
    if ((best && H5Lexists(rf->file, "best", H5P_DEFAULT) <= 0) || H5Lexists(rf->file, group, H5P_DEFAULT) <= 0)
        rc = best ? fail(e, "%s: no /best/weights: the run has no best-by-validation epoch (trained without a "
                            "validation split, or written before validation existed)", path)
                  : fail(e, "%s: no /weights group", path);
    for (int i = 0; i < t->count && rc == 0; i++)
        rc = read_entry(rf, group, &t->entries[i], params, buffers, e);
    if (rc == 0) rc = check_no_extra(rf, group, t, e);
    if (rc == 0 && epoch) rc = read_best_epoch(rf, epoch, e);
    release(rf);
    return rc;
}

int runfile_read_weights(const char *path, const ParamTable *table, float *params, float *buffers,
                         char *err, int err_size)
{
    QUIETLY(int, read_weights(path, "weights", table, params, buffers, NULL, (Err){err, err_size}));
}

int runfile_read_best_weights(const char *path, const ParamTable *table, float *params, float *buffers,
                              int64_t *epoch, char *err, int err_size)
{
    QUIETLY(int, read_weights(path, "best/weights", table, params, buffers, epoch, (Err){err, err_size}));
}

static int read_validation(RunFile *rf, int32_t **indices, long *n, Err e)
{
    *indices = NULL;
    *n = 0;
    if (H5Lexists(rf->file, "validation", H5P_DEFAULT) <= 0) return 0;
    hsize_t dims[MAX_RANK];
    hid_t d = open_dataset(rf, "validation", "indices", 1, dims, e);
    if (d < 0) return -1;
    int rc = 0;
    if (dims[0] > (hsize_t)INT32_MAX)
        rc = fail(e, "%s: dataset /validation/indices has %llu values, expected at most %d", rf->path,
                  (unsigned long long)dims[0], INT32_MAX);
    else if (!(*indices = malloc((dims[0] ? dims[0] : 1) * sizeof(int32_t))))
        rc = fail(e, "%s: out of memory", rf->path);
    else if (read_prefix(d, H5T_NATIVE_INT32, dims[0], *indices) != 0)
        rc = fail_h5(e, "%s: cannot read dataset /validation/indices", rf->path);
    H5Dclose(d);
    if (rc == 0) *n = (long)dims[0];
    else {
        free(*indices);
        *indices = NULL;
    }
    return rc;
}

int runfile_read_validation(RunFile *rf, int32_t **indices, long *n, char *err, int err_size)
{
    QUIETLY(int, read_validation(rf, indices, n, (Err){err, err_size}));
}

/* ---- reading the checkpoint ---------------------------------------------- */

/* The trainer stops at the first non-finite loss, before parameters that
 * went NaN could be trained on: a checkpoint holding one is damaged. */
static int check_finite(RunFile *rf, const char *full, const float *v, long n, Err e)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return fail(e, "%s: dataset %s holds a value that is not finite (%g at index %ld)", rf->path, full,
                        (double)v[i], i);
    return 0;
}

/* /checkpoint/<name> into dst (n floats). An optional state the caller
 * does not want (dst NULL) must not be in the file either: that would mean
 * the optimizer changed between the run and the resume. */
static int read_vector(RunFile *rf, const char *name, float *dst, long n, int optional, Err e)
{
    hsize_t dims[MAX_RANK];
    char full[64];
    snprintf(full, sizeof full, "/checkpoint/%s", name);
    if (optional && !dst) {
        if (H5Lexists(rf->file, full, H5P_DEFAULT) > 0)
            return fail(e, "%s: checkpoint has %s but the optimizer keeps no such state", rf->path,
                        full);
        return 0;
    }
    hid_t d = open_dataset(rf, "checkpoint", name, 1, dims, e);
    if (d < 0) return -1;
    int rc = 0;
    if (dims[0] != (hsize_t)n)
        rc = fail(e, "%s: dataset %s has %llu values, expected %ld", rf->path, full,
                  (unsigned long long)dims[0], n);
    else if (n > 0 && !dst)
        rc = fail(e, "%s: no buffer given to read %s into", rf->path, full);
    else if (read_prefix(d, H5T_NATIVE_FLOAT, (hsize_t)n, dst) != 0)
        rc = fail_h5(e, "%s: cannot read dataset %s", rf->path, full);
    H5Dclose(d);
    return rc ? rc : check_finite(rf, full, dst, n, e);
}

/* One /checkpoint attribute of HDF5 class cls read as mem_type into v;
 * `kind` names the class in the error ("an integer"). */
static int get_group_number(RunFile *rf, hid_t g, const char *name, H5T_class_t cls, hid_t mem_type, void *v,
                            const char *kind, Err e)
{
    /* A multi-valued attribute once overflowed v (found by fuzz_runfile). */
    hid_t a = open_single_attr(rf, g, "/checkpoint", name, e);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int right_class = t >= 0 && H5Tget_class(t) == cls;
    herr_t r = right_class ? H5Aread(a, mem_type, v) : -1;
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (!right_class) return fail(e, "%s: /checkpoint attribute '%s' is not %s", rf->path, name, kind);
    return r < 0 ? fail_h5(e, "%s: cannot read /checkpoint attribute '%s'", rf->path, name) : 0;
}

static int get_group_int64(RunFile *rf, hid_t g, const char *name, int64_t *v, Err e)
{
    return get_group_number(rf, g, name, H5T_INTEGER, H5T_NATIVE_INT64, v, "an integer", e);
}

static int get_group_double(RunFile *rf, hid_t g, const char *name, double *v, Err e)
{
    if (get_group_number(rf, g, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, v, "a floating-point number", e)) return -1;
    if (!isfinite(*v) || *v < 0)
        return fail(e, "%s: /checkpoint attribute '%s' is %g, expected a finite number >= 0", rf->path, name, *v);
    return 0;
}

/* The mid-epoch position (batch, running sums): absent in files written
 * before it existed, which only ever checkpointed at an epoch's end. */
static int read_checkpoint_position(RunFile *rf, hid_t g, RunCheckpoint *ck, Err e)
{
    ck->batch = ck->train_correct = 0;
    ck->train_loss_sum = ck->epoch_seconds = 0;
    if (H5Aexists(g, "batch") <= 0) return 0;
    if (get_group_int64(rf, g, "batch", &ck->batch, e) || get_group_int64(rf, g, "train_correct", &ck->train_correct, e)
        || get_group_double(rf, g, "train_loss_sum", &ck->train_loss_sum, e)
        || get_group_double(rf, g, "epoch_seconds", &ck->epoch_seconds, e))
        return -1;
    if (ck->batch < 0 || ck->train_correct < 0)
        return fail(e, "%s: /checkpoint attributes 'batch' (%lld) and 'train_correct' (%lld) must be >= 0", rf->path,
                    (long long)ck->batch, (long long)ck->train_correct);
    return 0;
}

static int read_checkpoint_meta(RunFile *rf, RunCheckpoint *ck, Err e)
{
    if (H5Lexists(rf->file, "checkpoint", H5P_DEFAULT) <= 0)
        return fail(e, "%s: no /checkpoint group", rf->path);
    hid_t g = H5Gopen2(rf->file, "checkpoint", H5P_DEFAULT);
    if (g < 0) return fail_h5(e, "%s: cannot open group /checkpoint", rf->path);
    int64_t epoch = -1, step = 0;
    int rc = H5Aexists(g, "epoch") > 0 ? get_group_int64(rf, g, "epoch", &epoch, e) : 0;
    if (rc == 0 && epoch < 0)
        rc = fail(e, "%s: no usable checkpoint (none written yet, or the run stopped while "
                     "writing it)", rf->path);
    if (rc == 0) rc = get_group_int64(rf, g, "step", &step, e);
    if (rc == 0 && step < 0) rc = fail(e, "%s: /checkpoint attribute 'step' is %lld", rf->path, (long long)step);
    if (rc == 0) rc = read_checkpoint_position(rf, g, ck, e);
    H5Gclose(g);
    ck->epoch = epoch;
    ck->step = step;
    return rc;
}

/* The checkpoint comes after the epoch rows it counts: every column holds
 * at least ck_epoch rows, and /epochs/epoch numbers them 1..ck_epoch.
 * (Rows after it, even ragged ones of a run killed mid-append, are
 * dropped on resume.) */
static int check_checkpoint_rows(RunFile *rf, int64_t ck_epoch, Err e)
{
    if (ck_epoch > MAX_EPOCHS)
        return fail(e, "%s: checkpoint after epoch %lld, at most %d", rf->path, (long long)ck_epoch, MAX_EPOCHS);
    for (int c = 0; c < N_COLS; c++) {
        if (!column_present(rf, c)) continue;   /* added (NaN) on resume */
        hsize_t dims[MAX_RANK];
        hid_t d = open_dataset(rf, "epochs", EPOCH_COLS[c], 1, dims, e);
        if (d < 0) return -1;
        H5Dclose(d);
        if (dims[0] < (hsize_t)ck_epoch)
            return fail(e, "%s: checkpoint after epoch %lld, but /epochs/%s has %llu rows", rf->path,
                        (long long)ck_epoch, EPOCH_COLS[c], (unsigned long long)dims[0]);
    }
    hsize_t dims[MAX_RANK];
    hid_t d = open_dataset(rf, "epochs", "epoch", 1, dims, e);
    int *number = malloc((size_t)(ck_epoch ? ck_epoch : 1) * sizeof *number);
    int rc = number && read_prefix(d, H5T_NATIVE_INT, (hsize_t)ck_epoch, number) == 0
                 ? 0 : fail_h5(e, "%s: cannot read dataset /epochs/epoch", rf->path);
    for (int64_t i = 0; i < ck_epoch && rc == 0; i++)
        if (number[i] != i + 1)
            rc = fail(e, "%s: dataset /epochs/epoch row %lld holds epoch %d, expected %lld", rf->path,
                      (long long)i + 1, number[i], (long long)i + 1);
    free(number);
    H5Dclose(d);
    return rc;
}

static int read_checkpoint(const char *path, RunCheckpoint *ck, Err e)
{
    RunFile *rf = open_existing(path, e);
    if (!rf) return -1;
    int rc = read_checkpoint_meta(rf, ck, e);
    if (rc == 0) rc = check_checkpoint_rows(rf, ck->epoch, e);
    if (rc == 0) rc = read_vector(rf, "params", ck->params, ck->n_params, 0, e);
    if (rc == 0) rc = read_vector(rf, "buffers", ck->buffers, ck->n_buffers, 0, e);
    if (rc == 0) rc = read_vector(rf, "state1", ck->state1, ck->n_state, 1, e);
    if (rc == 0) rc = read_vector(rf, "state2", ck->state2, ck->n_state, 1, e);
    release(rf);
    return rc;
}

int runfile_read_checkpoint(const char *path, RunCheckpoint *ck, char *err, int err_size)
{
    QUIETLY(int, read_checkpoint(path, ck, (Err){err, err_size}));
}
