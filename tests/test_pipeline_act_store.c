/* The activation store round-trips samples exactly, in memory and spilled to zstd files
 * under a byte budget (and gives the budget back when freed); the zstd helpers refuse
 * truncated, corrupt and wrong-sized files. */
#include <unistd.h>

#include "pipeline/act_store.h"
#include "tests/test.h"

#define N_SAMPLES 5
#define SAMPLE_FLOATS 1000

static void fill(float *x, int seed) {
    uint32_t r = 12345u + (uint32_t)seed * 7919u;
    for (int i = 0; i < SAMPLE_FLOATS; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)r) * 1e-7f;
    }
    x[0] = -0.0f;
    x[1] = 1e-40f; /* subnormal */
}

static void round_trip(const char *dir, size_t limit, int expect_spilled) {
    qf_act_budget budget = {limit, 0};
    qf_act_store s;
    float x[SAMPLE_FLOATS], y[SAMPLE_FLOATS];
    CHECK_OK(qf_act_store_init(&s, dir, "x", N_SAMPLES, SAMPLE_FLOATS, &budget));
    for (int i = 0; i < N_SAMPLES; i++) {
        fill(x, i);
        CHECK_OK(qf_act_store_put(&s, i, x));
    }
    /* overwrite one sample: the store keeps the latest */
    fill(x, 100);
    CHECK_OK(qf_act_store_put(&s, 3, x));
    int spilled = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        fill(x, i == 3 ? 100 : i);
        CHECK_OK(qf_act_store_get(&s, i, y));
        CHECK(memcmp(x, y, sizeof x) == 0);
        spilled += qf_act_store_is_spilled(&s, i);
    }
    CHECK_MSG(spilled == expect_spilled, "%d spilled, expected %d", spilled, expect_spilled);
    CHECK(limit == 0 || budget.used <= limit);
    qf_act_store_free(&s);
    CHECK(budget.used == 0);
}

int main(void) {
    char dir[] = "/tmp/qf_test_act_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    round_trip(dir, 0, 0);                                   /* unlimited: all in memory */
    round_trip(dir, 2 * SAMPLE_FLOATS * sizeof(float) + 1, 3); /* two fit, three spill */
    round_trip(dir, 1, N_SAMPLES);                           /* everything spills */

    /* getting a sample never put fails */
    qf_act_store s;
    float x[SAMPLE_FLOATS];
    CHECK_OK(qf_act_store_init(&s, dir, "y", 2, SAMPLE_FLOATS, NULL));
    CHECK_FAILS(qf_act_store_get(&s, 1, x), QF_STATUS_INVALID_ARG, "not stored");
    qf_act_store_free(&s);

    /* zstd files: exact size only; truncated or corrupt files are errors */
    char path[256], cmd[600];
    snprintf(path, sizeof path, "%s/f.zst", dir);
    fill(x, 7);
    CHECK_OK(qf_act_zstd_write(path, x, SAMPLE_FLOATS, 1));
    float y[SAMPLE_FLOATS + 1];
    CHECK_OK(qf_act_zstd_read(path, y, SAMPLE_FLOATS));
    CHECK(memcmp(x, y, sizeof x) == 0);
    CHECK_FAILS(qf_act_zstd_read(path, y, SAMPLE_FLOATS + 1), QF_STATUS_FORMAT, "truncated");
    CHECK_FAILS(qf_act_zstd_read(path, y, SAMPLE_FLOATS - 1), QF_STATUS_FORMAT, "f.zst");
    snprintf(cmd, sizeof cmd, "truncate -s 100 %s", path);
    CHECK(system(cmd) == 0);
    CHECK_FAILS(qf_act_zstd_read(path, y, SAMPLE_FLOATS), QF_STATUS_FORMAT, "f.zst");
    snprintf(cmd, sizeof cmd, "printf 'garbage' > %s", path);
    CHECK(system(cmd) == 0);
    CHECK_FAILS(qf_act_zstd_read(path, y, SAMPLE_FLOATS), QF_STATUS_FORMAT, "corrupt");
    unlink(path);
    CHECK_FAILS(qf_act_zstd_read(path, y, SAMPLE_FLOATS), QF_STATUS_IO, "cannot open");
    CHECK(rmdir(dir) == 0); /* the stores removed their spill files */
    TEST_END();
}
