// Generation.java: a running generation, iterated piece by piece (for-each or
// Iterator), over the native TextStream. close() (or try-with-resources) stops it;
// cancel() ends it early with FinishReason.CANCELLED and is safe from any thread.
package dev.mola;

import java.util.Iterator;
import java.util.NoSuchElementException;

public final class Generation extends NativeHandle<dev.mola.internal.TextStream>
        implements Iterator<String>, Iterable<String> {
    private final Bridges.Prefill progress;
    private String pending;
    private boolean ended;
    private GenerationResult result;

    Generation(dev.mola.internal.TextStream stream, Bridges.Prefill progress) {
        super("Generation");
        this.progress = progress;
        adopt(stream);
        if (progress != null) progress.retain();
    }

    /** Waits for the next piece; false at the end (then result() is ready). */
    @Override
    public boolean hasNext() {
        if (pending != null) return true;
        if (ended) return false;
        boolean more;
        try {
            more = use(dev.mola.internal.TextStream::next);
        } catch (MolaException e) {
            ended = true;
            close();
            if (progress != null) progress.guard.rethrow();
            throw e;
        }
        if (more) {
            pending = use(dev.mola.internal.TextStream::text);
            return true;
        }
        result = GenerationResult.of(use(dev.mola.internal.TextStream::result));
        ended = true;
        close();
        // A prefill listener that threw ended the generation as "cancelled": it wins.
        if (progress != null) progress.guard.rethrow();
        return false;
    }

    @Override
    public String next() {
        if (!hasNext()) throw new NoSuchElementException("the generation has ended");
        String piece = pending;
        pending = null;
        return piece;
    }

    /** This generation itself: it can be iterated once. */
    @Override
    public Iterator<String> iterator() {
        return this;
    }

    /** Runs the generation to its end (dropping pieces not yet read) and returns its result. */
    public GenerationResult result() {
        while (hasNext()) next();
        return result;
    }

    /** Asks the generation to stop at its next piece. Safe from any thread. */
    public void cancel() {
        peek(dev.mola.internal.TextStream::cancel);
    }

    @Override
    void interrupt(dev.mola.internal.TextStream s) {
        s.cancel();
    }

    @Override
    void destroy(dev.mola.internal.TextStream s) {
        s.close();  // stops and joins the generation's thread
        s.delete();
        if (progress != null) progress.release();
    }
}
