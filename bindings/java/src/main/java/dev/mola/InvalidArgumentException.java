// InvalidArgumentException.java: an argument out of its range (a token id, an option string).
package dev.mola;

public class InvalidArgumentException extends MolaException {
    private static final long serialVersionUID = 1L;

    public InvalidArgumentException(String message) {
        super(message, STATUS_INVALID_ARGUMENT);
    }
}
