// ClosedException.java: a handle used after close().
package dev.mola;

public class ClosedException extends MisuseException {
    private static final long serialVersionUID = 1L;

    public ClosedException(String message) {
        super(message);
    }
}
