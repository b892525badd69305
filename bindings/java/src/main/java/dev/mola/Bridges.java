// Bridges.java: the director subclasses that call user listeners from native code;
// each catches everything the listener throws and answers "stop" instead.
package dev.mola;

final class Bridges {
    private Bridges() {}

    static final class Load extends dev.mola.internal.LoadProgress {
        final CallbackGuard guard = new CallbackGuard();
        private final LoadProgressListener listener;

        Load(LoadProgressListener listener) {
            this.listener = listener;
        }

        @Override
        public boolean on_progress(double fraction) {
            try {
                return listener.onProgress(fraction);
            } catch (Throwable t) {
                guard.keep(t);
                return false;
            }
        }
    }

    // Native sessions (a session, its forks, a running generation) call this one
    // during prefills: its native half is freed when the last of their handles is
    // closed, never by the garbage collector while one of them may still call it.
    static final class Prefill extends dev.mola.internal.PrefillProgress {
        final CallbackGuard guard = new CallbackGuard();
        private final PrefillProgressListener listener;
        private int users;

        Prefill(PrefillProgressListener listener) {
            this.listener = listener;
        }

        synchronized void retain() {
            users++;
        }

        synchronized void release() {
            if (--users == 0) super.delete();
        }

        @Override
        public synchronized void delete() {
            if (users == 0) super.delete();
        }

        @Override
        public boolean on_prefill(long done, long total) {
            try {
                return listener.onPrefill(done, total);
            } catch (Throwable t) {
                guard.keep(t);
                return false;
            }
        }
    }

    static final class Text extends dev.mola.internal.TextSink {
        final CallbackGuard guard = new CallbackGuard();
        private final TextListener listener;

        Text(TextListener listener) {
            this.listener = listener;
        }

        @Override
        public boolean on_text(String text) {
            try {
                return listener.onText(text);
            } catch (Throwable t) {
                guard.keep(t);
                return false;
            }
        }
    }
}
