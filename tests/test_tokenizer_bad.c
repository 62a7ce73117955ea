/* Hostile tokenizer files and calls: each malformed or unsupported tokenizer.json,
 * tokenizer_config.json, vocab.json/merges.txt gives its specific status and a message
 * naming the problem (and the file); every truncation of a valid file fails cleanly. */
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/tokenizer.h"
#include "test.h"

/* A minimal valid tokenizer.json with ' for ": vocab a b ab <s>, merge "a b". */
#define QF_BASE_MODEL "'model':{'type':'BPE','vocab':{'a':0,'b':1,'ab':2,'<s>':3},'merges':['a b']}"
#define QF_BASE_ADDED "'added_tokens':[{'id':3,'content':'<s>','special':true}]"

static char qf_json[8192];

/* Copies s into qf_json with ' turned into ". */
static const char *qf_q(const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof qf_json; i++) qf_json[i] = s[i] == '\'' ? '"' : s[i];
    qf_json[i] = '\0';
    return qf_json;
}

static qf_status qf_load(const char *json, const char *config) {
    qf_tokenizer *t = NULL;
    qf_status st = qf_tokenizer_load_json(json, strlen(json), config, "bad.json", &t);
    qf_tokenizer_free(t);
    return st;
}

typedef struct qf_bad_case {
    const char *json; /* with ' for " */
    qf_status status;
    const char *needle;
} qf_bad_case;

