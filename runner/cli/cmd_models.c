/* `sweeprun models`: every registered model with its options, defaults,
 * default recipe and exact parameter count. */
#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "model.h"

static void print_option(const ModelDesc *d, int i)
{
    const ModelOption *o = &d->options[i];
    char def[64], range[160];
    model_option_format(d, i, o->default_value, def, sizeof def);
    if (o->type == OPTION_CHOICE) {
        range[0] = 0;
        for (int k = 0; o->choices[k]; k++) {
            strncat(range, k ? "|" : "", sizeof range - strlen(range) - 1);
            strncat(range, o->choices[k], sizeof range - strlen(range) - 1);
        }
    } else {
        snprintf(range, sizeof range, "%g..%g", o->min, o->max);
    }
    printf("    %-16s default %-9s (%s)  %s\n", o->name, def, range, o->help);
}

/* Parameter counts under the other values of each choice option, where
 * they differ (spinalnet's head=plain). */
static void print_choice_counts(const ModelDesc *d)
{
    double opts[MODEL_MAX_OPTIONS];
    for (int i = 0; i < d->n_options; i++) opts[i] = d->options[i].default_value;
    long base = model_param_count_for(d, opts);
    for (int i = 0; i < d->n_options; i++) {
        const ModelOption *o = &d->options[i];
        if (o->type != OPTION_CHOICE) continue;
        for (int k = 0; o->choices[k]; k++) {
            if (k == (int)o->default_value) continue;
            opts[i] = k;
            long n = model_param_count_for(d, opts);
            if (n != base) printf("  parameters at %s=%s: %ld\n", o->name, o->choices[k], n);
        }
        opts[i] = o->default_value;
    }
}

int cmd_models(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
        report_error("models: unexpected argument '%s' (usage: sweeprun models)", argv[1]);
        return EXIT_BAD_INPUT;
    }
    for (int m = 0; m < model_count(); m++) {
        const ModelDesc *d = model_at(m);
        const Recipe *r = &d->recipe;
        printf("%s: %s\n", d->name, d->summary);
        long aux = model_aux_param_count_for(d, NULL);
        printf("  parameters: %ld (default options)", model_param_count_for(d, NULL));
        /* Training-only heads (Efficient-CapsNet's decoder) are trained but
         * not part of the classifier the count describes. */
        if (aux) printf(" + %ld training-only (reconstruction decoder)", aux);
        printf("\n");
        printf("  recipe: %s lr %g, batch %d, %d epochs, schedule %s, weight decay %g, normalise (x-%g)/%g\n",
               optim_kind_name(r->optimizer), r->lr, r->batch_size, r->epochs, r->schedule,
               r->weight_decay, r->norm_mean, r->norm_std);
        if (r->weight_decay > 0) printf("  l2_scope %s\n", r->l2_scope == L2_SCOPE_FC ? "fc" : "all");
        if (r->augment) printf("  augment %s (training images)\n", r->augment);
        printf("  options:\n");
        for (int i = 0; i < d->n_options; i++) print_option(d, i);
        if (!strcmp(d->name, "gecco")) {
            double opts[MODEL_MAX_OPTIONS];
            for (int i = 0; i < d->n_options; i++) opts[i] = d->options[i].default_value;
            opts[model_option_index(d, "feature_length")] = 32;
            printf("  parameters at feature_length=32: %ld\n", model_param_count_for(d, opts));
        }
        print_choice_counts(d);
        printf("\n");
    }
    return EXIT_OK;
}
