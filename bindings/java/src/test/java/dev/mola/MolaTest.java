// MolaTest.java: the bindings' shared scenarios (bindings.md) for the Java binding,
// under JUnit 5. Expected values come from the C++ facade: the reference file named by
// MOLA_BINDINGS_REFERENCE (written at build time by bindings/reference/reference.cpp).
package dev.mola;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MolaTest {
    static Map<String, String> ref;
    static String modelDir;
    static String text;
    static int[] prompt;
    static long seed;
    static int maxTokens;
    static int[] generated;
    static String generatedText;
    static Model model;

    static final class Boom extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Boom(String message) {
            super(message);
        }
    }

    // A checked exception, rethrown as itself although no listener can declare it.
    static final class CheckedBoom extends Exception {
        private static final long serialVersionUID = 1L;

        CheckedBoom(String message) {
            super(message);
        }
    }

    @BeforeAll
    static void loadReference() throws IOException {
        String path = System.getenv("MOLA_BINDINGS_REFERENCE");
        assertNotNull(path, "MOLA_BINDINGS_REFERENCE is not set (run the tests through ctest)");
        ref = new HashMap<>();
        for (String line : Files.readAllLines(Path.of(path), StandardCharsets.UTF_8)) {
            int eq = line.indexOf('=');
            if (eq > 0) ref.put(line.substring(0, eq), line.substring(eq + 1));
        }
        modelDir = ref.get("model");
        text = unhex(ref.get("text_hex"));
        prompt = ids(ref.get("prompt_tokens"));
        seed = Long.parseLong(ref.get("seed"));
        maxTokens = Integer.parseInt(ref.get("max_tokens"));
        generated = ids(ref.get("generated_tokens"));
        generatedText = unhex(ref.get("generated_hex"));
        model = new Model(modelDir, new ModelOptions().threads(1));
    }

    @AfterAll
    static void closeModel() {
        if (model != null) model.close();
    }

    static String unhex(String hex) {
        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    static int[] ids(String s) {
        return s.isBlank() ? new int[0] : Arrays.stream(s.trim().split(" ")).mapToInt(Integer::parseInt).toArray();
    }

    GenerateOptions referenceOptions() {
        return new GenerateOptions().seed(seed).maxTokens(maxTokens).ignoreEos(true);
    }

    // 1
    @Test
    void loadsTheBundledModelWithProgress() {
        List<Double> seen = new ArrayList<>();
        try (Model m = new Model(Path.of(modelDir), new ModelOptions().threads(1).onProgress(f -> seen.add(f)))) {
            ModelInfo info = m.info();
            assertTrue(info.nVocab() > 0 && info.nLayer() > 0);
            assertTrue(info.architecture().startsWith("deepseek"), info.architecture());
            assertTrue(m.cacheUsage().blockTokens() > 0);
        }
        assertFalse(seen.isEmpty());
        assertEquals(1.0, seen.get(seen.size() - 1), 1e-6);
        assertFalse(Mola.version().isEmpty());
    }

    // 2
    @Test
    void encodeDecodeRoundTrip() {
        Tokenizer tok = model.tokenizer();
        assertArrayEquals(prompt, tok.encode(text));
        assertEquals(unhex(ref.get("decoded_hex")), tok.decode(prompt, true));
        String nonAscii = "héllo wörld ✓ 🦀";
        assertEquals(nonAscii, tok.decode(tok.encode(nonAscii, false, true)));
        try (Tokenizer own = new Tokenizer(Path.of(modelDir))) {
            assertArrayEquals(prompt, own.encode(text));
        }
    }

    // 3
    @Test
    void chatAndFimPrompts() {
        Tokenizer tok = model.tokenizer();
        String chat = tok.applyChat(List.of(ChatMessage.user("hi")));
        assertTrue(chat.contains("hi"), chat);
        String fim = tok.buildFim("def f():\n    ", "\n    return x\n");
        assertTrue(fim.contains("return x") && fim.indexOf("def f()") < fim.indexOf("return x"), fim);
        String spm = tok.buildFim("def f():\n    ", "\n    return x\n", true);
        assertTrue(spm.indexOf("return x") < spm.indexOf("def f()"), spm);
    }

    // 4
    @Test
    void seededGenerationEqualsCpp() {
        try (Session s = model.newSession()) {
            GenerationResult r = s.complete(prompt, referenceOptions());
            assertArrayEquals(generated, r.tokens());
            assertEquals(generatedText, r.text());
            assertEquals(FinishReason.LENGTH, r.finishReason());
        }
    }

    // 5
    @Test
    void streamingWithTheIteratorAndTheListener() {
        List<String> pieces = new ArrayList<>();
        GenerationResult result;
        try (Session s = model.newSession(); Generation gen = s.generate(prompt, referenceOptions())) {
            for (String piece : gen) pieces.add(piece);
            result = gen.result();
        }
        assertTrue(pieces.size() > 1);
        assertEquals(generatedText, String.join("", pieces));
        assertArrayEquals(generated, result.tokens());

        StringBuilder seen = new StringBuilder();
        try (Session s = model.newSession()) {
            GenerationResult r = s.complete(prompt, referenceOptions(), piece -> {
                seen.append(piece);
                return true;
            });
            assertEquals(generatedText, r.text());
        }
        assertEquals(generatedText, seen.toString());
    }

    // 6
    @Test
    void cancelFromAnotherThread() throws Exception {
        try (Session s = model.newSession(new SessionOptions().contextSize(4096))) {
            StringBuilder text = new StringBuilder();
            GenerationResult r;
            try (Generation gen = s.generate(prompt, new GenerateOptions().maxTokens(0).ignoreEos(true).seed(1))) {
                text.append(gen.next());
                Thread canceller = new Thread(gen::cancel);
                canceller.start();
                gen.forEachRemaining(text::append);
                canceller.join();
                r = gen.result();
            }
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertTrue(r.nGeneratedTokens() < 4096);
            assertEquals(r.text(), text.toString());

            // The blocking form, cancelled through the session from another thread.
            CountDownLatch started = new CountDownLatch(1);
            Thread canceller = new Thread(() -> {
                try {
                    started.await();
                } catch (InterruptedException e) {
                    return;
                }
                s.cancel();
            });
            canceller.start();
            GenerationResult blocking = s.complete(" x", new GenerateOptions().maxTokens(0).ignoreEos(true), piece -> {
                started.countDown();
                return true;
            });
            canceller.join();
            assertEquals(FinishReason.CANCELLED, blocking.finishReason());
        }
    }

    // 7
    @Test
    void aListenerThatThrowsStopsTheCallAndItsExceptionReachesTheCaller() {
        Boom boom = new Boom("from the listener");
        try (Session s = model.newSession()) {
            Boom thrown = assertThrows(Boom.class, () -> s.complete(prompt,
                    new GenerateOptions().maxTokens(8).ignoreEos(true), piece -> {
                        throw boom;
                    }));
            assertSame(boom, thrown);
            // The session is still usable and the next generation is unaffected.
            long n = s.nTokens();
            GenerationResult r = s.complete(new int[0], new GenerateOptions().maxTokens(3).ignoreEos(true));
            assertEquals(3, r.nGeneratedTokens());
            assertEquals(n + 3, s.nTokens());
        }

        CheckedBoom checked = new CheckedBoom("checked, from the listener");
        try (Session s = model.newSession()) {
            Throwable thrown = assertThrows(CheckedBoom.class, () -> s.complete(prompt,
                    new GenerateOptions().maxTokens(8).ignoreEos(true), piece -> sneaky(checked)));
            assertSame(checked, thrown);
        }

        Boom prefillBoom = new Boom("from the prefill");
        SessionOptions withProgress = new SessionOptions().batchSize(4).onPrefill((done, total) -> {
            throw prefillBoom;
        });
        try (Session s = model.newSession(withProgress)) {
            assertSame(prefillBoom, assertThrows(Boom.class, () -> s.append(prompt)));
            assertEquals(0, s.nTokens());
        }
        // The same through the iterator form, whose prefill runs on the stream's thread.
        try (Session s = model.newSession(withProgress); Generation gen = s.generate(prompt, referenceOptions())) {
            assertSame(prefillBoom, assertThrows(Boom.class, () -> gen.forEachRemaining(p -> {})));
        }

        Boom loadBoom = new Boom("from the load");
        assertSame(loadBoom, assertThrows(Boom.class, () -> new Model(modelDir, new ModelOptions().onProgress(f -> {
            throw loadBoom;
        }))));
    }

    @SuppressWarnings("unchecked")
    static <T extends Throwable> boolean sneaky(Throwable t) throws T {
        throw (T) t;
    }

    // 8
    @Test
    void errors(@TempDir Path tmp) throws IOException {
        FileException missing = assertThrows(FileException.class, () -> new Model(tmp.resolve("no-such-model")));
        assertTrue(missing.getMessage().contains("no-such-model"), missing.getMessage());
        assertEquals(MolaException.STATUS_FILE, missing.status());

        Path bad = Files.createDirectory(tmp.resolve("bad-model"));
        Files.writeString(bad.resolve("config.json"), "{ this is not json");
        BadFormatException badFormat = assertThrows(BadFormatException.class, () -> new Model(bad));
        assertTrue(badFormat.getMessage().contains("config.json"), badFormat.getMessage());

        Session closed = model.newSession();
        closed.close();
        closed.close();  // idempotent
        assertTrue(closed.isClosed());
        assertThrows(ClosedException.class, () -> closed.append(new int[] {1}));
        assertThrows(ClosedException.class, closed::logits);
        closed.cancel();  // a no-op once closed

        Model m = new Model(modelDir, new ModelOptions().threads(1));
        Tokenizer tok = m.tokenizer();
        m.close();
        assertThrows(ClosedException.class, m::newSession);
        assertThrows(ClosedException.class, () -> tok.encode("x"));
        assertInstanceOf(MisuseException.class, assertThrows(ClosedException.class, m::info));

        try (Session s = model.newSession()) {
            MisuseException early = assertThrows(MisuseException.class, s::logits);  // before any token
            assertFalse(early instanceof ClosedException);
            assertThrows(InvalidArgumentException.class, () -> s.append(new int[] {model.info().nVocab() + 5}));
        }
        assertThrows(InvalidArgumentException.class,
                () -> new Model(modelDir, new ModelOptions().kvCacheDtype("int3")));
        assertThrows(InvalidArgumentException.class,
                () -> model.newSession(new SessionOptions().overflow("sideways")));
        // Null arguments are Java's NullPointerException, raised before or by the native layer.
        assertThrows(NullPointerException.class, () -> model.tokenizer().encode(null));
        try (Session s = model.newSession()) {
            assertThrows(NullPointerException.class, () -> s.append((int[]) null));
            assertThrows(NullPointerException.class, () -> s.setMetadata(null));
        }
    }

    @Test
    void aSessionServesOneCallAtATime() {
        try (Session s = model.newSession()) {
            try (Generation gen = s.generate(prompt, new GenerateOptions().maxTokens(0).ignoreEos(true))) {
                gen.next();
                MisuseException busy = assertThrows(MisuseException.class, () -> s.append(new int[] {5}));
                assertTrue(busy.getMessage().contains("busy"), busy.getMessage());
                gen.cancel();
                gen.forEachRemaining(p -> {});
            }
            s.append(new int[] {5});  // free again once the stream has ended
        }
    }

    @Test
    void closingAHandleFromItsOwnListenerStopsTheCallSafely() {
        Session s = model.newSession();
        GenerationResult r = s.complete(prompt, new GenerateOptions().maxTokens(0).ignoreEos(true), piece -> {
            s.close();  // the native session lives until complete() returns
            return true;
        });
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertTrue(s.isClosed());
        assertThrows(ClosedException.class, s::nTokens);

        try (Session t = model.newSession()) {
            Generation gen = t.generate(prompt, new GenerateOptions().maxTokens(0).ignoreEos(true));
            gen.next();
            gen.close();
            assertThrows(ClosedException.class, gen::hasNext);
        }
    }

    @Test
    @SuppressWarnings("removal")
    void handlesLeftUnclosedAreFinalizedSafely() {
        for (int i = 0; i < 20; i++) {
            Session s = model.newSession(new SessionOptions().onPrefill((done, total) -> true));
            s.append(prompt);
            Session child = s.fork();
            Generation g = child.generate(new GenerateOptions().maxTokens(0).ignoreEos(true));
            g.next();  // left running: its finalizer stops and joins it
        }
        System.gc();
        System.runFinalization();
        try (Session s = model.newSession()) {
            assertArrayEquals(generated, s.complete(prompt, referenceOptions()).tokens());
        }
    }

    // 9
    @Test
    void forkSaveAndLoad(@TempDir Path tmp) throws IOException {
        Path path = tmp.resolve("session.mola");
        byte[] metadata = "app state \u0000\u00ff".getBytes(StandardCharsets.ISO_8859_1);
        try (Session s = model.newSession()) {
            s.append(prompt);
            s.setMetadata(metadata);
            try (Session child = s.fork()) {
                assertArrayEquals(s.tokens(), child.tokens());
                assertArrayEquals(s.logits(), child.logits());
                assertArrayEquals(metadata, child.metadata());
                child.append(new int[] {prompt[1]});
                assertEquals(s.nTokens() + 1, child.nTokens());
            }
            s.save(path);
            try (Session loaded = Session.load(model, path)) {
                assertArrayEquals(prompt, loaded.tokens());
                assertArrayEquals(metadata, loaded.metadata());
                assertArrayEquals(s.logits(), loaded.logits());
                GenerateOptions next = new GenerateOptions().seed(7).maxTokens(5).ignoreEos(true);
                assertArrayEquals(s.complete(new int[0], next).tokens(), loaded.complete(new int[0], next).tokens());
            }
            s.rewind(3);
            assertArrayEquals(Arrays.copyOf(prompt, 3), s.tokens());
        }
        Path broken = tmp.resolve("broken.mola");
        Files.write(broken, Arrays.copyOf(Files.readAllBytes(path), 100));
        BadFormatException e = assertThrows(BadFormatException.class, () -> Session.load(model, broken));
        assertTrue(e.getMessage().contains("broken.mola"), e.getMessage());
    }

    // 10
    @Test
    void batchEqualsSessionsAlone() {
        try (Session a = model.newSession(); Session b = model.newSession(); Session solo = model.newSession()) {
            a.append(prompt);
            b.append(Arrays.copyOf(prompt, 5));
            try (Batch batch = new Batch(model, 2)) {
                batch.decode(List.of(a, b), new int[] {11, 12});
            }
            solo.append(prompt);
            solo.append(new int[] {11});  // decoded alone
            float[] batched = a.logits();
            assertEquals(model.info().nVocab(), batched.length);
            assertTrue(relativeL2(batched, solo.logits()) < 1e-5);
            assertEquals(6, b.nTokens());
        }
    }

    static double relativeL2(float[] x, float[] y) {
        double num = 0, den = 0;
        for (int i = 0; i < y.length; i++) {
            num += (x[i] - y[i]) * (double) (x[i] - y[i]);
            den += y[i] * (double) y[i];
        }
        return Math.sqrt(num / den);
    }

    // 11
    @Test
    void createDestroyCyclesDoNotGrowNativeMemory() throws IOException {
        int[] head = Arrays.copyOf(prompt, 4);
        int[] one = {prompt[4]};
        GenerateOptions shortRun = new GenerateOptions().maxTokens(1).ignoreEos(true);
        Runnable cycle = () -> {
            try (Session s = model.newSession()) {
                s.append(head);
                try (Session f = s.fork()) {
                    f.append(one);
                }
                try (Generation g = s.generate(shortRun)) {
                    g.forEachRemaining(p -> {});
                }
            }
            try (Tokenizer t = new Tokenizer(model.use(dev.mola.internal.Model::tokenizer))) {
                t.encode("x");
            }
        };
        for (int i = 0; i < 100; i++) cycle.run();  // warm-up: pools, caches and the JIT settle
        System.gc();
        long before = rssKib();
        for (int i = 0; i < 1000; i++) cycle.run();
        System.gc();
        long grown = rssKib() - before;
        System.out.println("VmRSS growth over 1000 create/destroy cycles: " + grown + " KiB");
        assertTrue(grown < 8 * 1024, "RSS grew by " + grown + " KiB over 1000 cycles");
    }

    static long rssKib() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        return 0;
    }
}
