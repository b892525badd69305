// FileException.java: a file could not be opened, mapped, read or written; the message names it.
package dev.mola;

public class FileException extends MolaException {
    private static final long serialVersionUID = 1L;

    public FileException(String message) {
        super(message, STATUS_FILE);
    }
}
