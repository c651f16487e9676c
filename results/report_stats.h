/* Tests of a difference of mean accuracies: Welch's two-sample t-test and
 * the paired t-test, each with the 95 % confidence interval of the
 * difference. The Student t distribution is GSL's (gsl_cdf_tdist_*).
 * Formulas: docs/sweepreport.md, "Comparing groups". */
#ifndef SWEEPRUN_REPORT_STATS_H
#define SWEEPRUN_REPORT_STATS_H

/* P(T <= t) and its inverse for Student's t with df degrees of freedom
 * (df > 0, not necessarily whole). */
double stats_t_cdf(double t, double df);
double stats_t_quantile(double p, double df);

/* The outcome of one test. NaN where undefined (no spread in either
 * sample: se = 0, so t, df, p and the interval's width are unknown; the
 * difference is still given). */
typedef struct StatsTest {
    int n;                       /* pairs (paired test); na + nb (Welch) */
    double diff;                 /* mean difference (a - b) */
    double se;                   /* its standard error */
    double df;                   /* degrees of freedom */
    double t;                    /* diff / se */
    double p;                    /* two-sided p-value */
    double lo, hi;               /* 95 % confidence interval of diff */
} StatsTest;

/* Welch: mean(a) - mean(b) with se = sqrt(va/na + vb/nb) and the
 * Welch-Satterthwaite df. Needs na, nb >= 2. */
void stats_welch(const double *a, int na, const double *b, int nb, StatsTest *out);
/* Paired: the n differences d_i = a_i - b_i, a one-sample t-test of mean 0
 * with n - 1 df. Needs n >= 2. */
void stats_paired(const double *d, int n, StatsTest *out);

#endif
