// SessionOptions.java: a session's context size, prefill chunk, overflow policy and
// prefill listener, with fluent setters.
package dev.mola;

public final class SessionOptions {
    private int contextSize;
    private int batchSize;
    private String overflow = "error";
    private int keep;
    private int discard;
    PrefillProgressListener progress;

    /** Context length in tokens; 0 = min(4096, the model's limit). */
    public SessionOptions contextSize(int tokens) { contextSize = tokens; return this; }
    /** Prefill chunk in tokens; 0 = 256. */
    public SessionOptions batchSize(int tokens) { batchSize = tokens; return this; }
    /** "error" (a full context throws ContextFullException) or "slide". */
    public SessionOptions overflow(String policy) { overflow = policy; return this; }
    /** On a full context keep the first keep tokens and drop the discard after them. */
    public SessionOptions slide(int keep, int discard) {
        this.overflow = "slide";
        this.keep = keep;
        this.discard = discard;
        return this;
    }
    /** Sees every prefill of two or more tokens; returning false (or throwing) cancels it. */
    public SessionOptions onPrefill(PrefillProgressListener listener) { progress = listener; return this; }

    dev.mola.internal.SessionOptions toNative() {
        dev.mola.internal.SessionOptions o = new dev.mola.internal.SessionOptions();
        o.setN_ctx(contextSize);
        o.setN_batch(batchSize);
        o.setOverflow(overflow);
        o.setN_keep(keep);
        o.setN_discard(discard);
        return o;
    }
}
