/* The chart of `qforge compare`: perplexity against size on disk, one labelled point per
 * method, as SVG (written here, text) and PNG (the same SVG rendered with librsvg +
 * cairo). Both files are written to a temporary name and renamed into place. */
#ifndef QF_TOOLS_COMPARE_CHART_H
#define QF_TOOLS_COMPARE_CHART_H

#include <stddef.h>

#include "core/status.h"

typedef struct qf_chart_point {
    const char *label; /* "gptq" */
    double x;          /* size on disk, MiB */
    double y;          /* perplexity */
} qf_chart_point;

/* The SVG document (malloc'ed) for the points, titled `title`. */
qf_status qf_chart_svg(const qf_chart_point *p, size_t n, const char *title, char **svg);
/* Renders svg to a PNG file at path (atomic). */
qf_status qf_chart_png(const char *svg, const char *path);

#endif