static const qf_bad_case qf_bad[] = {
    {"{", QF_STATUS_FORMAT, "'bad.json': invalid JSON near byte"},
    {"[1, 2]", QF_STATUS_FORMAT, "'bad.json': not a JSON object"},
    {"{} {}", QF_STATUS_FORMAT, "'bad.json': text after the JSON value at byte 3"},
    {"{}", QF_STATUS_FORMAT, "'bad.json': no 'model' object"},
    {"{'model':{'type':'WordPiece','vocab':{}}}", QF_STATUS_UNSUPPORTED,
     "'bad.json': model type 'WordPiece' is not supported"},
    {"{'model':{'type':'Unigram','vocab':[]}}", QF_STATUS_UNSUPPORTED, "model type 'Unigram'"},
    {"{'model':{'vocab':{}}}", QF_STATUS_FORMAT, "model has no 'type'"},
    {"{'model':{'type':'BPE','merges':[]}}", QF_STATUS_FORMAT, "model has no 'vocab'"},
    {"{'model':{'type':'BPE','vocab':{}}}", QF_STATUS_FORMAT, "model has no 'merges'"},
    {"{'model':{'type':'BPE','vocab':[],'merges':[]}}", QF_STATUS_FORMAT,
     "model.vocab must be an object"},
    {"{'model':{'type':'BPE','vocab':{'a':-1},'merges':[]}}", QF_STATUS_FORMAT,
     "model.vocab id must be an integer"},
    {"{'model':{'type':'BPE','vocab':{'a':1.5},'merges':[]}}", QF_STATUS_FORMAT,
     "model.vocab id must be an integer"},
    {"{'model':{'type':'BPE','vocab':{'a':'0'},'merges':[]}}", QF_STATUS_FORMAT,
     "model.vocab id must be an integer"},
    {"{'model':{'type':'BPE','vocab':{'a':1e12},'merges':[]}}", QF_STATUS_FORMAT,
     "model.vocab id must be an integer"},
    {"{'model':{'type':'BPE','vocab':{'a':0,'b':0},'merges':[]}}", QF_STATUS_FORMAT,
     "id 0 is given to 'a' and to 'b'"},
    {"{'model':{'type':'BPE','vocab':{'a':0},'merges':'a b'}}", QF_STATUS_FORMAT,
     "model.merges must be an array"},
    {"{'model':{'type':'BPE','vocab':{'a':0,'b':1},'merges':['a c']}}", QF_STATUS_FORMAT,
     "model.merges[0]: token 'c' is not in the vocabulary"},
    {"{'model':{'type':'BPE','vocab':{'a':0,'b':1},'merges':['a b']}}", QF_STATUS_FORMAT,
     "model.merges[0]: merged token 'ab' is not in the vocabulary"},
    {"{'model':{'type':'BPE','vocab':{'a':0,'b':1,'ab':2},'merges':['a  b']}}", QF_STATUS_FORMAT,
     "model.merges[0] 'a  b' is not two tokens separated by one space"},
    {"{'model':{'type':'BPE','vocab':{'a':0,'b':1,'ab':2},'merges':[['a','b','c']]}}",
     QF_STATUS_FORMAT, "model.merges[0] is neither a string nor a pair of strings"},
    {"{'model':{'type':'BPE','vocab':{'a':0},'merges':[],'dropout':0.1}}", QF_STATUS_UNSUPPORTED,
     "BPE dropout is not supported"},
    {"{'model':{'type':'BPE','vocab':{'a':0},'merges':[],'fuse_unk':'yes'}}", QF_STATUS_FORMAT,
     "model 'fuse_unk' must be true or false"},
    {"{'model':{'type':'BPE','vocab':{'a':0},'merges':[],'unk_token':7}}", QF_STATUS_FORMAT,
     "model.unk_token must be a string or null"},
    {"{" QF_BASE_MODEL ",'pre_tokenizer':{'type':'Whitespace'}}", QF_STATUS_UNSUPPORTED,
     "'bad.json': pre_tokenizer type 'Whitespace' is not supported"},
    {"{" QF_BASE_MODEL
     ",'pre_tokenizer':{'type':'Sequence','pretokenizers':[{'type':'BertPreTokenizer'}]}}",
     QF_STATUS_UNSUPPORTED, "pre_tokenizer type 'BertPreTokenizer' is not supported"},
    {"{" QF_BASE_MODEL ",'pre_tokenizer':{'pretokenizers':[]}}", QF_STATUS_FORMAT,
     "pre_tokenizer has no 'type' string"},
    {"{" QF_BASE_MODEL
     ",'pre_tokenizer':{'type':'Split','pattern':{'Regex':'(a'},'behavior':'Isolated'}}",
     QF_STATUS_FORMAT, "pre_tokenizer Split: invalid pattern '(a'"},
    {"{" QF_BASE_MODEL
     ",'pre_tokenizer':{'type':'Split','pattern':{'Regex':'[^\\\\S]'},'behavior':'Isolated'}}",
     QF_STATUS_UNSUPPORTED, "\\S inside a character class is not supported"},
    {"{" QF_BASE_MODEL
     ",'pre_tokenizer':{'type':'Split','pattern':{'Regex':'a'},'behavior':'Shuffled'}}",
     QF_STATUS_UNSUPPORTED, "pre_tokenizer Split behavior 'Shuffled' is not supported"},
    {"{" QF_BASE_MODEL ",'pre_tokenizer':{'type':'Split','pattern':'a','behavior':'Isolated'}}",
     QF_STATUS_FORMAT, "pre_tokenizer Split needs a pattern"},
    {"{" QF_BASE_MODEL ",'pre_tokenizer':{'type':'Metaspace','replacement':'ab'}}",
     QF_STATUS_FORMAT, "Metaspace replacement must be one character"},
    {"{" QF_BASE_MODEL
     ",'pre_tokenizer':{'type':'Metaspace','replacement':'_','prepend_scheme':'sometimes'}}",
     QF_STATUS_UNSUPPORTED, "prepend_scheme 'sometimes' is not supported"},
    {"{" QF_BASE_MODEL ",'normalizer':{'type':'BertNormalizer'}}", QF_STATUS_UNSUPPORTED,
     "'bad.json': normalizer type 'BertNormalizer' is not supported"},
    {"{" QF_BASE_MODEL ",'normalizer':{'type':'Precompiled','precompiled_charsmap':''}}",
     QF_STATUS_UNSUPPORTED, "normalizer type 'Precompiled'"},
    {"{" QF_BASE_MODEL ",'normalizer':{'type':'Replace','pattern':{'String':' '}}}",
     QF_STATUS_FORMAT, "normalizer Replace has no 'content' string"},
    {"{" QF_BASE_MODEL ",'normalizer':{'type':'Sequence'}}", QF_STATUS_FORMAT,
     "normalizer Sequence has no 'normalizers' array"},
    {"{" QF_BASE_MODEL
     ",'normalizer':{'type':'Sequence','normalizers':[{'type':'Sequence','normalizers':["
     "{'type':'Sequence','normalizers':[{'type':'Sequence','normalizers':[{'type':'Sequence','"
     "normalizers':["
     "{'type':'Sequence','normalizers':[{'type':'Sequence','normalizers':[{'type':'Sequence','"
     "normalizers':["
     "{'type':'Sequence','normalizers':[]}]}]}]}]}]}]}]}]}}",
     QF_STATUS_UNSUPPORTED, "normalizer Sequences nested deeper than 8"},
    {"{" QF_BASE_MODEL ",'decoder':{'type':'WordPiece'}}", QF_STATUS_UNSUPPORTED,
     "'bad.json': decoder type 'WordPiece' is not supported"},
    {"{" QF_BASE_MODEL ",'decoder':{'type':'Strip','content':' ','start':-1,'stop':0}}",
     QF_STATUS_FORMAT, "decoder Strip start must be an integer"},
    {"{" QF_BASE_MODEL ",'post_processor':{'type':'Fancy'}}", QF_STATUS_UNSUPPORTED,
     "'bad.json': post_processor type 'Fancy' is not supported"},
    {"{" QF_BASE_MODEL
     ",'post_processor':{'type':'TemplateProcessing','single':[{'SpecialToken':{'id':'<s>'}},"
     "{'Sequence':{'id':'A'}}],'special_tokens':{}}}",
     QF_STATUS_FORMAT, "post_processor special token '<s>' has no ids in special_tokens"},
    {"{" QF_BASE_MODEL
     ",'post_processor':{'type':'TemplateProcessing','single':[{'SpecialToken':{'id':'<s>'}},"
     "{'Sequence':{'id':'A'}}],'special_tokens':{'<s>':{'id':'<s>','ids':[99],'tokens':['<s>']}}}}",
     QF_STATUS_FORMAT, "post_processor adds id 99, outside the vocabulary (4 ids)"},
    {"{" QF_BASE_MODEL
     ",'post_processor':{'type':'TemplateProcessing','single':[{'Sequence':{'id':'B'}}]}}",
     QF_STATUS_FORMAT, "'single' template must hold $A once"},
    {"{" QF_BASE_MODEL ",'added_tokens':{}}", QF_STATUS_FORMAT, "added_tokens must be an array"},
    {"{" QF_BASE_MODEL ",'added_tokens':[{'content':'x'}]}", QF_STATUS_FORMAT,
     "added_tokens[0] has no 'id'"},
    {"{" QF_BASE_MODEL ",'added_tokens':[{'id':4}]}", QF_STATUS_FORMAT,
     "added token has no 'content' string"},
    {"{" QF_BASE_MODEL ",'added_tokens':[{'id':4,'content':'x','lstrip':1}]}", QF_STATUS_FORMAT,
     "added token 'lstrip' must be true or false"},
};

