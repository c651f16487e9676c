#include "idx.h"
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* gzread takes an unsigned int length; read in pieces well below that. */
#define READ_PIECE ((size_t)1 << 24)

static void set_err(char *err, int err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, int err_size, const char *fmt, ...)
{
    if (!err || err_size <= 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, (size_t)err_size, fmt, ap);
    va_end(ap);
}

/* An open IDX stream plus what is needed to explain a failure. */
typedef struct Reader {
    const char *path;
    gzFile gz;
    char *err;
    int err_size;
} Reader;

static int reader_open(Reader *r, const char *path, char *err, int err_size)
{
    r->path = path;
    r->err = err;
    r->err_size = err_size;
    r->gz = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        set_err(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    /* gzopen happily opens a folder and fails later with a vaguer message */
    if (!S_ISREG(st.st_mode)) {
        set_err(err, err_size, "%s: cannot read: not a regular file", path);
        return -1;
    }
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        set_err(err, err_size, "%s: cannot open: %s", path,
                errno ? strerror(errno) : "out of memory");
        return -1;
    }
    return 0;
}

static void reader_close(Reader *r)
{
    if (r->gz) gzclose(r->gz);
    r->gz = NULL;
}

static int gz_failed(Reader *r)
{
    int errnum = 0;
    const char *msg = gzerror(r->gz, &errnum);
    if (errnum == Z_ERRNO)
        set_err(r->err, r->err_size, "%s: read error: %s", r->path, strerror(errno));
    else
        set_err(r->err, r->err_size, "%s: cannot decompress: %s (corrupt gzip data)", r->path, msg);
    return -1;
}

/* Read up to n bytes; *got is how many arrived before end of file.
 * Returns -1 (with the message set) only on a read or decompression error. */
static int read_upto(Reader *r, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < READ_PIECE ? n - *got : READ_PIECE;
        int k = gzread(r->gz, buf + *got, (unsigned)want);
        if (k < 0) return gz_failed(r);
        if (k == 0) break;
        *got += (size_t)k;
    }
    return 0;
}

/* A gzip stream cut short reads like a short file; say which it was. */
static const char *cut_note(Reader *r)
{
    int errnum = 0;
    gzerror(r->gz, &errnum);
    return errnum == Z_BUF_ERROR ? " (the gzip stream is cut off)" : "";
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int header_short(Reader *r, const char *kind, size_t need, size_t got)
{
    set_err(r->err, r->err_size,
            "%s: too short for an IDX %s file: expected a %zu-byte header, file ends after %zu bytes%s",
            r->path, kind, need, got, cut_note(r));
    return -1;
}

/* Read the header (magic + nfields sizes). The magic is checked before the
 * rest is required, so a short file of the wrong kind is called wrong, not short. */
static int read_header(Reader *r, uint32_t magic, const char *kind, int nfields, uint32_t *fields)
{
    unsigned char h[16];
    size_t need = 4 * (size_t)(nfields + 1), got, more;
    if (read_upto(r, h, 4, &got) != 0) return -1;
    if (got < 4) return header_short(r, kind, need, got);
    uint32_t found = be32(h);
    if (found != magic) {
        int swapped = (found == IDX_MAGIC_IMAGES || found == IDX_MAGIC_LABELS);
        set_err(r->err, r->err_size,
                "%s: not an IDX %s file: magic number is 0x%08X (%u), expected 0x%08X (%u)%s",
                r->path, kind, found, found, magic, magic,
                swapped ? (found == IDX_MAGIC_LABELS ? "; this is a label file"
                                                     : "; this is an image file")
                        : "");
        return -1;
    }
    if (read_upto(r, h + 4, need - 4, &more) != 0) return -1;
    if (4 + more < need) return header_short(r, kind, need, 4 + more);
    for (int i = 0; i < nfields; i++) fields[i] = be32(h + 4 * (i + 1));
    return 0;
}

static int check_dim(Reader *r, const char *what, uint32_t v, uint32_t max)
{
    if (v == 0 || v > max) {
        set_err(r->err, r->err_size, "%s: header says %s = %u; expected 1..%u", r->path, what, v, max);
        return -1;
    }
    return 0;
}

/* Read exactly n payload bytes into a fresh buffer. The buffer grows as data
 * arrives instead of trusting the header up front, so a corrupt header on a
 * short file cannot make us allocate gigabytes. */
static int read_payload(Reader *r, size_t n, const char *what, unsigned char **out)
{
    unsigned char *buf = NULL;
    size_t have = 0, cap = 0;
    while (have < n) {
        if (have == cap) {
            size_t grow = cap ? cap : READ_PIECE;
            cap = (n - cap < grow) ? n : cap + grow;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                set_err(r->err, r->err_size, "%s: out of memory reading %zu bytes", r->path, n);
                return -1;
            }
            buf = nb;
        }
        size_t got;
        if (read_upto(r, buf + have, cap - have, &got) != 0) {
            free(buf);
            return -1;
        }
        have += got;
        if (got == 0 || have < cap) break;
    }
    if (have < n) {
        free(buf);
        set_err(r->err, r->err_size,
                "%s: truncated: expected %zu %s bytes after the header, file ends after %zu%s",
                r->path, n, what, have, cut_note(r));
        return -1;
    }
    *out = buf;
    return 0;
}

