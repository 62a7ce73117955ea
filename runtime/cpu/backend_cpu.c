/* CPU backend entry: always available; reports cores and the SIMD level found at run time. */
#include <stdio.h>
#include <unistd.h>

#include "runtime/backend.h"

static int qf_cpu_available(void) { return 1; }

static void qf_cpu_describe(char *buf, size_t n) {
    __builtin_cpu_init();
    const char *simd = __builtin_cpu_supports("avx512f")  ? "AVX-512"
                       : __builtin_cpu_supports("avx2")   ? "AVX2"
                                                          : "scalar";
    int vnni = __builtin_cpu_supports("avx512vnni");
    snprintf(buf, n, "%ld cores, %s%s", sysconf(_SC_NPROCESSORS_ONLN), simd,
             vnni ? " + VNNI" : "");
}

const qf_backend qf_backend_cpu = {
    .name = "cpu",
    .available = qf_cpu_available,
    .describe = qf_cpu_describe,
};
