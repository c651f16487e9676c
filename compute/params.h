/* The parameter table of a model: every trainable parameter and every
 * buffer (batch-norm running statistics) by its PyTorch state_dict name,
 * with its shape, initialisation and offset into ONE flat buffer
 * (parameters, gradients and optimizer state are each one allocation, so an
 * all-reduce or a checkpoint is one call on one buffer). */
#ifndef SWEEPRUN_PARAMS_H
#define SWEEPRUN_PARAMS_H
#include <stdint.h>
#include "tensor.h"

typedef enum {
    INIT_ZEROS,
    INIT_ONES,
    INIT_UNIFORM_FAN_IN,   /* U(-1/sqrt(fan_in), +1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases */
    INIT_XAVIER_UNIFORM,   /* U(-a, a), a = sqrt(6/(fan_in+fan_out)) (Keras glorot_uniform) */
    INIT_KAIMING_NORMAL_FAN_OUT, /* N(0, 2/fan_out): torchvision ResNet convs (kaiming_normal_, fan_out, relu);
                                    SpinalNet's normal_(0, sqrt(2/(k*k*C_out))) */
    INIT_HE_NORMAL,        /* Keras he_normal: truncated normal, std sqrt(2/fan_in)/0.87962566, cut at 2 std */
    INIT_GLOROT_NORMAL,    /* Keras glorot_normal: truncated normal, std sqrt(2/(fan_in+fan_out))/0.87962566 */
} InitKind;

typedef enum {
    ENTRY_PARAM,    /* trainable, lives in the parameter buffer */
    ENTRY_BUFFER,   /* float state (running mean/var), lives in the buffer buffer */
    ENTRY_COUNTER,  /* integer state (num_batches_tracked), in the buffer buffer as a float count */
} EntryKind;

#define PARAM_NAME_MAX 64

typedef struct ParamEntry {
    char name[PARAM_NAME_MAX];
    EntryKind kind;
    InitKind init;
    int fan_in, fan_out;
    int ndim;
    int dims[TENSOR_MAX_DIMS];
    long numel;
    long offset;          /* into params (ENTRY_PARAM) or buffers (others) */
    int is_fc;            /* belongs to a fully connected layer (l2_scope=fc) */
    int unused;           /* registered but never used in forward (no grad: the
                             optimizer skips it entirely, as PyTorch does for
                             .grad == None) */
    int aux;              /* trained, but not part of the classifier (the
                             Efficient-CapsNet reconstruction decoder):
                             counted separately, see model_param_count */
} ParamEntry;

typedef struct ParamTable {
    ParamEntry *entries;
    int count, capacity;
    long n_params;        /* total trainable scalars */
    long n_buffers;       /* total buffer scalars */
    long n_aux_params;    /* of n_params, those in entries flagged aux */
} ParamTable;

void param_table_init(ParamTable *t);
void param_table_free(ParamTable *t);
/* Append an entry; returns its index. dims has ndim values. */
int param_table_add(ParamTable *t, const char *name, EntryKind kind, InitKind init,
                    int fan_in, int fan_out, int ndim, const int *dims);
int param_table_find(const ParamTable *t, const char *name);   /* -1 if absent */
/* Flag entry i (a parameter) as aux and count it in n_aux_params. */
void param_table_mark_aux(ParamTable *t, int i);

/* Fill params and buffers: each entry from its init kind with the counter RNG
 * (stream RNG_STREAM_INIT, a separate index range per entry, so adding a
 * layer does not reshuffle the others). Running var = 1, others 0. */
void param_table_initialise(const ParamTable *t, float *params, float *buffers, uint64_t seed);

#endif
