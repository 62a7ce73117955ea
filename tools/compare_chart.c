/* `qforge compare` chart: a scatter plot drawn as SVG by hand (axes with rounded ticks,
 * one labelled dot per method) and rasterised to PNG by librsvg. */
#include "tools/compare_chart.h"

#include <cairo.h>
#include <librsvg/rsvg.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

#define W 720.0
#define H 440.0
#define L 80.0  /* plot area margins */
#define R 40.0
#define T 50.0
#define B 60.0

typedef struct buf {
    char *s;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

/* A "nice" tick step (1, 2 or 5 x 10^k) for about 5 ticks over [lo, hi]. */
static double tick_step(double lo, double hi) {
    const double raw = (hi - lo) / 5.0, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

/* Axis range [lo, hi] padded by 8% and snapped to the tick step. */
static void axis_range(double mn, double mx, double *lo, double *hi, double *step) {
    if (!(mx > mn)) mn -= 1.0, mx += 1.0;
    const double pad = 0.08 * (mx - mn);
    *step = tick_step(mn - pad, mx + pad);
    *lo = floor((mn - pad) / *step) * *step;
    *hi = ceil((mx + pad) / *step) * *step;
}

static void escape(buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') put(b, "&lt;");
        else if (*s == '>') put(b, "&gt;");
        else if (*s == '&') put(b, "&amp;");
        else put(b, "%c", *s);
    }
}

qf_status qf_chart_svg(const qf_chart_point *p, size_t n, const char *title, char **svg) {
    QF_RETURN_IF(n == 0, QF_STATUS_INVALID_ARG, "chart: no points");
    double xmn = INFINITY, xmx = -INFINITY, ymn = INFINITY, ymx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        xmn = fmin(xmn, p[i].x), xmx = fmax(xmx, p[i].x);
        ymn = fmin(ymn, p[i].y), ymx = fmax(ymx, p[i].y);
    }
    QF_RETURN_IF(!isfinite(xmn + xmx + ymn + ymx), QF_STATUS_INVALID_ARG,
                 "chart: non-finite values");
    double x0, x1, xs, y0, y1, ys;
    axis_range(fmin(xmn, 0.0), xmx, &x0, &x1, &xs);
    x0 = fmax(x0, 0.0); /* sizes: the axis starts at 0 */
    axis_range(ymn, ymx, &y0, &y1, &ys);
    const double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
    buf b = {0};
    put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"13\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        W, H, W, H);
    put(&b, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", W / 2);
    escape(&b, title);
    put(&b, "</text>\n<g stroke=\"#ddd\">\n");
    for (double v = x0; v <= x1 + xs / 2; v += xs)
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(v), T, PX(v), T + ph);
    for (double v = y0; v <= y1 + ys / 2; v += ys)
        put(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, PY(v), L + pw, PY(v));
    put(&b, "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"black\"/>\n", L, T, pw, ph);
    for (double v = x0; v <= x1 + xs / 2; v += xs)
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(v),
            T + ph + 18, fabs(v) < xs / 1e6 ? 0.0 : v);
    for (double v = y0; v <= y1 + ys / 2; v += ys)
        put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, PY(v) + 4,
            fabs(v) < ys / 1e6 ? 0.0 : v);
    put(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">size on disk (MiB)</text>\n",
        L + pw / 2, H - 18);
    put(&b, "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\">"
            "perplexity</text>\n", T + ph / 2);
    /* labels right of their dot, pushed down when they would overlap one above */
    double ly[64];
    const size_t nl = n < 64 ? n : 64;
    for (size_t i = 0; i < nl; i++) ly[i] = PY(p[i].y) - 6;
    for (size_t pass = 0; pass < nl; pass++)
        for (size_t i = 0; i < nl; i++)
            for (size_t k = 0; k < nl; k++)
                if (k != i && fabs(PX(p[i].x) - PX(p[k].x)) < 160 && ly[k] <= ly[i] &&
                    (ly[k] < ly[i] || k < i) && ly[i] - ly[k] < 15)
                    ly[i] = ly[k] + 15;
    for (size_t i = 0; i < n; i++) {
        put(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#1f77b4\"/>\n", PX(p[i].x),
            PY(p[i].y));
        put(&b, "<text x=\"%.1f\" y=\"%.1f\">", PX(p[i].x) + 8, i < nl ? ly[i] : PY(p[i].y) - 6);
        escape(&b, p[i].label);
        put(&b, " (%.2f)</text>\n", p[i].y);
    }
    put(&b, "</svg>\n");
#undef PX
#undef PY
    if (b.oom) {
        free(b.s);
        return qf_error_set(QF_STATUS_NOMEM, "chart: out of memory");
    }
    *svg = b.s;
    return QF_STATUS_OK;
}

typedef struct png_sink {
    buf b;
} png_sink;

static cairo_status_t png_write(void *user, const unsigned char *data, unsigned int len) {
    buf *b = &((png_sink *)user)->b;
    if (b->n + len > b->cap) {
        size_t cap = (b->n + len) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return CAIRO_STATUS_NO_MEMORY;
        b->s = s, b->cap = cap;
    }
    memcpy(b->s + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

qf_status qf_chart_png(const char *svg, const char *path) {
    GError *err = NULL;
    RsvgHandle *h = rsvg_handle_new_from_data((const guint8 *)svg, strlen(svg), &err);
    if (!h) {
        qf_status st = qf_error_set(QF_STATUS_FORMAT, "chart: librsvg: %s",
                                    err ? err->message : "cannot parse the SVG");
        if (err) g_error_free(err);
        return st;
    }
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)W, (int)H);
    cairo_t *cr = cairo_create(s);
    const RsvgRectangle vp = {0, 0, W, H};
    int ok = rsvg_handle_render_document(h, cr, &vp, &err);
    png_sink sink = {{0}};
    if (ok) ok = cairo_surface_write_to_png_stream(s, png_write, &sink) == CAIRO_STATUS_SUCCESS;
    qf_status st = ok ? QF_STATUS_OK
                      : qf_error_set(QF_STATUS_IO, "chart: rendering the PNG failed%s%s",
                                     err ? ": " : "", err ? err->message : "");
    if (err) g_error_free(err);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    g_object_unref(h);
    if (st == QF_STATUS_OK) st = qf_file_write_atomic(path, sink.b.s, sink.b.n, 0);
    free(sink.b.s);
    return st;
}
