// TextListener.java: a listener that sees each piece of generated text as it is produced (never a split character).
package dev.mola;

@FunctionalInterface
public interface TextListener {
    /**
     * Return false to stop. An exception thrown here also stops the native call,
     * and the same exception reaches the caller once that call has returned.
     */
    boolean onText(String piece);
}
