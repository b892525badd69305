/* generate.c: stream a completion from C through mola.h.
 *
 *   build/samples/sample_generate_c MODEL_DIR "def fibonacci(n):"
 *
 * Loads the model, encodes the prompt with the model's tokenizer, and generates up
 * to 64 tokens with seeded sampling, printing text as it arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mola/mola.h"

static int print_piece(void *user_data, const char *text, size_t text_len, const int32_t *tokens, size_t n_tokens) {
    (void)user_data;
    (void)tokens;
    (void)n_tokens;
    fwrite(text, 1, text_len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop generation */
}

static int fail(const char *what, mola_status status) {
    fprintf(stderr, "%s: %s: %s\n", what, mola_status_string(status), mola_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT\n", argv[0]);
        return 2;
    }
    mola_model *model = NULL;
    mola_status s = mola_model_load(argv[1], NULL, &model);
    if (s != MOLA_OK) return fail("load", s);

    mola_tokenizer *tok = NULL;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    mola_session *session = NULL;
    int rc = 1;
    if ((s = mola_model_get_tokenizer(model, &tok)) != MOLA_OK) { fail("tokenizer", s); goto done; }
    /* Two calls: ask for the size, then fill a buffer of that size. */
    s = mola_tokenizer_encode(tok, argv[2], strlen(argv[2]), MOLA_TOKENIZE_ADD_SPECIAL, NULL, 0, &n_prompt);
    if (s != MOLA_ERR_BUFFER_TOO_SMALL && s != MOLA_OK) { fail("encode", s); goto done; }
    prompt = malloc(n_prompt * sizeof *prompt);
    if (!prompt) goto done;
    s = mola_tokenizer_encode(tok, argv[2], strlen(argv[2]), MOLA_TOKENIZE_ADD_SPECIAL, prompt, n_prompt, &n_prompt);
    if (s != MOLA_OK) { fail("encode", s); goto done; }

    if ((s = mola_session_create(model, NULL, &session)) != MOLA_OK) { fail("session", s); goto done; }

    mola_sampler_params sampler;
    mola_sampler_params_default(&sampler);
    sampler.temperature = 0.7f;
    sampler.seed = 42;

    const char *stop[] = {"\n\n\n"};
    mola_generate_params params;
    mola_generate_params_default(&params);
    params.max_tokens = 64;
    params.stop = stop;
    params.n_stop = 1;
    params.stream = print_piece;

    mola_generate_result result;
    memset(&result, 0, sizeof result);
    result.struct_size = sizeof result;
    fputs(argv[2], stdout);
    s = mola_session_generate(session, prompt, n_prompt, &sampler, &params, &result);
    if (s != MOLA_OK) { fail("generate", s); goto done; }
    fprintf(stderr, "\n[finish reason %d, %d prompt tokens at %.0f tok/s, %d generated at %.0f tok/s]\n",
            result.finish_reason, result.n_prompt_tokens, result.prefill_tokens_per_second,
            result.n_generated_tokens, result.decode_tokens_per_second);
    rc = 0;
done:
    mola_session_destroy(session);
    free(prompt);
    mola_tokenizer_destroy(tok);
    mola_model_destroy(model);
    return rc;
}
