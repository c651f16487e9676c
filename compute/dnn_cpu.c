/* oneDNN on the CPU: see dnn_cpu.h for why and what. */
#include "dnn_cpu.h"
#include "util.h"
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define DNN_CHECK(call)                                                                     \
    do {                                                                                    \
        dnnl_status_t status_ = (call);                                                     \
        if (status_ != dnnl_success) fatal("oneDNN: %s: %s", #call, dnnl_status2str(status_)); \
    } while (0)

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static void dnn_init(void)
{
    if (engine) return;
    DNN_CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DNN_CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
}

/* ---- GEMM ---------------------------------------------------------------- */

void dnn_sgemm(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
               const float *b, long ldb, float beta, float *c, long ldc)
{
    if (m <= 0 || n <= 0) return;
    int team = omp_get_max_threads();
    int serial = team > 1 && (double)m * n * k < (double)DNN_GEMM_SERIAL;
    if (serial) omp_set_num_threads(1);
    dnnl_status_t s = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (serial) omp_set_num_threads(team);
    if (s != dnnl_success)
        fatal("oneDNN: dnnl_sgemm(%c%c, %ld, %ld, %ld, lda %ld, ldb %ld, ldc %ld): %s", ta ? 'T' : 'N',
              tb ? 'T' : 'N', m, n, k, lda, ldb, ldc, dnnl_status2str(s));
}

/* ---- workspace ------------------------------------------------------------ */

/* One grow-only buffer for what lives only inside one call (blocked copies
 * of weights, gradients and outputs), carved into 64-byte aligned regions. */
static unsigned char *ws_base;
static size_t ws_size;

static size_t round64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static unsigned char *workspace(size_t bytes)
{
    if (bytes > ws_size) {
        free(ws_base);
        ws_size = round64(bytes + bytes / 4);
        ws_base = aligned_alloc(64, ws_size);
        if (!ws_base) fatal("out of memory: oneDNN workspace of %zu bytes", ws_size);
    }
    return ws_base;
}

/* Scratchpads: every primitive is created with a user-managed scratchpad
 * (dnnl_scratchpad_mode_user) and executed on this one grow-only buffer,
 * so oneDNN allocates nothing per execution. */
static unsigned char *pad_base;
static size_t pad_size;

static unsigned char *scratchpad(size_t bytes)
{
    if (bytes > pad_size) {
        free(pad_base);
        pad_size = round64(bytes);
        pad_base = aligned_alloc(64, pad_size);
        if (!pad_base) fatal("out of memory: oneDNN scratchpad of %zu bytes", pad_size);
    }
    return pad_base;
}

/* ---- primitives ----------------------------------------------------------- */

/* A memory object per role, its data handle set before each execution. */
typedef struct Mem {
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
} Mem;

static void mem_init(Mem *m, const dnnl_memory_desc_t *md)
{
    m->md = *md;
    DNN_CHECK(dnnl_memory_create(&m->mem, &m->md, engine, DNNL_MEMORY_NONE));
}

static dnnl_memory_t mem_at(Mem *m, const void *data)
{
    DNN_CHECK(dnnl_memory_set_data_handle(m->mem, (void *)data));
    return m->mem;
}

static size_t mem_bytes(const Mem *m) { return round64(dnnl_memory_desc_get_size(&m->md)); }

/* A primitive and its scratchpad (pad.md of zero size when it needs none). */
typedef struct Prim {
    dnnl_primitive_t p;
    Mem pad;
} Prim;

/* What a primitive does to its output after computing it. */
typedef enum PostOp {
    POST_NONE,
    POST_SUM,    /* a reorder adds to what the destination holds */
    POST_RELU,   /* a forward convolution writes max(0, y) */
} PostOp;

static dnnl_primitive_attr_t new_attr(PostOp post)
{
    dnnl_primitive_attr_t attr;
    DNN_CHECK(dnnl_primitive_attr_create(&attr));
    DNN_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (post == POST_NONE) return attr;
    dnnl_post_ops_t ops;
    DNN_CHECK(dnnl_post_ops_create(&ops));
    if (post == POST_SUM) DNN_CHECK(dnnl_post_ops_append_sum(ops, 1.0f));
    else DNN_CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    DNN_CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
    dnnl_post_ops_destroy(ops);
    return attr;
}

/* Takes the primitive descriptor (and destroys it unless pd_out keeps it). */
static Prim prim_of(dnnl_primitive_desc_t pd, dnnl_primitive_desc_t *pd_out)
{
    Prim r;
    DNN_CHECK(dnnl_primitive_create(&r.p, pd));
    mem_init(&r.pad, dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
    if (pd_out) *pd_out = pd;
    else dnnl_primitive_desc_destroy(pd);
    return r;
}

/* The primitive descriptor for desc, or the status saying why there is
 * none (e.g. no Winograd kernel on a machine without AVX-512). */
static dnnl_status_t try_primitive_desc(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                                        const_dnnl_primitive_desc_t hint, PostOp post)
{
    dnnl_primitive_attr_t attr = new_attr(post);
    dnnl_status_t st = dnnl_primitive_desc_create(pd, desc, attr, engine, hint);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static Prim make_primitive(const_dnnl_op_desc_t desc, const_dnnl_primitive_desc_t hint, PostOp post,
                           dnnl_primitive_desc_t *pd_out)
{
    dnnl_primitive_desc_t pd;
    DNN_CHECK(try_primitive_desc(&pd, desc, hint, post));
    return prim_of(pd, pd_out);
}

/* from -> to, or to += from with sum. NULL when nothing is to be done
 * (same layout, no sum): the caller then uses the memory as it is. */
static Prim make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int sum)
{
    Prim none = {0};
    if (!sum && dnnl_memory_desc_equal(from, to)) return none;
    dnnl_primitive_attr_t attr = new_attr(sum ? POST_SUM : POST_NONE);
    dnnl_primitive_desc_t pd;
    DNN_CHECK(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr));
    dnnl_primitive_attr_destroy(attr);
    return prim_of(pd, NULL);
}

static const dnnl_memory_desc_t *pd_md_at(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, index);
    if (!md) fatal("oneDNN: primitive descriptor has no memory descriptor %d", (int)what);
    return md;
}

