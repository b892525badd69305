// MolaTests.cs: the bindings' shared scenarios (bindings.md) for the C# binding,
// as NUnit 2.6 tests run by ctest under Mono. The expected values come from the
// C++ facade (bindings/reference/reference.cpp), in the file named by the
// environment variable MOLA_BINDINGS_REFERENCE.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Mola;
using NUnit.Framework;

namespace Mola.Tests
{
    [TestFixture]
    public class MolaTests
    {
        sealed class Boom : Exception
        {
            public Boom(string message) : base(message) { }
        }

        static Dictionary<string, string> reference;
        static string ModelDir { get { return Ref("model"); } }
        static string Text { get { return Hex(Ref("text_hex")); } }
        static int[] Prompt { get { return Ids(Ref("prompt_tokens")); } }
        static long Seed { get { return long.Parse(Ref("seed")); } }
        static int MaxTokens { get { return int.Parse(Ref("max_tokens")); } }
        static int[] Generated { get { return Ids(Ref("generated_tokens")); } }
        static string GeneratedText { get { return Hex(Ref("generated_hex")); } }

        Model model;
        string tempDir;

        static string Ref(string key)
        {
            if (reference == null)
            {
                string path = Environment.GetEnvironmentVariable("MOLA_BINDINGS_REFERENCE");
                if (string.IsNullOrEmpty(path))
                    Assert.Fail("MOLA_BINDINGS_REFERENCE is not set (run the tests through ctest)");
                var values = new Dictionary<string, string>();
                foreach (string line in File.ReadAllLines(path, Encoding.UTF8))
                {
                    int eq = line.IndexOf('=');
                    if (eq > 0) values[line.Substring(0, eq)] = line.Substring(eq + 1);
                }
                reference = values;
            }
            return reference[key];
        }

        static string Hex(string hex)
        {
            var bytes = new byte[hex.Length / 2];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = Convert.ToByte(hex.Substring(2 * i, 2), 16);
            return new UTF8Encoding(false, true).GetString(bytes);
        }

        static int[] Ids(string text)
        {
            return text.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        }

        static GenerateOptions Seeded()
        {
            return new GenerateOptions { Seed = Seed, MaxTokens = MaxTokens, IgnoreEos = true };
        }

