// BadFormatException.java: a malformed model, tokenizer or session file; the message names it.
package dev.mola;

public class BadFormatException extends MolaException {
    private static final long serialVersionUID = 1L;

    public BadFormatException(String message) {
        super(message, STATUS_BAD_FORMAT);
    }
}