static const dnnl_memory_desc_t *pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return pd_md_at(pd, what, 0);
}

/* args has room for one more: the scratchpad. */
static void run(Prim *p, int n, dnnl_exec_arg_t *args)
{
    size_t bytes = dnnl_memory_desc_get_size(&p->pad.md);
    if (bytes) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem_at(&p->pad, scratchpad(bytes))};
    DNN_CHECK(dnnl_primitive_execute(p->p, stream, n, args));
    DNN_CHECK(dnnl_stream_wait(stream));
}

/* from (layout of a) -> to (layout of b), or b += a with a sum reorder. */
static void reorder(Prim *r, Mem *a, const void *from, Mem *b, void *to)
{
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, mem_at(a, from)}, {DNNL_ARG_TO, mem_at(b, to)}};
    run(r, 2, args);
}

/* ---- convolution ---------------------------------------------------------- */

typedef struct DnnConvKey {
    DnnConvShape shape;
    int threads;
} DnnConvKey;

struct DnnConv {
    DnnConvKey key;
    DnnConv *next;
    dnnl_convolution_desc_t fwd_desc;
    dnnl_primitive_desc_t fwd_pd;            /* hint for the backward descriptors */
    /* The user's layouts: x and dx NCHW, w and dw OIHW, y and dy NCHW, bias x. */
    Mem user_x, user_w, user_y, user_b;
    /* forward: the layouts its primitive chose, and reorders from/to the user's */
    Mem f_x, f_w, f_y;
    Prim fwd, f_x_in, f_w_in, f_y_out;          /* a reorder's .p is NULL when not needed */
    /* backward, created on first use */
    int have_backward;
    Mem d_dx, d_w, d_dy;                     /* backward data */
    Prim bwd_data, d_w_in, d_dy_in, d_dx_add;
    Mem b_x, b_dw, b_dy, b_db;               /* backward weights */
    Prim bwd_weights, b_x_in, b_dy_in, b_dw_add;
    int b_x_as_forward;                      /* backward weights reads the forward's copy of x */
};