        [TestFixtureSetUp]
        public void LoadModel()
        {
            model = new Model(ModelDir, new ModelOptions { Threads = 1 });
            tempDir = Path.Combine(Path.GetTempPath(), "mola-csharp-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(tempDir);
        }

        [TestFixtureTearDown]
        public void DisposeModel()
        {
            model.Dispose();
            Directory.Delete(tempDir, true);
        }

        // 1
        [Test]
        public void LoadsTheBundledModelWithProgress()
        {
            var seen = new List<double>();
            using (var m = new Model(ModelDir, new ModelOptions { Threads = 1, Progress = f => { seen.Add(f); return true; } }))
            {
                ModelInfo info = m.Info;
                Assert.Greater(info.VocabSize, 0);
                Assert.Greater(info.LayerCount, 0);
                StringAssert.StartsWith("deepseek", info.Architecture);
            }
            Assert.IsNotEmpty(seen);
            Assert.AreEqual(1.0, seen[seen.Count - 1], 1e-9);
            Assert.IsNotNullOrEmpty(MolaLibrary.Version);
        }

        // 2
        [Test]
        public void EncodeDecodeRoundTripEqualsTheReference()
        {
            Tokenizer tok = model.Tokenizer;
            CollectionAssert.AreEqual(Prompt, tok.Encode(Text));
            Assert.AreEqual(Hex(Ref("decoded_hex")), tok.Decode(Prompt, skipSpecial: true));
            const string nonAscii = "héllo wörld ✓ 数字";
            Assert.AreEqual(nonAscii, tok.Decode(tok.Encode(nonAscii, addSpecial: false)));
            // Non-ASCII text through a callback and an enumerator, too.
            using (Session s = model.CreateSession())
            {
                s.Append(tok.Encode(nonAscii));
                var seen = new StringBuilder();
                var options = new GenerateOptions { MaxTokens = 16, Stop = { "ö" }, Seed = 3 };
                s.Complete(tok.Encode(" ö ✓", addSpecial: false), options, piece => { seen.Append(piece); });
                foreach (char c in seen.ToString()) Assert.AreNotEqual('\uFFFD', c);
            }
        }

        // 3
        [Test]
        public void ChatAndFimPrompts()
        {
            Tokenizer tok = model.Tokenizer;
            string chat = tok.ApplyChat(new[] { new ChatMessage("user", "hi") });
            StringAssert.Contains("hi", chat);
            string fim = tok.BuildFim("def f():\n    ", "\n    return x\n");
            StringAssert.Contains("return x", fim);
            Assert.Less(fim.IndexOf("def f()"), fim.IndexOf("return x"));
            string spm = tok.BuildFim("def f():\n    ", "\n    return x\n", spm: true);
            Assert.Less(spm.IndexOf("return x"), spm.IndexOf("def f()"));
        }

        // 4
        [Test]
        public void SeededGenerationEqualsCpp()
        {
            GenerationResult r;
            using (Session s = model.CreateSession())
                r = s.Complete(Prompt, Seeded());
            CollectionAssert.AreEqual(Generated, r.Tokens);
            Assert.AreEqual(GeneratedText, r.Text);
            Assert.AreEqual("length", r.FinishReason);
        }

        // 5
        [Test]
        public void StreamingPiecesJoinToTheReference()
        {
            var pieces = new List<string>();
            Generation gen;
            using (Session s = model.CreateSession())
            using (gen = s.Generate(Prompt, Seeded()))
                foreach (string piece in gen) pieces.Add(piece);
            Assert.Greater(pieces.Count, 1);
            Assert.AreEqual(GeneratedText, string.Concat(pieces));
            CollectionAssert.AreEqual(Generated, gen.Result.Tokens);

            var seen = new StringBuilder();
            GenerationResult r;
            using (Session s = model.CreateSession())
                r = s.Complete(Prompt, Seeded(), piece => { seen.Append(piece); });
            Assert.AreEqual(GeneratedText, seen.ToString());
            Assert.AreEqual(GeneratedText, r.Text);
        }

        // 6
        [Test]
        public void CancelFromAnotherThread()
        {
            using (Session s = model.CreateSession(new SessionOptions { ContextSize = 4096 }))
            {
                var unbounded = new GenerateOptions { MaxTokens = 0, IgnoreEos = true, Seed = 1 };
                using (Generation gen = s.Generate(Prompt, unbounded))
                using (IEnumerator<string> pieces = gen.GetEnumerator())
                {
                    Assert.IsTrue(pieces.MoveNext());
                    var text = new StringBuilder(pieces.Current);
                    var canceller = new Thread(gen.Cancel);
                    canceller.Start();
                    while (pieces.MoveNext()) text.Append(pieces.Current);
                    canceller.Join();
                    Assert.AreEqual("cancelled", gen.Result.FinishReason);
                    Assert.Less(gen.Result.GeneratedTokenCount, 4096);
                    Assert.AreEqual(gen.Result.Text, text.ToString());
                }

                // The blocking form, cancelled through the session from another thread.
                using (var started = new ManualResetEventSlim())
                {
                    var canceller = new Thread(() => { started.Wait(); s.Cancel(); });
                    canceller.Start();
                    GenerationResult r = s.Complete(" x", unbounded, piece => { started.Set(); });
                    canceller.Join();
                    Assert.AreEqual("cancelled", r.FinishReason);
                }
            }
        }

        // 7
        [Test]
        public void ExceptionsThrownInCallbacksReachTheCaller()
        {
            using (Session s = model.CreateSession())
            {
                var limited = new GenerateOptions { MaxTokens = 8, IgnoreEos = true };
                Action<string> throwing = piece => { throw new Boom("from the callback"); };
                Boom e = Assert.Throws<Boom>(() => s.Complete(Prompt, limited, throwing));
                Assert.AreEqual("from the callback", e.Message);
                StringAssert.Contains("MolaTests", e.StackTrace);  // the original stack is kept
                // The session is still usable and the next generation is unaffected.
                long n = s.TokenCount;
                GenerationResult r = s.Complete(new int[0], new GenerateOptions { MaxTokens = 3, IgnoreEos = true });
                Assert.AreEqual(3, r.GeneratedTokenCount);
                Assert.AreEqual(n + 3, s.TokenCount);
            }

            Func<long, long, bool> progress = (done, total) => { throw new Boom("from the prefill"); };
            using (Session s = model.CreateSession(new SessionOptions { BatchSize = 4, PrefillProgress = progress }))
            {
                Assert.AreEqual("from the prefill", Assert.Throws<Boom>(() => s.Append(Prompt)).Message);
                Assert.AreEqual(0, s.TokenCount);
                // The same through a streamed generation, whose prefill runs on a native thread.
                Assert.AreEqual("from the prefill", Assert.Throws<Boom>(() =>
                {
                    using (Generation gen = s.Generate(Prompt, new GenerateOptions { MaxTokens = 4 }))
                        foreach (string piece in gen) { }
                }).Message);
            }

            Func<double, bool> load = f => { throw new Boom("from the load"); };
            Assert.AreEqual("from the load",
                            Assert.Throws<Boom>(() => new Model(ModelDir, new ModelOptions { Progress = load })).Message);
        }

        // 8
        [Test]
        public void ErrorsArriveAsMolaExceptions()
        {
            string missing = Path.Combine(tempDir, "no-such-model");
            var file = Assert.Throws<MolaFileException>(() => new Model(missing));
            StringAssert.Contains("no-such-model", file.Message);
            Assert.AreEqual(MolaStatus.File, file.Status);

            string bad = Path.Combine(tempDir, "bad-model");
            Directory.CreateDirectory(bad);
            File.WriteAllText(Path.Combine(bad, "config.json"), "{ this is not json");
            StringAssert.Contains("config.json", Assert.Throws<MolaBadFormatException>(() => new Model(bad)).Message);

            Session closed = model.CreateSession();
            closed.Dispose();
            closed.Dispose();  // idempotent
            Assert.Throws<MolaClosedException>(() => closed.Append(new[] { 1 }));
            Assert.Throws<MolaClosedException>(() => closed.Logits());
            closed.Cancel();  // a no-op once disposed

            var m = new Model(ModelDir, new ModelOptions { Threads = 1 });
            Tokenizer tok = m.Tokenizer;
            m.Dispose();
            Assert.Throws<MolaClosedException>(() => m.CreateSession());
            Assert.Throws<MolaClosedException>(() => tok.Encode("x"));
            Assert.IsInstanceOf<MolaMisuseException>(Assert.Throws<MolaClosedException>(() => { var i = m.Info; }));

            using (Session s = model.CreateSession())
            {
                Assert.AreEqual(MolaStatus.Misuse, Assert.Throws<MolaMisuseException>(() => s.Logits()).Status);
                Assert.Throws<MolaInvalidArgumentException>(() => s.Append(new[] { model.Info.VocabSize + 5 }));
            }
            Assert.Throws<MolaInvalidArgumentException>(() => new Model(ModelDir, new ModelOptions { KvCacheDtype = "int3" }));
            Assert.Throws<MolaInvalidArgumentException>(() => model.CreateSession(new SessionOptions { Overflow = "wrap" }));
            Assert.Throws<ArgumentNullException>(() => new Model(null));
        }

        [Test]
        public void ASessionServesOneCallAtATime()
        {
            using (Session s = model.CreateSession())
            {
                Generation gen = s.Generate(Prompt, new GenerateOptions { MaxTokens = 0, IgnoreEos = true });
                using (IEnumerator<string> pieces = gen.GetEnumerator())
                {
                    Assert.IsTrue(pieces.MoveNext());
                    StringAssert.Contains("busy", Assert.Throws<MolaMisuseException>(() => s.Append(new[] { 5 })).Message);
                    gen.Cancel();
                    while (pieces.MoveNext()) { }
                }
                s.Append(new[] { 5 });  // free again once the stream has ended
            }
        }

        // 9
        [Test]
        public void ForkSaveAndLoad()
        {
            string path = Path.Combine(tempDir, "session.mola");
            byte[] metadata = Encoding.UTF8.GetBytes("app state \0\u00ff");
            using (Session s = model.CreateSession())
            {
                s.Append(Prompt);
                s.Metadata = metadata;
                using (Session child = s.Fork())
                {
                    CollectionAssert.AreEqual(s.Tokens, child.Tokens);
                    CollectionAssert.AreEqual(s.Logits(), child.Logits());
                    CollectionAssert.AreEqual(metadata, child.Metadata);
                    child.Append(new[] { Prompt[1] });
                    Assert.AreEqual(s.TokenCount + 1, child.TokenCount);
                }
                s.Save(path);
                using (Session loaded = Session.Load(model, path))
                {
                    CollectionAssert.AreEqual(Prompt, loaded.Tokens);
                    CollectionAssert.AreEqual(metadata, loaded.Metadata);
                    CollectionAssert.AreEqual(s.Logits(), loaded.Logits());
                    var options = new GenerateOptions { Seed = 7, MaxTokens = 5, IgnoreEos = true };
                    GenerationResult a = s.Complete(new int[0], options);
                    GenerationResult b = loaded.Complete(new int[0], options);
                    CollectionAssert.AreEqual(a.Tokens, b.Tokens);
                }
                s.Rewind(3);
                CollectionAssert.AreEqual(Prompt.Take(3).ToArray(), s.Tokens);
            }
            string broken = Path.Combine(tempDir, "broken.mola");
            File.WriteAllBytes(broken, File.ReadAllBytes(path).Take(100).ToArray());
            StringAssert.Contains("broken.mola",
                                  Assert.Throws<MolaBadFormatException>(() => Session.Load(model, broken)).Message);
        }

        // 10
        [Test]
        public void BatchEqualsSessionsAlone()
        {
            using (Session a = model.CreateSession())
            using (Session b = model.CreateSession())
            using (Session solo = model.CreateSession())
            {
                a.Append(Prompt);
                b.Append(Prompt.Take(5));
                using (var batch = new Batch(model, 2))
                    batch.Decode(new[] { a, b }, new[] { 11, 12 });
                solo.Append(Prompt);
                solo.Append(new[] { 11 });  // decoded alone
                float[] logits = a.Logits();
                Assert.AreEqual(model.Info.VocabSize, logits.Length);
                Assert.Less(RelativeL2(logits, solo.Logits()), 1e-5);
                Assert.AreEqual(6, b.TokenCount);
            }
        }

        static double RelativeL2(float[] x, float[] y)
        {
            double num = 0, den = 0;
            for (int i = 0; i < y.Length; i++)
            {
                num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                den += (double)y[i] * y[i];
            }
            return Math.Sqrt(num / den);
        }

        // 11
        [Test]
        public void CreateDestroyCyclesDoNotGrowNativeMemory()
        {
            int[] prompt = Prompt;
            var one = new GenerateOptions { MaxTokens = 1, IgnoreEos = true };
            Action cycle = () =>
            {
                using (Session s = model.CreateSession())
                {
                    s.Append(prompt.Take(4));
                    using (Session f = s.Fork())
                        f.Append(new[] { prompt[4] });
                    using (Generation g = s.Generate(new int[0], one))
                        foreach (string piece in g) { }
                }
                using (var t = new Tokenizer(ModelDir)) { }
            };
            for (int i = 0; i < 100; i++) cycle();  // warm-up: pools and caches reach their steady size
            Settle();
            long before = RssKiB();
            for (int i = 0; i < 1000; i++) cycle();
            Settle();
            long grown = RssKiB() - before;
            Console.WriteLine("VmRSS growth over 1000 create/destroy cycles: {0} KiB", grown);
            Assert.Less(grown, 8 * 1024, "RSS grew by " + grown + " KiB over 1000 cycles");
        }

        // The finalizers are a safety net: handles nobody disposed (a generation still
        // prefilling on its native thread with a progress callback included) are
        // released by the GC without a crash, and disposing after finalization is a no-op.
        [Test]
        public void UndisposedHandlesAreFinalizedSafely()
        {
            var disposedLater = new List<IDisposable>();
            for (int i = 0; i < 20; i++) Abandon(disposedLater);
            Settle();
            foreach (IDisposable d in disposedLater) d.Dispose();
            using (Session s = model.CreateSession())
                Assert.AreEqual("length", s.Complete(Prompt, Seeded()).FinishReason);
        }

        void Abandon(List<IDisposable> disposedLater)
        {
            var options = new SessionOptions { BatchSize = 2, PrefillProgress = (done, total) => true };
            Session s = model.CreateSession(options);
            s.Append(Prompt.Take(3));
            Session fork = s.Fork();
            fork.Generate(Prompt, new GenerateOptions { MaxTokens = 0, IgnoreEos = true });
            new Batch(model, 2);
            new Tokenizer(ModelDir).Encode("x");
            disposedLater.Add(new Model(ModelDir, new ModelOptions { Threads = 1 }).CreateSession());
        }

        static void Settle()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        static long RssKiB()
        {
            foreach (string line in File.ReadAllLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:"))
                    return long.Parse(line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries)[1]);
            return 0;
        }
    }
}
