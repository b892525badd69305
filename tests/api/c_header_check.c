/* c_header_check.c: mola.h must compile as plain C99 (tests/cli.cmake adds
 * -std=c99 -pedantic-errors) and work from C. Called from test_c_api.cpp; returns
 * 0 on success or the number of the first failed check. */
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 199901L
#error "c_header_check.c must be compiled as C99 or later"
#endif

#include "mola/mola.h"
#include "mola/mola.h" /* the include guard holds */

#include <stddef.h>
#include <string.h>

int mola_c_header_check(void);

static int count_tokens(void *user_data, const char *text, size_t text_len, const int32_t *tokens, size_t n_tokens) {
    (void)text;
    (void)text_len;
    (void)tokens;
    *(size_t *)user_data += n_tokens;
    return 0;
}

static int empty_progress(void *user_data, float progress) {
    (void)user_data;
    return progress < 0.0f || progress > 1.0f; /* cancel on a value outside [0, 1] */
}

int mola_c_header_check(void) {
    mola_model_params model_params;
    mola_session_params session_params;
    mola_model_info info;
    mola_model *model = NULL;
    mola_session *session = NULL;
    mola_batch *batch = NULL;
    const float *logits = NULL;
    size_t n_vocab = 0, n_tokens = 0;
    int32_t tokens[3] = {1, 2, 3};
    mola_status status;

    if (mola_version() != MOLA_VERSION_NUMBER) return 1;
    if (strcmp(mola_version_string(), MOLA_VERSION_STRING) != 0) return 2;
    if (mola_build_info()[0] == '\0') return 3;
    if (strcmp(mola_status_string(MOLA_ERR_BAD_FORMAT), "MOLA_ERR_BAD_FORMAT") != 0) return 4;

    mola_model_params_default(&model_params);
    if (model_params.struct_size != sizeof(mola_model_params)) return 5;
    mola_session_params_default(&session_params);
    if (session_params.struct_size != sizeof(mola_session_params)) return 6;

    /* Errors are status codes with a message, never a crash. */
    status = mola_model_load(NULL, &model_params, &model);
    if (status != MOLA_ERR_INVALID_ARG || model != NULL || mola_last_error()[0] == '\0') return 7;
    mola_model_destroy(NULL);
    mola_session_destroy(NULL);

    /* A real load and a few tokens. */
    model_params.n_threads = 1;
    model_params.mla_mode = MOLA_MLA_AUTO;
    model_params.backend = "cpu";
    model_params.progress = empty_progress;
    model_params.progress_user_data = NULL;
    status = mola_model_load(MOLA_TEST_DATA "/v3", &model_params, &model);
    if (status != MOLA_OK || model == NULL) return 8;
    if (mola_last_error()[0] != '\0') return 9;

    memset(&info, 0, sizeof info);
    info.struct_size = (uint32_t)sizeof info;
    if (mola_model_get_info(model, &info) != MOLA_OK) return 10;
    if (info.n_vocab <= 0 || info.n_mtp_layers != 1 || strcmp(info.architecture, "deepseek_v3") != 0) return 11;

    session_params.n_ctx = 8;
    if (mola_session_create(model, &session_params, &session) != MOLA_OK || session == NULL) return 12;
    if (mola_batch_create(model, 2, &batch) != MOLA_OK || batch == NULL) return 26;
    mola_model_destroy(model); /* the session and the batch keep it alive */
    if (mola_session_get_logits(session, &logits, &n_vocab) != MOLA_ERR_MISUSE) return 13;
    if (mola_session_append(session, tokens, 3) != MOLA_OK) return 14;
    if (mola_session_decode(session, 4) != MOLA_OK) return 15;
    if (mola_session_get_logits(session, &logits, &n_vocab) != MOLA_OK) return 16;
    if (logits == NULL || n_vocab != (size_t)info.n_vocab) return 17;
    if (mola_session_get_n_tokens(session, &n_tokens) != MOLA_OK || n_tokens != 4) return 18;

    /* Generation from C: seeded sampling, streaming, a token limit. */
    {
        mola_sampler_params sampler;
        mola_generate_params gen;
        mola_generate_result result;
        size_t streamed = 0;
        mola_sampler_params_default(&sampler);
        if (sampler.struct_size != sizeof(mola_sampler_params)) return 19;
        sampler.seed = 5;
        mola_generate_params_default(&gen);
        if (gen.struct_size != sizeof(mola_generate_params)) return 20;
        gen.max_tokens = 3;
        gen.ignore_eos = 1;
        gen.stream = count_tokens;
        gen.stream_user_data = &streamed;
        memset(&result, 0, sizeof result);
        result.struct_size = (uint32_t)sizeof result;
        if (mola_session_generate(session, tokens, 1, &sampler, &gen, &result) != MOLA_OK) return 21;
        if (result.finish_reason != MOLA_FINISH_LENGTH || result.n_generated_tokens != 3 || streamed != 3) return 22;
        if (mola_session_cancel(session) != MOLA_OK) return 23;
        if (mola_session_generate(session, NULL, 0, NULL, &gen, &result) != MOLA_OK) return 24;
        if (result.finish_reason != MOLA_FINISH_CANCELLED || result.n_generated_tokens != 0) return 25;
    }
    /* A batch step from C: the session is full (n_ctx 8), then has room again. */
    {
        const int32_t next = 5;
        if (mola_batch_decode(batch, &session, &next, 1) != MOLA_ERR_CONTEXT_FULL) return 27;
        if (mola_session_rewind(session, 4) != MOLA_OK) return 28;
        if (mola_batch_decode(batch, &session, &next, 1) != MOLA_OK) return 29;
        if (mola_session_get_n_tokens(session, &n_tokens) != MOLA_OK || n_tokens != 5) return 30;
        if (mola_session_get_logits(session, &logits, &n_vocab) != MOLA_OK) return 31;
        mola_batch_destroy(batch);
        mola_batch_destroy(NULL);
    }
    mola_session_destroy(session);
    return 0;
}
