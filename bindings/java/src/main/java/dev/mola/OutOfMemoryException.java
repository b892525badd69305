// OutOfMemoryException.java: native memory (or the KV cache's budget) ran out.
package dev.mola;

public class OutOfMemoryException extends MolaException {
    private static final long serialVersionUID = 1L;

    public OutOfMemoryException(String message) {
        super(message, STATUS_OUT_OF_MEMORY);
    }
}
