// MisuseException.java: a call out of order (for example logits before any token).
package dev.mola;

public class MisuseException extends MolaException {
    private static final long serialVersionUID = 1L;

    public MisuseException(String message) {
        super(message, STATUS_MISUSE);
    }
}
