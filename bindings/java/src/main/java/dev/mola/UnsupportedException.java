// UnsupportedException.java: a feature the model or build does not have (for example FIM tokens).
package dev.mola;

public class UnsupportedException extends MolaException {
    private static final long serialVersionUID = 1L;

    public UnsupportedException(String message) {
        super(message, STATUS_UNSUPPORTED);
    }
}
