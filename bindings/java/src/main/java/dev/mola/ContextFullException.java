// ContextFullException.java: the session's context is full (overflow "error").
package dev.mola;

public class ContextFullException extends MolaException {
    private static final long serialVersionUID = 1L;

    public ContextFullException(String message) {
        super(message, STATUS_CONTEXT_FULL);
    }
}
