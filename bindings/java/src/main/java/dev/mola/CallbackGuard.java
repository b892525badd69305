// CallbackGuard.java: keeps what a listener threw inside a native callback, so the
// callback can return "stop" to native code and the wrapper can rethrow the same
// Throwable once the native call has returned: nothing unwinds through native frames.
package dev.mola;

final class CallbackGuard {
    private volatile Throwable error;

    void keep(Throwable t) {
        if (error == null) error = t;
    }

    boolean failed() {
        return error != null;
    }

    /** Rethrows the kept Throwable itself (checked ones too), once. */
    void rethrow() {
        Throwable t = error;
        if (t != null) {
            error = null;
            CallbackGuard.<RuntimeException>sneakyThrow(t);
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneakyThrow(Throwable t) throws T {
        throw (T) t;
    }
}
