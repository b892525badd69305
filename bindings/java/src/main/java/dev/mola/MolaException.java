// MolaException.java: the root of every mola failure (unchecked), with the C ABI's
// status code, and the mapping from the native layer's "[mola:<status>] <text>".
package dev.mola;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class MolaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final int STATUS_INVALID_ARGUMENT = 1;
    public static final int STATUS_MISUSE = 2;
    public static final int STATUS_OUT_OF_MEMORY = 3;
    public static final int STATUS_FILE = 4;
    public static final int STATUS_BAD_FORMAT = 5;
    public static final int STATUS_UNSUPPORTED = 6;
    public static final int STATUS_BACKEND = 7;
    public static final int STATUS_CANCELLED = 8;
    public static final int STATUS_CONTEXT_FULL = 9;
    public static final int STATUS_INTERNAL = 11;
    public static final int STATUS_CACHE_FULL = 12;

    private final int status;

    public MolaException(String message, int status) {
        super(message);
        this.status = status;
    }

    /** The C ABI's mola_status code of this failure. */
    public int status() {
        return status;
    }

    private static final Pattern NATIVE = Pattern.compile("^\\[mola:(\\d+)\\] (.*)$", Pattern.DOTALL);

    /** The mola exception a native error stands for; other exceptions come back unchanged. */
    static RuntimeException translate(RuntimeException e) {
        // The SWIG layer throws plain RuntimeExceptions; anything more specific is not its own.
        if (e.getClass() != RuntimeException.class || e.getMessage() == null) return e;
        Matcher m = NATIVE.matcher(e.getMessage());
        if (!m.matches()) return e;
        return of(Integer.parseInt(m.group(1)), m.group(2));
    }

    static MolaException of(int status, String message) {
        switch (status) {
            case STATUS_INVALID_ARGUMENT: return new InvalidArgumentException(message);
            case STATUS_MISUSE:
                return message.endsWith(" is closed") ? new ClosedException(message) : new MisuseException(message);
            case STATUS_OUT_OF_MEMORY: return new OutOfMemoryException(message);
            case STATUS_FILE: return new FileException(message);
            case STATUS_BAD_FORMAT: return new BadFormatException(message);
            case STATUS_UNSUPPORTED: return new UnsupportedException(message);
            case STATUS_BACKEND: return new BackendException(message);
            case STATUS_CANCELLED: return new CancelledException(message);
            case STATUS_CONTEXT_FULL: return new ContextFullException(message);
            case STATUS_INTERNAL: return new InternalException(message);
            case STATUS_CACHE_FULL: return new CacheFullException(message);
            default: return new MolaException(message, status);
        }
    }
}
