// Model.java: a loaded checkpoint, immutable and shared by its sessions and threads.
//
//     try (Model model = new Model(Path.of("share/models/mola-tiny-code"));
//          Session session = model.newSession()) {
//         for (String piece : session.generate("def fib(n):", new GenerateOptions().maxTokens(32)))
//             System.out.print(piece);
//     }
package dev.mola;

import java.nio.file.Path;

import dev.mola.internal.NativeLoader;

public final class Model extends NativeHandle<dev.mola.internal.Model> {
    private Tokenizer tokenizer;

    public Model(Path path) {
        this(path.toString(), new ModelOptions());
    }

    public Model(Path path, ModelOptions options) {
        this(path.toString(), options);
    }

    public Model(String path) {
        this(path, new ModelOptions());
    }

    /** Loads a checkpoint directory; FileException / BadFormatException name the file at fault. */
    public Model(String path, ModelOptions options) {
        super("Model");
        NativeLoader.load();
        Bridges.Load progress = options.progress != null ? new Bridges.Load(options.progress) : null;
        dev.mola.internal.ModelOptions o = options.toNative();
        dev.mola.internal.Model loaded;
        try {
            loaded = new dev.mola.internal.Model(path, o, progress);
        } catch (RuntimeException e) {
            if (progress != null) progress.guard.rethrow();
            throw MolaException.translate(e);
        } finally {
            o.delete();
            if (progress != null) progress.delete();
        }
        adopt(loaded);
        if (progress != null) {
            if (progress.guard.failed()) {
                close();  // the listener threw on the last report, after the load was complete
                progress.guard.rethrow();
            }
        }
    }

    public ModelInfo info() {
        return ModelInfo.of(use(dev.mola.internal.Model::info));
    }

    public CacheUsage cacheUsage() {
        return CacheUsage.of(use(dev.mola.internal.Model::cache_usage));
    }

    public void clearPrefixCache() {
        run(dev.mola.internal.Model::clear_prefix_cache);
    }

    /** The checkpoint's tokenizer (closed with the model). */
    public synchronized Tokenizer tokenizer() {
        if (tokenizer == null || tokenizer.isClosed()) tokenizer = new Tokenizer(use(dev.mola.internal.Model::tokenizer));
        return tokenizer;
    }

    /** A new session with the default options. */
    public Session newSession() {
        return new Session(this, new SessionOptions());
    }

    public Session newSession(SessionOptions options) {
        return new Session(this, options);
    }

    @Override
    public void close() {
        Tokenizer t;
        synchronized (this) {
            t = tokenizer;
        }
        if (t != null) t.close();
        super.close();
    }

    @Override
    void destroy(dev.mola.internal.Model m) {
        m.close();
        m.delete();
    }
}