/* A file longer than its header says is as suspect as a short one: most
 * likely a wrong count or the wrong file. */
static int check_no_trailing(Reader *r, size_t payload, const char *what)
{
    unsigned char tmp[4096];
    size_t extra = 0, got;
    do {
        if (read_upto(r, tmp, sizeof tmp, &got) != 0) return -1;
        extra += got;
    } while (got == sizeof tmp);
    if (extra) {
        set_err(r->err, r->err_size,
                "%s: %zu unexpected bytes after the %zu %s bytes the header announces "
                "(wrong count in the header, or not an IDX file)",
                r->path, extra, payload, what);
        return -1;
    }
    return 0;
}

static int read_images(Reader *r, IdxImages *out)
{
    uint32_t f[3];
    if (read_header(r, IDX_MAGIC_IMAGES, "image", 3, f) != 0) return -1;
    if (check_dim(r, "image count", f[0], IDX_MAX_COUNT) != 0 ||
        check_dim(r, "rows", f[1], IDX_MAX_SIDE) != 0 ||
        check_dim(r, "cols", f[2], IDX_MAX_SIDE) != 0)
        return -1;
    size_t n = (size_t)f[0] * f[1] * f[2];
    if (n > IDX_MAX_PIXEL_BYTES) {
        set_err(r->err, r->err_size, "%s: header declares %u images of %ux%u, %zu pixel bytes; at most %lu "
                "(1 GiB) are accepted", r->path, f[0], f[1], f[2], n, IDX_MAX_PIXEL_BYTES);
        return -1;
    }
    unsigned char *px;
    if (read_payload(r, n, "pixel", &px) != 0) return -1;
    if (check_no_trailing(r, n, "pixel") != 0) {
        free(px);
        return -1;
    }
    out->count = (int)f[0];
    out->rows = (int)f[1];
    out->cols = (int)f[2];
    out->pixels = px;
    return 0;
}

int idx_read_images(const char *path, IdxImages *out, char *err, int err_size)
{
    memset(out, 0, sizeof *out);
    Reader r;
    if (reader_open(&r, path, err, err_size) != 0) return -1;
    int rc = read_images(&r, out);
    reader_close(&r);
    return rc;
}

static int check_labels(Reader *r, const unsigned char *lb, size_t n, int num_classes)
{
    for (size_t i = 0; i < n; i++) {
        if (lb[i] >= num_classes) {
            set_err(r->err, r->err_size, "%s: label %d at index %zu is outside 0..%d",
                    r->path, lb[i], i, num_classes - 1);
            return -1;
        }
    }
    return 0;
}