static DnnConv *plans;

static void conv_dims(const DnnConvShape *s, dnnl_dims_t x, dnnl_dims_t w, dnnl_dims_t y, dnnl_dims_t b)
{
    x[0] = s->n, x[1] = s->c, x[2] = s->h, x[3] = s->w;
    w[0] = s->k, w[1] = s->c, w[2] = s->kh, w[3] = s->kw;
    y[0] = s->n, y[1] = s->k, y[2] = s->oh, y[3] = s->ow;
    b[0] = s->k;
}

static void plain_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag)
{
    DNN_CHECK(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
}

/* Strides and padding. The right padding is the left one: oneDNN, like
 * PyTorch, floors (h + 2 pad - kh) / stride + 1, and windows past the
 * floor are never computed. */
static void conv_geometry(const DnnConvShape *s, dnnl_dims_t strides, dnnl_dims_t pad_l, dnnl_dims_t pad_r)
{
    strides[0] = strides[1] = s->stride;
    pad_l[0] = pad_l[1] = pad_r[0] = pad_r[1] = s->pad;
}

/* Winograd or direct, by shape alone (never by timing, so a configuration
 * computes with the same algorithm every run: resumes, data-parallel ranks
 * and --grad-accum stay bit for bit). oneDNN's Winograd F(4x4, 3x3)
 * (jit_wino_4x3, AVX-512) against its direct kernels, ms per call at batch
 * 64 on 2 cores, forward / backward data / backward weights:
 *   64->64 at 28x28: 5.5 / 7.4 / 7.4 against 17.7 / 15.5 / 13.4 (spinalnet)
 *   32->32 at 28x28: 2.7 / 2.7 / 2.6 against 2.8 / 4.1 / 4.1 (baseline_cnn)
 *   256->256 at 7x7: 7.6 / 7.6 / 8.1 against 11.3 / 11.0 / 14.4
 *   64->64 at 22x20 (efficient_capsnet): 4.1 / 9.8 / 5.4 against 9.9 / 9.7 / 10.6
 * and it loses where there is little to transform: 1 input channel (2.8
 * against 0.2), 32->64 at 13x13 (1.5 / 1.7 / 1.6 against 1.2 / 1.2 / 1.3),
 * maps of 3x3 and below (13.6 against 0.6 at 1x1). Hence: 3x3, stride 1,
 * at least 32 channels in and out, and outputs of 20x20 or more, or of
 * 7x7 or more with 64 channels. Winograd's rounding differs from the
 * direct kernels' (errors ~1e-5 relative here: tests/op_cases.c's
 * Winograd rows). */
static int wants_winograd(const DnnConvShape *s)
{
    if (s->kh != 3 || s->kw != 3 || s->stride != 1 || s->c < 32 || s->k < 32) return 0;
    int side = s->oh < s->ow ? s->oh : s->ow;
    return side >= 20 || (side >= 7 && s->c >= 64);
}

/* The three passes' descriptors, initialised for algorithm alg. */
typedef enum { CONV_FORWARD, CONV_BACKWARD_DATA, CONV_BACKWARD_WEIGHTS } ConvPass;

static dnnl_status_t conv_desc_init(dnnl_convolution_desc_t *d, ConvPass pass, dnnl_alg_kind_t alg,
                                    const DnnConvShape *s, const dnnl_memory_desc_t *x, const dnnl_memory_desc_t *w,
                                    const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *y)
{
    dnnl_dims_t strides, pad_l, pad_r;
    conv_geometry(s, strides, pad_l, pad_r);
    switch (pass) {
    case CONV_FORWARD:
        return dnnl_convolution_forward_desc_init(d, dnnl_forward_training, alg, x, w, b, y, strides, pad_l, pad_r);
    case CONV_BACKWARD_DATA:
        return dnnl_convolution_backward_data_desc_init(d, alg, x, w, y, strides, pad_l, pad_r);
    default:
        return dnnl_convolution_backward_weights_desc_init(d, alg, x, w, b, y, strides, pad_l, pad_r);
    }
}

/* One pass's primitive: Winograd where wants_winograd says so and this
 * machine has it (AVX-512), else direct; *d keeps the descriptor used. */
static Prim conv_primitive(dnnl_convolution_desc_t *d, ConvPass pass, const DnnConvShape *s,
                           const dnnl_memory_desc_t *x, const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *b,
                           const dnnl_memory_desc_t *y, const_dnnl_primitive_desc_t hint,
                           dnnl_primitive_desc_t *pd_out)
{
    dnnl_primitive_desc_t pd;
    PostOp post = pass == CONV_FORWARD && s->relu ? POST_RELU : POST_NONE;
    if (wants_winograd(s) && conv_desc_init(d, pass, dnnl_convolution_winograd, s, x, w, b, y) == dnnl_success &&
        try_primitive_desc(&pd, d, hint, post) == dnnl_success)
        return prim_of(pd, pd_out);
    DNN_CHECK(conv_desc_init(d, pass, dnnl_convolution_direct, s, x, w, b, y));
    return make_primitive(d, hint, post, pd_out);
}

static void create_forward(DnnConv *p)
{
    const DnnConvShape *s = &p->key.shape;
    dnnl_dims_t xd, wd, yd, bd;
    conv_dims(s, xd, wd, yd, bd);
    dnnl_memory_desc_t ux, uw, uy, ub, ax, aw, ay;
    plain_md(&ux, 4, xd, dnnl_nchw);
    plain_md(&uw, 4, wd, dnnl_oihw);
    plain_md(&uy, 4, yd, dnnl_nchw);
    plain_md(&ub, 1, bd, dnnl_x);
    /* format_tag_any: the primitive picks its layouts (nChw16c and blocked
     * weights on AVX-512). On plain NCHW oneDNN falls back to its own
     * im2col + GEMM, 5.6x slower on baseline_cnn's second convolution. */
    plain_md(&ax, 4, xd, dnnl_format_tag_any);
    plain_md(&aw, 4, wd, dnnl_format_tag_any);
    plain_md(&ay, 4, yd, dnnl_format_tag_any);
    p->fwd = conv_primitive(&p->fwd_desc, CONV_FORWARD, s, &ax, &aw, s->bias ? &ub : NULL, &ay, NULL, &p->fwd_pd);
    mem_init(&p->user_x, &ux);
    mem_init(&p->user_w, &uw);
    mem_init(&p->user_y, &uy);
    mem_init(&p->user_b, &ub);
    mem_init(&p->f_x, pd_md(p->fwd_pd, dnnl_query_src_md));
    mem_init(&p->f_w, pd_md(p->fwd_pd, dnnl_query_weights_md));
    mem_init(&p->f_y, pd_md(p->fwd_pd, dnnl_query_dst_md));
    p->f_x_in = make_reorder(&ux, &p->f_x.md, 0);
    p->f_w_in = make_reorder(&uw, &p->f_w.md, 0);
    p->f_y_out = make_reorder(&p->f_y.md, &uy, 0);
}

static void create_backward(DnnConv *p)
{
    const DnnConvShape *s = &p->key.shape;
    dnnl_dims_t xd, wd, yd, bd;
    conv_dims(s, xd, wd, yd, bd);
    dnnl_memory_desc_t ax, aw, ay;
    plain_md(&ax, 4, xd, dnnl_format_tag_any);
    plain_md(&aw, 4, wd, dnnl_format_tag_any);
    plain_md(&ay, 4, yd, dnnl_format_tag_any);

    dnnl_convolution_desc_t dd;
    dnnl_primitive_desc_t dpd;
    p->bwd_data = conv_primitive(&dd, CONV_BACKWARD_DATA, s, &ax, &aw, NULL, &ay, p->fwd_pd, &dpd);
    mem_init(&p->d_dx, pd_md(dpd, dnnl_query_diff_src_md));
    mem_init(&p->d_w, pd_md(dpd, dnnl_query_weights_md));
    mem_init(&p->d_dy, pd_md(dpd, dnnl_query_diff_dst_md));
    dnnl_primitive_desc_destroy(dpd);
    p->d_w_in = make_reorder(&p->user_w.md, &p->d_w.md, 0);
    p->d_dy_in = make_reorder(&p->user_y.md, &p->d_dy.md, 0);
    p->d_dx_add = make_reorder(&p->d_dx.md, &p->user_x.md, 1);

    dnnl_convolution_desc_t wdesc;
    dnnl_primitive_desc_t wpd;
    p->bwd_weights = conv_primitive(&wdesc, CONV_BACKWARD_WEIGHTS, s, &ax, &aw, s->bias ? &p->user_b.md : NULL, &ay,
                                    p->fwd_pd, &wpd);
    mem_init(&p->b_x, pd_md(wpd, dnnl_query_src_md));
    mem_init(&p->b_dw, pd_md(wpd, dnnl_query_diff_weights_md));
    mem_init(&p->b_dy, pd_md(wpd, dnnl_query_diff_dst_md));
    if (s->bias) mem_init(&p->b_db, pd_md_at(wpd, dnnl_query_diff_weights_md, 1));
    dnnl_primitive_desc_destroy(wpd);
    /* The input for backward weights: the copy the forward kept when the
     * layouts agree (the usual case), else reordered again from x. */
    p->b_x_as_forward = dnnl_memory_desc_equal(&p->b_x.md, &p->f_x.md);
    if (!p->b_x_as_forward) p->b_x_in = make_reorder(&p->user_x.md, &p->b_x.md, 0);
    p->b_dy_in = make_reorder(&p->user_y.md, &p->b_dy.md, 0);
    p->b_dw_add = make_reorder(&p->b_dw.md, &p->user_w.md, 1);
    p->have_backward = 1;
}

DnnConv *dnn_conv_plan(const DnnConvShape *s)
{
    DnnConvKey key;
    memset(&key, 0, sizeof key);
    key.shape = *s;
    key.threads = omp_get_max_threads();
    for (DnnConv *p = plans; p; p = p->next)
        if (!memcmp(&p->key, &key, sizeof key)) return p;
    dnn_init();
    DnnConv *p = xcalloc(1, sizeof *p);
    p->key = key;
    create_forward(p);
    p->next = plans;
    plans = p;
    return p;
}

long dnn_conv_saved_floats(const DnnConv *p)
{
    return p->f_x_in.p ? (long)(mem_bytes(&p->f_x) / sizeof(float)) : 0;
}

void dnn_conv_forward(DnnConv *p, const float *x, const float *w, const float *b, float *y, float *saved)
{
    size_t wb = p->f_w_in.p ? mem_bytes(&p->f_w) : 0, yb = p->f_y_out.p ? mem_bytes(&p->f_y) : 0;
    size_t xb = p->f_x_in.p && !saved ? mem_bytes(&p->f_x) : 0;
    unsigned char *ws = workspace(wb + yb + xb);
    const float *src = x, *wei = w;
    float *dst = y;
    if (p->f_x_in.p) {
        float *to = saved ? saved : (float *)(ws + wb + yb);
        reorder(&p->f_x_in, &p->user_x, x, &p->f_x, to);
        src = to;
    }
    if (p->f_w_in.p) {
        reorder(&p->f_w_in, &p->user_w, w, &p->f_w, ws);
        wei = (const float *)ws;
    }
    if (p->f_y_out.p) dst = (float *)(ws + wb);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, mem_at(&p->f_x, src)},
                               {DNNL_ARG_WEIGHTS, mem_at(&p->f_w, wei)},
                               {DNNL_ARG_DST, mem_at(&p->f_y, dst)},
                               {DNNL_ARG_BIAS, NULL}};
    int n = 3;
    if (p->key.shape.bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mem_at(&p->user_b, b)};
    run(&p->fwd, n, args);
    if (p->f_y_out.p) reorder(&p->f_y_out, &p->f_y, dst, &p->user_y, y);
}

