// CancelledException.java: a load or prefill stopped by cancel() or a listener returning false.
package dev.mola;

public class CancelledException extends MolaException {
    private static final long serialVersionUID = 1L;

    public CancelledException(String message) {
        super(message, STATUS_CANCELLED);
    }
}