typedef struct qf_config_case {
    const char *config;
    qf_status status;
    const char *needle;
} qf_config_case;

static const qf_config_case qf_bad_config[] = {
    {"{", QF_STATUS_FORMAT, "'bad.json (tokenizer_config.json)': invalid JSON"},
    {"[]", QF_STATUS_FORMAT, "tokenizer_config.json is not an object"},
    {"{\"add_bos_token\": true}", QF_STATUS_FORMAT,
     "sets add_bos_token but bos_token is missing or unknown"},
    {"{\"add_eos_token\": true, \"eos_token\": \"</s>\"}", QF_STATUS_FORMAT,
     "sets add_eos_token but eos_token is missing or unknown"},
    {"{\"bos_token\": 3}", QF_STATUS_FORMAT,
     "bos_token must be a string or an object with 'content'"},
};

static void qf_test_bad_json(void) {
    for (size_t i = 0; i < sizeof qf_bad / sizeof qf_bad[0]; i++) {
        const char *json = qf_q(qf_bad[i].json);
        CHECK_FAILS(qf_load(json, NULL), qf_bad[i].status, qf_bad[i].needle);
    }
    const char *base = "{" QF_BASE_MODEL "," QF_BASE_ADDED "}";
    for (size_t i = 0; i < sizeof qf_bad_config / sizeof qf_bad_config[0]; i++)
        CHECK_FAILS(qf_load(qf_q(base), qf_bad_config[i].config), qf_bad_config[i].status,
                    qf_bad_config[i].needle);
    /* not UTF-8 (serde_json refuses it) */
    char bad_utf8[256];
    snprintf(bad_utf8, sizeof bad_utf8, "%s",
             qf_q("{'model':{'type':'BPE','vocab':{'a\xff':0},'merges':[]}}"));
    CHECK_FAILS(qf_load(bad_utf8, NULL), QF_STATUS_FORMAT, "'bad.json': invalid UTF-8 at byte 34");
    /* every truncation of a valid file fails cleanly */
    char full[512];
    snprintf(full, sizeof full, "%s", qf_q(base));
    size_t n = strlen(full);
    int clean = 1;
    for (size_t len = 0; len < n; len++) {
        qf_tokenizer *t = NULL;
        qf_status st = qf_tokenizer_load_json(full, len, NULL, "cut.json", &t);
        clean &= st == QF_STATUS_FORMAT && t == NULL;
        qf_tokenizer_free(t);
    }
    CHECK_MSG(clean, "a truncated tokenizer.json did not fail with a format error");
}

