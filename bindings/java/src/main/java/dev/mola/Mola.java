// Mola.java: library-wide calls.
package dev.mola;

import dev.mola.internal.NativeLoader;

public final class Mola {
    private Mola() {}

    /** The loaded native library's version string. */
    public static String version() {
        NativeLoader.load();
        return dev.mola.internal.mola_native.version();
    }
}
