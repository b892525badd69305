// InternalException.java: a bug in mola.
package dev.mola;

public class InternalException extends MolaException {
    private static final long serialVersionUID = 1L;

    public InternalException(String message) {
        super(message, STATUS_INTERNAL);
    }
}
