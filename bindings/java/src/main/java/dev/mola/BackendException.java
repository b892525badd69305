// BackendException.java: the compute backend failed.
package dev.mola;

public class BackendException extends MolaException {
    private static final long serialVersionUID = 1L;

    public BackendException(String message) {
        super(message, STATUS_BACKEND);
    }
}
