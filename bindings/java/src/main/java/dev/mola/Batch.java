// Batch.java: continuous batching: one decode step for several sessions of one
// model in a single forward pass.
package dev.mola;

import java.util.List;

public final class Batch extends NativeHandle<dev.mola.internal.Batch> {
    public Batch(Model model, int maxSessions) {
        super("Batch");
        adopt(model.use(m -> new dev.mola.internal.Batch(m, maxSessions)));
    }

    /** Appends tokens[i] to sessions[i] and computes its logits, all or none. */
    public void decode(List<Session> sessions, int[] tokens) {
        dev.mola.internal.SessionVector v = new dev.mola.internal.SessionVector();
        try {
            for (Session s : sessions) v.add(s.nativeHandle());  // copies a reference to the native session
            run(b -> b.decode(v, tokens));
        } finally {
            v.delete();
        }
    }

    @Override
    void destroy(dev.mola.internal.Batch b) {
        b.close();
        b.delete();
    }
}