/* The base tokenizer works, and bad calls are refused. */
static void qf_test_calls(void) {
    qf_tokenizer *t = NULL;
    const char *base = qf_q("{" QF_BASE_MODEL "," QF_BASE_ADDED "}");
    CHECK_OK(qf_tokenizer_load_json(base, strlen(base), NULL, "base.json", &t));
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(qf_tokenizer_encode(t, "ab<s>ba", 7, 1, &ids, &n));
    CHECK(n == 4 && ids[0] == 2 && ids[1] == 3 && ids[2] == 1 && ids[3] == 0);
    free(ids);
    CHECK_OK(qf_tokenizer_encode(t, NULL, 0, 1, &ids, &n));
    CHECK(n == 0 && ids != NULL);
    free(ids);
    CHECK_FAILS(qf_tokenizer_encode(t, NULL, 3, 0, &ids, &n), QF_STATUS_INVALID_ARG,
                "NULL argument");
    int32_t bad_ids[] = {0, 4};
    char *out = NULL;
    size_t out_len;
    CHECK_FAILS(qf_tokenizer_decode(t, bad_ids, 2, &out, &out_len), QF_STATUS_INVALID_ARG,
                "'base.json': id 4 at position 1 is outside the vocabulary (4 ids)");
    CHECK(out == NULL);
    int32_t neg[] = {-1};
    CHECK_FAILS(qf_tokenizer_decode(t, neg, 1, &out, &out_len), QF_STATUS_INVALID_ARG, "id -1");
    CHECK(qf_tokenizer_vocab_size(t) == 4 && qf_tokenizer_bos_id(t) == -1 &&
          qf_tokenizer_eos_id(t) == -1);
    qf_tokenizer_free(t);
    qf_tokenizer_free(NULL);
    CHECK_FAILS(qf_tokenizer_load_json(NULL, 0, NULL, "x", &t), QF_STATUS_INVALID_ARG,
                "no JSON text");
}

static int qf_write(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

/* Files on disk: missing paths, a directory without a tokenizer, broken GPT-2 files. */
static void qf_test_files(void) {
    qf_tokenizer *t = NULL;
    CHECK_FAILS(qf_tokenizer_load("/nonexistent/tokenizer.json", &t), QF_STATUS_IO,
                "/nonexistent/tokenizer.json");
    char dir[] = "/tmp/qf_tok_bad_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    CHECK_FAILS(qf_tokenizer_load(dir, &t), QF_STATUS_NOT_FOUND,
                "no tokenizer.json (nor vocab.json + merges.txt)");
    CHECK(qf_write(dir, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}"));
    CHECK(qf_write(dir, "merges.txt", "#version: 0.2\na b\nab\n"));
    CHECK_FAILS(qf_tokenizer_load(dir, &t), QF_STATUS_FORMAT,
                "merges.txt': line 3 is not two tokens separated by one space");
    CHECK(qf_write(dir, "merges.txt", "#version: 0.2\na c\n"));
    CHECK_FAILS(qf_tokenizer_load(dir, &t), QF_STATUS_FORMAT,
                "model.merges[0]: token 'c' is not in the vocabulary");
    CHECK(qf_write(dir, "merges.txt", "a b\r\n"));
    CHECK_OK(qf_tokenizer_load(dir, &t));
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(qf_tokenizer_encode(t, "ab", 2, 1, &ids, &n));
        CHECK(n == 1 && ids && ids[0] == 2);
        free(ids);
        qf_tokenizer_free(t);
        t = NULL;
    }
    CHECK(qf_write(dir, "vocab.json", "[1, 2]"));
    CHECK_FAILS(qf_tokenizer_load(dir, &t), QF_STATUS_FORMAT,
                "vocab.json': not a JSON object of token -> id");
    CHECK(qf_write(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}"));
    CHECK_FAILS(qf_tokenizer_load(dir, &t), QF_STATUS_UNSUPPORTED,
                "tokenizer.json': model type 'WordLevel'");
    CHECK(qf_write(dir, "tokenizer.json", qf_q("{" QF_BASE_MODEL "," QF_BASE_ADDED "}")));
    CHECK(qf_write(dir, "tokenizer_config.json",
                   "{\"add_bos_token\": true, \"bos_token\": {\"content\": \"<s>\"}}"));
    CHECK_OK(qf_tokenizer_load(dir, &t));
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(qf_tokenizer_encode(t, "ab", 2, 1, &ids, &n));
        CHECK(n == 2 && ids && ids[0] == 3 && ids[1] == 2 && qf_tokenizer_bos_id(t) == 3);
        free(ids);
        qf_tokenizer_free(t);
    }
    const char *files[] = {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void) {
    qf_test_bad_json();
    qf_test_calls();
    qf_test_files();
    TEST_END();
}
