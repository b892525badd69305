// GenerationResult.java: a finished generation: its text and tokens, why it ended, and its speed.
package dev.mola;

public record GenerationResult(String text, int[] tokens, FinishReason finishReason, int nPromptTokens,
        int nGeneratedTokens, double timeToFirstTokenMs, double prefillTokensPerSecond,
        double decodeTokensPerSecond) {

    static GenerationResult of(dev.mola.internal.GenerateResult r) {
        try {
            dev.mola.internal.IntVector ids = r.getTokens();
            int[] tokens = new int[ids.size()];
            for (int i = 0; i < tokens.length; i++) tokens[i] = ids.get(i);
            return new GenerationResult(r.getText(), tokens, FinishReason.of(r.getFinish_reason()),
                    r.getN_prompt_tokens(), r.getN_generated_tokens(), r.getTime_to_first_token_ms(),
                    r.getPrefill_tokens_per_second(), r.getDecode_tokens_per_second());
        } finally {
            r.delete();
        }
    }
}
