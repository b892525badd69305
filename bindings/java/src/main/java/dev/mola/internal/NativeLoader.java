// NativeLoader.java: loads libmola_jni.so (the SWIG layer) once from java.library.path
// and reports a missing or broken library as a MolaException that names it.
package dev.mola.internal;

import dev.mola.MolaException;

public final class NativeLoader {
    public static final String LIBRARY = "mola_jni";
    private static boolean loaded;
    private static String failure;

    private NativeLoader() {}

    /** Loads the JNI library, or throws MolaException (every time) when it cannot. */
    public static synchronized void load() {
        if (loaded) return;
        if (failure == null) {
            try {
                System.loadLibrary(LIBRARY);
                loaded = true;
                return;
            } catch (UnsatisfiedLinkError | SecurityException e) {
                failure = "cannot load the mola JNI library lib" + LIBRARY + ".so (" + e.getMessage()
                        + "); java.library.path=" + System.getProperty("java.library.path")
                        + " (set -Djava.library.path to the directory that holds lib" + LIBRARY + ".so)";
            }
        }
        throw new MolaException(failure, MolaException.STATUS_FILE);
    }
}
