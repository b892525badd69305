// LoadProgressListener.java: a listener that sees the progress of a model load, a fraction in [0, 1] that ends at 1.0.
package dev.mola;

@FunctionalInterface
public interface LoadProgressListener {
    /**
     * Return false to stop. An exception thrown here also stops the native call,
     * and the same exception reaches the caller once that call has returned.
     */
    boolean onProgress(double fraction);
}
