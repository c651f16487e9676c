/* Welch's and the paired t-test (report_stats.h). */
#include "report_stats.h"
#include <gsl/gsl_cdf.h>
#include <math.h>
#include "report.h"
#include "util.h"

double stats_t_cdf(double t, double df) { return gsl_cdf_tdist_P(t, df); }

double stats_t_quantile(double p, double df) { return gsl_cdf_tdist_Pinv(p, df); }

/* t, p and the interval from diff, se and df (NaN when se is 0). */
static void finish(StatsTest *s)
{
    s->t = s->p = s->lo = s->hi = NAN;
    if (!(s->se > 0) || !(s->df > 0)) return;
    s->t = s->diff / s->se;
    s->p = 2 * gsl_cdf_tdist_Q(fabs(s->t), s->df);
    double q = stats_t_quantile(0.975, s->df);
    s->lo = s->diff - q * s->se;
    s->hi = s->diff + q * s->se;
}

void stats_welch(const double *a, int na, const double *b, int nb, StatsTest *out)
{
    CHECK(na >= 2 && nb >= 2, "stats_welch: needs two values per sample");
    ReportStats sa, sb;
    report_stats(a, na, &sa);
    report_stats(b, nb, &sb);
    double ua = sa.std * sa.std / na, ub = sb.std * sb.std / nb;
    out->n = na + nb;
    out->diff = sa.mean - sb.mean;
    out->se = sqrt(ua + ub);
    out->df = (ua + ub) * (ua + ub) / (ua * ua / (na - 1) + ub * ub / (nb - 1));
    finish(out);
}

void stats_paired(const double *d, int n, StatsTest *out)
{
    CHECK(n >= 2, "stats_paired: needs two pairs");
    ReportStats s;
    report_stats(d, n, &s);
    out->n = n;
    out->diff = s.mean;
    out->se = s.std / sqrt(n);
    out->df = n - 1;
    finish(out);
}
