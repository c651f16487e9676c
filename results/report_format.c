/* Writing a Table as Markdown, CSV, LaTeX, JSON or HTML. Text formats show
 * the VIEW_TEXT columns with their display text; data formats the
 * VIEW_DATA columns with full-precision numbers. */
#include "report.h"
#include "report_figures.h"
#include <math.h>
#include <string.h>

int report_parse_format(const char *text, ReportFormat *f)
{
    static const char *const names[] = {"markdown", "csv", "latex", "json", "html"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(text, names[i])) {
            *f = (ReportFormat)i;
            return 0;
        }
    if (!strcmp(text, "md")) {
        *f = FORMAT_MARKDOWN;
        return 0;
    }
    return -1;
}

static const TableCell *cell_at(const Table *t, int r, int c) { return &t->cells[(size_t)r * t->ncols + c]; }
static const char *text_of(const TableCell *c) { return c->text ? c->text : ""; }

/* ---- Markdown ---------------------------------------------------------------- */

static void md_cell(FILE *f, const char *s)
{
    fputc(' ', f);
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputs(" |", f);
}

static void write_markdown(FILE *f, const Table *t)
{
    fprintf(f, "%s\n\n|", t->caption);
    for (int c = 0; c < t->ncols; c++)
        if (t->cols[c].view & VIEW_TEXT) md_cell(f, t->cols[c].title);
    fputs("\n|", f);
    for (int c = 0; c < t->ncols; c++)
        if (t->cols[c].view & VIEW_TEXT) fputs(t->cols[c].right ? " ---: |" : " --- |", f);
    fputc('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        fputc('|', f);
        for (int c = 0; c < t->ncols; c++)
            if (t->cols[c].view & VIEW_TEXT) md_cell(f, text_of(cell_at(t, r, c)));
        fputc('\n', f);
    }
    if (t->n_notes) fputc('\n', f);
    for (int i = 0; i < t->n_notes; i++) fprintf(f, "- %s\n", t->notes[i]);
}

/* ---- CSV (RFC 4180) ------------------------------------------------------------ */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void data_number(FILE *f, const TableCell *c)
{
    if (c->is_int) fprintf(f, "%lld", (long long)llround(c->num));
    else fprintf(f, "%.10g", c->num);
}

static void write_csv(FILE *f, const Table *t)
{
    int first = 1;
    for (int c = 0; c < t->ncols; c++) {
        if (!(t->cols[c].view & VIEW_DATA)) continue;
        if (!first) fputc(',', f);
        csv_field(f, t->cols[c].key);
        first = 0;
    }
    fputc('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        first = 1;
        for (int c = 0; c < t->ncols; c++) {
            if (!(t->cols[c].view & VIEW_DATA)) continue;
            if (!first) fputc(',', f);
            const TableCell *x = cell_at(t, r, c);
            if (x->has_num) data_number(f, x);
            else csv_field(f, text_of(x));
            first = 0;
        }
        fputc('\n', f);
    }
}

/* ---- LaTeX (booktabs) -------------------------------------------------------------- */

static void latex_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (!strncmp(s, "±", strlen("±"))) {
            fputs("$\\pm$", f);
            s += strlen("±") - 1;
        } else if (strchr("&%$#_{}", *s)) {
            fprintf(f, "\\%c", *s);
        } else if (*s == '~') {
            fputs("\\textasciitilde{}", f);
        } else if (*s == '^') {
            fputs("\\textasciicircum{}", f);
        } else if (*s == '\\') {
            fputs("\\textbackslash{}", f);
        } else {
            fputc(*s, f);
        }
    }
}