static int read_labels(Reader *r, int num_classes, IdxLabels *out)
{
    uint32_t count;
    if (read_header(r, IDX_MAGIC_LABELS, "label", 1, &count) != 0) return -1;
    if (check_dim(r, "label count", count, IDX_MAX_COUNT) != 0) return -1;
    unsigned char *lb;
    if (read_payload(r, count, "label", &lb) != 0) return -1;
    if (check_no_trailing(r, count, "label") != 0 ||
        check_labels(r, lb, count, num_classes) != 0) {
        free(lb);
        return -1;
    }
    out->count = (int)count;
    out->labels = lb;
    return 0;
}

int idx_read_labels(const char *path, int num_classes, IdxLabels *out, char *err, int err_size)
{
    memset(out, 0, sizeof *out);
    if (num_classes < 1 || num_classes > 256) {
        set_err(err, err_size, "%s: cannot check labels against %d classes (expected 1..256)",
                path, num_classes);
        return -1;
    }
    Reader r;
    if (reader_open(&r, path, err, err_size) != 0) return -1;
    int rc = read_labels(&r, num_classes, out);
    reader_close(&r);
    return rc;
}

void idx_images_free(IdxImages *im)
{
    if (!im) return;
    free(im->pixels);
    memset(im, 0, sizeof *im);
}

void idx_labels_free(IdxLabels *lb)
{
    if (!lb) return;
    free(lb->labels);
    memset(lb, 0, sizeof *lb);
}

/* ---- locating a dataset ------------------------------------------------- */

static const char *const DATASET_STEMS[DATASET_FILE_COUNT][2] = {
    {"train-images", "idx3-ubyte"},
    {"train-labels", "idx1-ubyte"},
    {"t10k-images", "idx3-ubyte"},
    {"t10k-labels", "idx1-ubyte"},
};

#define NAME_VARIANTS 4

/* Candidate file names for one stem, in order of preference. */
static void candidate_names(int which, char names[NAME_VARIANTS][64])
{
    const char *a = DATASET_STEMS[which][0], *b = DATASET_STEMS[which][1];
    snprintf(names[0], 64, "%s-%s", a, b);
    snprintf(names[1], 64, "%s-%s.gz", a, b);
    snprintf(names[2], 64, "%s.%s", a, b);
    snprintf(names[3], 64, "%s.%s.gz", a, b);
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Append to the "missing" list in err-style text without overflowing. */
static void append(char *buf, size_t size, const char *text)
{
    size_t len = strlen(buf);
    if (len + 1 < size) snprintf(buf + len, size - len, "%s", text);
}

static int find_one(const char *dir, int which, char path[DATASET_PATH_MAX], char *missing,
                    size_t missing_size)
{
    char names[NAME_VARIANTS][64];
    candidate_names(which, names);
    for (int v = 0; v < NAME_VARIANTS; v++) {
        int n = snprintf(path, DATASET_PATH_MAX, "%s/%s", dir, names[v]);
        if (n > 0 && n < DATASET_PATH_MAX && is_regular_file(path)) return 0;
    }
    path[0] = '\0';
    append(missing, missing_size, missing[0] ? "; " : "");
    for (int v = 0; v < NAME_VARIANTS; v++) {
        append(missing, missing_size, v ? " or " : "");
        append(missing, missing_size, names[v]);
    }
    return -1;
}

int dataset_files(const char *dir, char paths[DATASET_FILE_COUNT][DATASET_PATH_MAX],
                  char *err, int err_size)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        set_err(err, err_size, "%s: dataset folder not found: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_err(err, err_size, "%s: dataset path is not a folder", dir);
        return -1;
    }
    if (strlen(dir) + 64 >= DATASET_PATH_MAX) {
        set_err(err, err_size, "%s: dataset folder path is too long", dir);
        return -1;
    }
    char missing[1024] = "";
    int bad = 0;
    for (int i = 0; i < DATASET_FILE_COUNT; i++)
        bad |= find_one(dir, i, paths[i], missing, sizeof missing) != 0;
    if (bad) {
        set_err(err, err_size, "%s: dataset files missing; looked for %s", dir, missing);
        return -1;
    }
    return 0;
}
