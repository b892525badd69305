// PrefillProgressListener.java: a listener that sees the progress of a prefill of two or more tokens, after each chunk.
package dev.mola;

@FunctionalInterface
public interface PrefillProgressListener {
    /**
     * Return false to stop. An exception thrown here also stops the native call,
     * and the same exception reaches the caller once that call has returned.
     */
    boolean onPrefill(long done, long total);
}
