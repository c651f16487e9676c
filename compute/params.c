#include "params.h"
#include "rng.h"
#include "util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void param_table_init(ParamTable *t) { memset(t, 0, sizeof *t); }

void param_table_free(ParamTable *t)
{
    free(t->entries);
    memset(t, 0, sizeof *t);
}

int param_table_add(ParamTable *t, const char *name, EntryKind kind, InitKind init,
                    int fan_in, int fan_out, int ndim, const int *dims)
{
    CHECK(strlen(name) < PARAM_NAME_MAX, "parameter name too long: %s", name);
    CHECK(param_table_find(t, name) < 0, "duplicate parameter name %s", name);
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 16;
        t->entries = xrealloc(t->entries, (size_t)t->capacity * sizeof *t->entries);
    }
    ParamEntry *e = &t->entries[t->count];
    memset(e, 0, sizeof *e);
    strcpy(e->name, name);
    e->kind = kind;
    e->init = init;
    e->fan_in = fan_in;
    e->fan_out = fan_out;
    e->ndim = ndim;
    memcpy(e->dims, dims, (size_t)ndim * sizeof *dims);
    e->numel = tensor_numel_of(ndim, dims);
    CHECK(e->numel <= (1L << 28), "%s: %ld elements, more than the 2^28 an entry's RNG range allows",
          name, e->numel);
    if (kind == ENTRY_PARAM) {
        e->offset = t->n_params;
        t->n_params += e->numel;
    } else {
        e->offset = t->n_buffers;
        t->n_buffers += e->numel;
    }
    return t->count++;
}

int param_table_find(const ParamTable *t, const char *name)
{
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->entries[i].name, name) == 0) return i;
    return -1;
}

void param_table_mark_aux(ParamTable *t, int i)
{
    ParamEntry *e = &t->entries[i];
    CHECK(e->kind == ENTRY_PARAM, "%s: only parameters can be auxiliary", e->name);
    if (!e->aux) t->n_aux_params += e->numel;
    e->aux = 1;
}

/* Each entry draws from its own index range: entry i uses indices
 * [i << 32, (i << 32) + numel). */
static void fill_uniform(float *dst, long n, float bound, uint64_t seed, int entry)
{
    uint64_t base = (uint64_t)entry << 32;
    for (long j = 0; j < n; j++) {
        float u = rng_uniform(seed, RNG_STREAM_INIT, base + (uint64_t)j);
        dst[j] = (2.0f * u - 1.0f) * bound;
    }
}

/* A standard normal from two uniforms at indices 2k and 2k+1 of the
 * entry's range (Box-Muller, in double; 1 - u lies in (0, 1], so the log
 * is finite). */
static double normal_at(uint64_t seed, uint64_t base, uint64_t k)
{
    double u1 = 1.0 - rng_uniform(seed, RNG_STREAM_INIT, base + 2 * k);
    double u2 = rng_uniform(seed, RNG_STREAM_INIT, base + 2 * k + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void fill_normal(float *dst, long n, double std, uint64_t seed, int entry)
{
    uint64_t base = (uint64_t)entry << 32;
    for (long j = 0; j < n; j++) dst[j] = (float)(std * normal_at(seed, base, (uint64_t)j));
}

/* TensorFlow's truncated normal: draws outside 2 std are redrawn. Element
 * j owns the 8 normals 8j .. 8j+7 (uniform indices 16j .. 16j+15) and takes
 * the first inside the cut; all 8 outside has probability 0.0455^8 ~ 2e-11,
 * and then the element is 0. Keras divides the std by 0.87962566 (the std
 * of a unit normal truncated at 2) so the drawn values have the nominal
 * variance. */
static void fill_truncated_normal(float *dst, long n, double std, uint64_t seed, int entry)
{
    uint64_t base = (uint64_t)entry << 32;
    double scale = std / 0.87962566103423978;
    for (long j = 0; j < n; j++) {
        double z = 0;
        for (int a = 0; a < 8; a++) {
            double t = normal_at(seed, base, 8 * (uint64_t)j + (uint64_t)a);
            if (fabs(t) <= 2.0) {
                z = t;
                break;
            }
        }
        dst[j] = (float)(scale * z);
    }
}

void param_table_initialise(const ParamTable *t, float *params, float *buffers, uint64_t seed)
{
    for (int i = 0; i < t->count; i++) {
        const ParamEntry *e = &t->entries[i];
        float *dst = (e->kind == ENTRY_PARAM ? params : buffers) + e->offset;
        switch (e->init) {
        case INIT_ZEROS:
            memset(dst, 0, (size_t)e->numel * sizeof *dst);
            break;
        case INIT_ONES:
            for (long j = 0; j < e->numel; j++) dst[j] = 1.0f;
            break;
        case INIT_UNIFORM_FAN_IN:
            fill_uniform(dst, e->numel, 1.0f / sqrtf((float)e->fan_in), seed, i);
            break;
        case INIT_XAVIER_UNIFORM:
            fill_uniform(dst, e->numel, sqrtf(6.0f / (float)(e->fan_in + e->fan_out)), seed, i);
            break;
        case INIT_KAIMING_NORMAL_FAN_OUT:
            fill_normal(dst, e->numel, sqrt(2.0 / e->fan_out), seed, i);
            break;
        case INIT_HE_NORMAL:
            fill_truncated_normal(dst, e->numel, sqrt(2.0 / e->fan_in), seed, i);
            break;
        case INIT_GLOROT_NORMAL:
            fill_truncated_normal(dst, e->numel, sqrt(2.0 / (e->fan_in + e->fan_out)), seed, i);
            break;
        }
    }
}
