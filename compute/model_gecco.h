/* The layers GECCO (model_gecco.c) and Enhanced GECCO
 * (model_gecco_enhanced.c) share, so the two cannot drift apart. Both
 * models list the options feature_length, dropout, graph in that order. */
#ifndef SWEEPRUN_MODEL_GECCO_H
#define SWEEPRUN_MODEL_GECCO_H
#include "model.h"
#include "ops.h"

/* conv1 (Att: linear + the unused LayerNorm), conv2 (ResGatedGraphConv),
 * fc1 (F/2 -> 10) and bn (BatchNorm1d(F)), in the reference's order. */
void gecco_declare_layers(Model *m, int f);
/* feature_length (options[0]) must be even: MaxPool1d(2) halves it. */
int gecco_validate(const double *options, char *err, int err_size);
/* ReLU(ResGatedGraphConv(x)) over the batch graph of the model's option. */
Tensor *gecco_graph_conv(Model *m, Ctx *c, Tensor *x);

#endif