void dnn_conv_backward(DnnConv *p, const float *x, const float *saved, const float *w, const float *dy,
                       float *dx, float *dw, float *db)
{
    if (!p->have_backward) create_backward(p);
    int weights = dw || db;
    /* Workspace regions: each used only when its reorder exists. */
    size_t o_dyd = 0, s_dyd = dx && p->d_dy_in.p ? mem_bytes(&p->d_dy) : 0;
    size_t o_wd = o_dyd + s_dyd, s_wd = dx && p->d_w_in.p ? mem_bytes(&p->d_w) : 0;
    size_t o_dx = o_wd + s_wd, s_dx = dx ? mem_bytes(&p->d_dx) : 0;
    size_t o_dyw = o_dx + s_dx, s_dyw = weights && p->b_dy_in.p ? mem_bytes(&p->b_dy) : 0;
    size_t o_xw = o_dyw + s_dyw, s_xw = weights && p->b_x_in.p ? mem_bytes(&p->b_x) : 0;
    size_t o_dw = o_xw + s_xw, s_dw = weights ? mem_bytes(&p->b_dw) : 0;
    size_t o_db = o_dw + s_dw, s_db = weights && p->key.shape.bias ? round64((size_t)p->key.shape.k * sizeof(float)) : 0;
    unsigned char *ws = workspace(o_db + s_db);

    if (dx) {
        const float *ddst = dy, *wei = w;
        if (p->d_dy_in.p) {
            reorder(&p->d_dy_in, &p->user_y, dy, &p->d_dy, ws + o_dyd);
            ddst = (const float *)(ws + o_dyd);
        }
        if (p->d_w_in.p) {
            reorder(&p->d_w_in, &p->user_w, w, &p->d_w, ws + o_wd);
            wei = (const float *)(ws + o_wd);
        }
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_DIFF_DST, mem_at(&p->d_dy, ddst)},
                                   {DNNL_ARG_WEIGHTS, mem_at(&p->d_w, wei)},
                                   {DNNL_ARG_DIFF_SRC, mem_at(&p->d_dx, ws + o_dx)}};
        run(&p->bwd_data, 3, args);
        reorder(&p->d_dx_add, &p->d_dx, ws + o_dx, &p->user_x, dx);
    }
    if (weights) {
        const float *src = p->b_x_as_forward && saved ? saved : x, *ddst = dy;
        if (p->b_x_in.p) {
            reorder(&p->b_x_in, &p->user_x, x, &p->b_x, ws + o_xw);
            src = (const float *)(ws + o_xw);
        }
        if (p->b_dy_in.p) {
            /* The same layout as backward data's: reuse its copy of dy. */
            if (dx && p->d_dy_in.p && dnnl_memory_desc_equal(&p->b_dy.md, &p->d_dy.md))
                ddst = (const float *)(ws + o_dyd);
            else {
                reorder(&p->b_dy_in, &p->user_y, dy, &p->b_dy, ws + o_dyw);
                ddst = (const float *)(ws + o_dyw);
            }
        }
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, mem_at(&p->b_x, src)},
                                   {DNNL_ARG_DIFF_DST, mem_at(&p->b_dy, ddst)},
                                   {DNNL_ARG_DIFF_WEIGHTS, mem_at(&p->b_dw, ws + o_dw)},
                                   {DNNL_ARG_DIFF_BIAS, NULL}};
        int n = 3;
        if (p->key.shape.bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, mem_at(&p->b_db, ws + o_db)};
        run(&p->bwd_weights, n, args);
        if (dw) reorder(&p->b_dw_add, &p->b_dw, ws + o_dw, &p->user_w, dw);
        if (db) {
            const float *g = (const float *)(ws + o_db);
            for (int k = 0; k < p->key.shape.k; k++) db[k] += g[k];
        }
    }
}
