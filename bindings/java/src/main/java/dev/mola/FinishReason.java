// FinishReason.java: why a generation ended.
package dev.mola;

public enum FinishReason {
    /** The model produced its end-of-sequence token. */
    EOS,
    /** The text reached one of the stop strings. */
    STOP,
    /** max_tokens (or the context) was reached. */
    LENGTH,
    /** cancel(), close() or a listener stopped it. */
    CANCELLED;

    static FinishReason of(String name) {
        switch (name) {
            case "eos": return EOS;
            case "stop": return STOP;
            case "length": return LENGTH;
            case "cancelled": return CANCELLED;
            default: throw new InternalException("unknown finish reason '" + name + "'");
        }
    }
}
