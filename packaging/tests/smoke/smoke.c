/* smoke.c: the installed-package C smoke program, built with
 * `pkg-config --cflags --libs mola`. Generates through mola.h and prints the
 * streamed text hex-encoded on one line, to compare with the C++ consumer's.
 *
 *   smoke_c MODEL_DIR PROMPT SEED MAX_TOKENS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mola/mola.h>

typedef struct text_buffer {
    char data[1 << 16];
    size_t len;
} text_buffer;

static int collect_piece(void *user_data, const char *text, size_t text_len, const int32_t *tokens, size_t n_tokens) {
    text_buffer *buffer = user_data;
    (void)tokens;
    (void)n_tokens;
    if (buffer->len + text_len > sizeof buffer->data) return 1; /* stop: more text than this test expects */
    memcpy(buffer->data + buffer->len, text, text_len);
    buffer->len += text_len;
    return 0;
}

static int fail(const char *what, mola_status status) {
    fprintf(stderr, "smoke_c: %s: %s: %s\n", what, mola_status_string(status), mola_last_error());
    return 1;
}

int main(int argc, char **argv) {
    static text_buffer generated;
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT SEED MAX_TOKENS\n", argv[0]);
        return 2;
    }
    mola_model_params model_params;
    mola_model_params_default(&model_params);
    model_params.n_threads = 1; /* as the C++ consumer */
    mola_model *model = NULL;
    mola_status s = mola_model_load(argv[1], &model_params, &model);
    if (s != MOLA_OK) return fail("load", s);

    mola_tokenizer *tok = NULL;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    mola_session *session = NULL;
    int rc = 1;
    if ((s = mola_model_get_tokenizer(model, &tok)) != MOLA_OK) { fail("tokenizer", s); goto done; }
    s = mola_tokenizer_encode(tok, argv[2], strlen(argv[2]), MOLA_TOKENIZE_ADD_SPECIAL, NULL, 0, &n_prompt);
    if (s != MOLA_ERR_BUFFER_TOO_SMALL && s != MOLA_OK) { fail("encode", s); goto done; }
    prompt = malloc((n_prompt ? n_prompt : 1) * sizeof *prompt);
    if (!prompt) goto done;
    s = mola_tokenizer_encode(tok, argv[2], strlen(argv[2]), MOLA_TOKENIZE_ADD_SPECIAL, prompt, n_prompt, &n_prompt);
    if (s != MOLA_OK) { fail("encode", s); goto done; }
    if ((s = mola_session_create(model, NULL, &session)) != MOLA_OK) { fail("session", s); goto done; }

    mola_sampler_params sampler;
    mola_sampler_params_default(&sampler);
    sampler.seed = strtoull(argv[3], NULL, 10);
    mola_generate_params params;
    mola_generate_params_default(&params);
    params.max_tokens = atoi(argv[4]);
    params.ignore_eos = 1;
    params.stream = collect_piece;
    params.stream_user_data = &generated;
    mola_generate_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    s = mola_session_generate(session, prompt, n_prompt, &sampler, &params, &result);
    if (s != MOLA_OK) { fail("generate", s); goto done; }
    if (generated.len == 0) { fprintf(stderr, "smoke_c: nothing generated\n"); goto done; }
    for (size_t i = 0; i < generated.len; ++i) printf("%02x", (unsigned char)generated.data[i]);
    printf("\n");
    rc = 0;
done:
    mola_session_destroy(session);
    free(prompt);
    mola_tokenizer_destroy(tok);
    mola_model_destroy(model);
    return rc;
}
