// Session.java: a token history and its KV cache. One thread at a time, except
// cancel() and close(), which are safe from any thread.
package dev.mola;

import java.nio.file.Path;

public final class Session extends NativeHandle<dev.mola.internal.Session> {
    private final Model model;
    // Shared with forks and generations: the native session calls it during prefills.
    private final Bridges.Prefill progress;

    public Session(Model model) {
        this(model, new SessionOptions());
    }

    public Session(Model model, SessionOptions options) {
        super("Session");
        this.model = model;
        this.progress = options.progress != null ? new Bridges.Prefill(options.progress) : null;
        dev.mola.internal.SessionOptions o = options.toNative();
        try {
            adopt(model.use(m -> new dev.mola.internal.Session(m, o, progress)));
        } finally {
            o.delete();
        }
        if (progress != null) progress.retain();
    }

    private Session(Model model, dev.mola.internal.Session native_, Bridges.Prefill progress) {
        super("Session");
        this.model = model;
        this.progress = progress;
        adopt(native_);
        if (progress != null) progress.retain();
    }

    /** A session saved by save(), restored exactly; BadFormatException names a damaged file. */
    public static Session load(Model model, Path path) {
        return load(model, path, new SessionOptions());
    }

    /** options' context size 0 = the saved session's. */
    public static Session load(Model model, Path path, SessionOptions options) {
        Bridges.Prefill progress = options.progress != null ? new Bridges.Prefill(options.progress) : null;
        dev.mola.internal.SessionOptions o = options.toNative();
        try {
            return new Session(model,
                    model.use(m -> dev.mola.internal.Session.load(m, path.toString(), o, progress)), progress);
        } finally {
            o.delete();
        }
    }

    /** Saves atomically: a crash mid-save keeps the previous file. */
    public void save(Path path) {
        run(s -> s.save(path.toString()));
    }

    /** Appends tokens and computes the logits of the last one. */
    public void append(int[] tokens) {
        prefill(s -> {
            s.append(tokens);
            return null;
        });
    }

    /** Appends text, encoded with the model's tokenizer (with BOS when the session is empty). */
    public void append(String text) {
        append(encode(text));
    }

    /** The logits after the last token (nVocab floats); MisuseException before any token. */
    public float[] logits() {
        return use(dev.mola.internal.Session::logits);
    }

    /** Keeps the first nTokens tokens. */
    public void rewind(long nTokens) {
        run(s -> s.rewind(nTokens));
    }

    /** A copy-on-write copy that shares this session's cache blocks. */
    public Session fork() {
        return new Session(model, use(dev.mola.internal.Session::fork), progress);
    }

    /**
     * Appends the prompt and generates; iterate the Generation for the text as it comes.
     * The session is busy until the generation ends or is closed: open it with
     * try-with-resources when you may stop reading early, since it runs on otherwise.
     */
    public Generation generate(int[] prompt, GenerateOptions options) {
        dev.mola.internal.SamplerOptions sampler = options.sampler();
        dev.mola.internal.GenerateOptions generate = options.generate();
        try {
            return new Generation(use(s -> s.stream(prompt, sampler, generate)), progress);
        } finally {
            sampler.delete();
            generate.delete();
        }
    }

    public Generation generate(String prompt, GenerateOptions options) {
        return generate(encode(prompt), options);
    }

    /** Continues the session without a new prompt. */
    public Generation generate(GenerateOptions options) {
        return generate(new int[0], options);
    }

    /**
     * Generates in one call; listener (may be null) sees each piece as it is produced.
     * An exception thrown by the listener stops the generation and is rethrown here.
     */
    public GenerationResult complete(int[] prompt, GenerateOptions options, TextListener listener) {
        Bridges.Text sink = listener != null ? new Bridges.Text(listener) : null;
        dev.mola.internal.SamplerOptions sampler = options.sampler();
        dev.mola.internal.GenerateOptions generate = options.generate();
        try {
            dev.mola.internal.GenerateResult r = prefill(s -> s.generate(prompt, sampler, generate, sink));
            if (sink != null) sink.guard.rethrow();
            return GenerationResult.of(r);
        } catch (MolaException e) {
            if (sink != null) sink.guard.rethrow();
            throw e;
        } finally {
            sampler.delete();
            generate.delete();
            if (sink != null) sink.delete();
        }
    }

    public GenerationResult complete(String prompt, GenerateOptions options, TextListener listener) {
        return complete(encode(prompt), options, listener);
    }

    public GenerationResult complete(int[] prompt, GenerateOptions options) {
        return complete(prompt, options, null);
    }

    public GenerationResult complete(String prompt, GenerateOptions options) {
        return complete(encode(prompt), options, null);
    }

    /** Stops a running (or the next) generation or prefill. Safe from any thread. */
    public void cancel() {
        peek(dev.mola.internal.Session::cancel);
    }

    public long nTokens() {
        return use(dev.mola.internal.Session::n_tokens);
    }

    public long nCtx() {
        return use(dev.mola.internal.Session::n_ctx);
    }

    public long nVocab() {
        return use(dev.mola.internal.Session::n_vocab);
    }

    public int[] tokens() {
        return use(dev.mola.internal.Session::tokens);
    }

    /** Application bytes saved, loaded and forked with the session. */
    public byte[] metadata() {
        return use(dev.mola.internal.Session::metadata);
    }

    public void setMetadata(byte[] data) {
        run(s -> s.set_metadata(data));
    }

    public Model model() {
        return model;
    }

    dev.mola.internal.Session nativeHandle() {
        return use(s -> s);
    }

    private int[] encode(String text) {
        boolean first = nTokens() == 0;
        return model.tokenizer().encode(text, first, true);
    }

    // A call that may prefill: what the prefill listener threw wins over the cancellation it caused.
    private <R> R prefill(java.util.function.Function<dev.mola.internal.Session, R> fn) {
        try {
            R r = use(fn);
            if (progress != null) progress.guard.rethrow();
            return r;
        } catch (MolaException e) {
            if (progress != null) progress.guard.rethrow();
            throw e;
        }
    }

    @Override
    void interrupt(dev.mola.internal.Session s) {
        s.cancel();
    }

    @Override
    void destroy(dev.mola.internal.Session s) {
        s.close();
        s.delete();
        if (progress != null) progress.release();
    }
}
