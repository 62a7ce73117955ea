/* Unit tests of the evaluation helpers: the saved-distribution file (round trip, and
 * truncated / trailing-garbage / corrupt-header files rejected with the file named), and
 * sampling (greedy = argmax, seeded determinism, temperature sampling frequencies match
 * the softmax, top-k / top-p restrict the candidates). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "runtime/eval_logits.h"
#include "runtime/sampling.h"
#include "test.h"

#define N_POS 1000
#define TOPK 8

static void make_record(int i, qf_logits_record *r) {
    r->nll = 0.5f + (float)i / 100.0f;
    for (int k = 0; k < TOPK; k++) {
        r->ids[k] = (uint32_t)((i * 7 + k * 13) % 500);
        r->logprobs[k] = -0.1f * (float)(k + 1) - (float)(i % 5);
    }
}

static void test_logits_file(const char *dir) {
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/base.qflogits", dir);
    qf_logits_header h = {.topk = TOPK, .vocab = 500, .ctx = 64, .stride = 64, .bos_id = -1};
    memset(h.text_sha256, 'a', 64);
    qf_logits_writer *w = NULL;
    CHECK_OK(qf_logits_writer_open(path, &h, &w));
    CHECK(!qf_path_exists(path)); /* not visible before finish */
    qf_logits_record r, back;
    for (int i = 0; i < N_POS && w; i++) {
        make_record(i, &r);
        CHECK_OK(qf_logits_writer_add(w, &r));
    }
    if (w) CHECK_OK(qf_logits_writer_finish(w));
    qf_logits_reader *rd = NULL;
    CHECK_OK(qf_logits_reader_open(path, &rd));
    if (rd) {
        const qf_logits_header *rh = qf_logits_reader_header(rd);
        CHECK(rh->topk == TOPK && rh->vocab == 500 && rh->n_positions == N_POS && rh->bos_id == -1);
        CHECK(strncmp(rh->text_sha256, h.text_sha256, 64) == 0);
        int same = 1;
        for (int i = 0; i < N_POS; i++) {
            make_record(i, &r);
            CHECK_OK(qf_logits_reader_next(rd, &back));
            same &= back.nll == r.nll && !memcmp(back.ids, r.ids, TOPK * 4) &&
                    !memcmp(back.logprobs, r.logprobs, TOPK * 4);
        }
        CHECK(same);
        CHECK_FAILS(qf_logits_reader_next(rd, &back), QF_STATUS_FORMAT, "more positions");
        CHECK_OK(qf_logits_reader_finish(rd));
        qf_logits_reader_free(rd);
    }
    /* truncated */
    qf_mapped_file m;
    CHECK_OK(qf_file_map(path, &m));
    snprintf(bad, sizeof bad, "%s/truncated.qflogits", dir);
    CHECK_OK(qf_file_write_atomic(bad, m.data, m.size - 100, 1));
    rd = NULL;
    CHECK_OK(qf_logits_reader_open(bad, &rd));
    qf_status st = QF_STATUS_OK;
    for (int i = 0; i < N_POS && rd && st == QF_STATUS_OK; i++) st = qf_logits_reader_next(rd, &back);
    CHECK_MSG(st == QF_STATUS_FORMAT && strstr(qf_error_message(), "truncated.qflogits"), "%s", qf_error_message());
    qf_logits_reader_free(rd);
    /* trailing garbage */
    uint8_t *buf = malloc(m.size + 3);
    memcpy(buf, m.data, m.size);
    memcpy(buf + m.size, "xyz", 3);
    snprintf(bad, sizeof bad, "%s/trailing.qflogits", dir);
    CHECK_OK(qf_file_write_atomic(bad, buf, m.size + 3, 1));
    rd = NULL;
    CHECK_OK(qf_logits_reader_open(bad, &rd));
    for (int i = 0; i < N_POS && rd; i++) CHECK_OK(qf_logits_reader_next(rd, &back));
    if (rd) CHECK_FAILS(qf_logits_reader_finish(rd), QF_STATUS_FORMAT, "trailing data");
    qf_logits_reader_free(rd);
    /* corrupt header: top-k 0 */
    memset(buf + 8, 0, 4);
    snprintf(bad, sizeof bad, "%s/header.qflogits", dir);
    CHECK_OK(qf_file_write_atomic(bad, buf, m.size, 1));
    rd = NULL;
    CHECK_FAILS(qf_logits_reader_open(bad, &rd), QF_STATUS_FORMAT, "corrupt header");
    CHECK_FAILS(qf_logits_reader_open(path + 1, &rd), QF_STATUS_IO, path + 1);
    free(buf);
    qf_file_unmap(&m);
    /* an aborted writer leaves nothing */
    snprintf(bad, sizeof bad, "%s/aborted.qflogits", dir);
    w = NULL;
    CHECK_OK(qf_logits_writer_open(bad, &h, &w));
    qf_logits_writer_abort(w);
    CHECK(!qf_path_exists(bad));
}

static void test_sampling(void) {
    enum { V = 6, DRAWS = 60000 };
    const float logits[V] = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.5f};
    float scratch[2 * V];
    qf_sampler g = {.temperature = 0.0f, .top_p = 1.0f};
    CHECK(qf_sampler_pick(&g, logits, V, scratch) == 3);
    qf_sampler a = {.temperature = 1.0f, .top_p = 1.0f}, b = a;
    qf_sampler_seed(&a, 42);
    qf_sampler_seed(&b, 42);
    int same = 1, count[V] = {0};
    for (int i = 0; i < DRAWS; i++) {
        int32_t x = qf_sampler_pick(&a, logits, V, scratch);
        same &= x == qf_sampler_pick(&b, logits, V, scratch);
        count[x]++;
    }
    CHECK(same);
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(logits[i]);
    for (int i = 0; i < V; i++) {
        double p = exp(logits[i]) / z, f = (double)count[i] / DRAWS;
        CHECK_MSG(fabs(f - p) < 5 * sqrt(p * (1 - p) / DRAWS) + 1e-4, "token %d: freq %.4f vs softmax %.4f", i, f, p);
    }
    qf_sampler k2 = {.temperature = 1.0f, .top_k = 2, .top_p = 1.0f};
    qf_sampler_seed(&k2, 1);
    int only_top2 = 1;
    for (int i = 0; i < 2000; i++) {
        int32_t x = qf_sampler_pick(&k2, logits, V, scratch);
        only_top2 &= x == 3 || x == 5;
    }
    CHECK(only_top2);
    qf_sampler p1 = {.temperature = 1.0f, .top_p = 0.01f};
    qf_sampler_seed(&p1, 7);
    CHECK(qf_sampler_pick(&p1, logits, V, scratch) == 3);
}

int main(void) {
    char dir[] = "/tmp/qf_test_eval_unit.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_logits_file(dir);
    test_sampling();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    TEST_END();
}
