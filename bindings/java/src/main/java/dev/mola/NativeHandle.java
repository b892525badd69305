// NativeHandle.java: what every handle shares: the native object, close() (idempotent,
// safe from any thread), the closed check, and the translation of native errors.
// A call in flight keeps the native object alive: close() from another thread (or
// from a listener) stops it and frees the object once the call has returned.
package dev.mola;

import java.util.function.Consumer;
import java.util.function.Function;

abstract class NativeHandle<N> implements AutoCloseable {
    private final String kind;
    private N handle;
    private int callsInFlight;
    private boolean closed;

    NativeHandle(String kind) {
        this.kind = kind;
    }

    final void adopt(N native_) {
        synchronized (this) {
            handle = native_;
        }
    }

    /** Runs fn on the native object, turning native errors into MolaExceptions. */
    final <R> R use(Function<N, R> fn) {
        N h = acquire();
        try {
            return fn.apply(h);
        } catch (RuntimeException e) {
            throw MolaException.translate(e);
        } finally {
            release();
        }
    }

    final void run(Consumer<N> fn) {
        use(h -> {
            fn.accept(h);
            return null;
        });
    }

    /** Runs a cheap, thread-safe call (cancel) unless the handle is closed. */
    final synchronized void peek(Consumer<N> fn) {
        if (!closed && handle != null) fn.accept(handle);
    }

    private synchronized N acquire() {
        if (closed || handle == null) throw new ClosedException(kind + " is closed");
        callsInFlight++;
        return handle;
    }

    private void release() {
        N done = null;
        synchronized (this) {
            if (--callsInFlight == 0 && closed) {
                done = handle;
                handle = null;
            }
        }
        if (done != null) destroy(done);
    }

    /** Releases the native object now, or when the calls in flight return (idempotent). */
    @Override
    public void close() {
        N done = null;
        synchronized (this) {
            if (closed) return;
            closed = true;
            if (callsInFlight == 0) {
                done = handle;
                handle = null;
            } else if (handle != null) {
                interrupt(handle);
            }
        }
        if (done != null) destroy(done);
    }

    public final synchronized boolean isClosed() {
        return closed;
    }

    /** Stops the calls in flight when another thread closes the handle. */
    void interrupt(N native_) {}

    /** Closes and deletes the native object. */
    abstract void destroy(N native_);
}