static void write_latex(FILE *f, const Table *t)
{
    fputs("% ", f);
    fputs(t->caption, f);
    fputs("\n% needs \\usepackage{booktabs}\n\\begin{tabular}{", f);
    for (int c = 0; c < t->ncols; c++)
        if (t->cols[c].view & VIEW_TEXT) fputc(t->cols[c].right ? 'r' : 'l', f);
    fputs("}\n\\toprule\n", f);
    const char *sep = "";
    for (int c = 0; c < t->ncols; c++) {
        if (!(t->cols[c].view & VIEW_TEXT)) continue;
        fputs(sep, f);
        latex_text(f, t->cols[c].title);
        sep = " & ";
    }
    fputs(" \\\\\n\\midrule\n", f);
    for (int r = 0; r < t->nrows; r++) {
        sep = "";
        for (int c = 0; c < t->ncols; c++) {
            if (!(t->cols[c].view & VIEW_TEXT)) continue;
            fputs(sep, f);
            latex_text(f, text_of(cell_at(t, r, c)));
            sep = " & ";
        }
        fputs(" \\\\\n", f);
    }
    fputs("\\bottomrule\n\\end{tabular}\n", f);
    for (int i = 0; i < t->n_notes; i++) {
        fputs("% ", f);
        fputs(t->notes[i], f);
        fputc('\n', f);
    }
}

/* ---- JSON -------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_value(FILE *f, const TableCell *c)
{
    if (c->has_num && isfinite(c->num)) data_number(f, c);
    else if (c->has_num || !c->text || !*c->text) fputs("null", f);
    else json_string(f, c->text);
}

static void write_json(FILE *f, const Table *t)
{
    fputs("{\n  \"metric\": ", f);
    json_string(f, report_metric_name(t->metric));
    fputs(",\n  \"caption\": ", f);
    json_string(f, t->caption);
    fputs(",\n  \"rows\": [", f);
    for (int r = 0; r < t->nrows; r++) {
        fputs(r ? ",\n    {" : "\n    {", f);
        int first = 1;
        for (int c = 0; c < t->ncols; c++) {
            if (!(t->cols[c].view & VIEW_DATA)) continue;
            fputs(first ? "" : ", ", f);
            json_string(f, t->cols[c].key);
            fputs(": ", f);
            json_value(f, cell_at(t, r, c));
            first = 0;
        }
        fputc('}', f);
    }
    fputs(t->nrows ? "\n  ],\n  \"notes\": [" : "],\n  \"notes\": [", f);
    for (int i = 0; i < t->n_notes; i++) {
        fputs(i ? ", " : "", f);
        json_string(f, t->notes[i]);
    }
    fputs("]\n}\n", f);
}

/* ---- HTML ---------------------------------------------------------------------------- */

void report_html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void write_html(FILE *f, const Table *t)
{
    fputs("<table>\n<caption>", f);
    report_html_text(f, t->caption);
    fputs("</caption>\n<thead><tr>", f);
    for (int c = 0; c < t->ncols; c++) {
        if (!(t->cols[c].view & VIEW_TEXT)) continue;
        fputs("<th>", f);
        report_html_text(f, t->cols[c].title);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int r = 0; r < t->nrows; r++) {
        fputs("<tr>", f);
        for (int c = 0; c < t->ncols; c++) {
            if (!(t->cols[c].view & VIEW_TEXT)) continue;
            fputs(t->cols[c].right ? "<td class=\"num\">" : "<td>", f);
            report_html_text(f, text_of(cell_at(t, r, c)));
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n", f);
    if (t->n_notes) fputs("<ul class=\"notes\">\n", f);
    for (int i = 0; i < t->n_notes; i++) {
        fputs("<li>", f);
        report_html_text(f, t->notes[i]);
        fputs("</li>\n", f);
    }
    if (t->n_notes) fputs("</ul>\n", f);
}

void report_write(FILE *f, const Table *t, ReportFormat fmt)
{
    switch (fmt) {
    case FORMAT_MARKDOWN: write_markdown(f, t); break;
    case FORMAT_CSV: write_csv(f, t); break;
    case FORMAT_LATEX: write_latex(f, t); break;
    case FORMAT_JSON: write_json(f, t); break;
    case FORMAT_HTML: write_html(f, t); break;
    }
}
