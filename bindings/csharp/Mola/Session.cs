// Session.cs: Session (a token history and its KV cache), Generation (a streamed
// generation as IEnumerable<string>) and Batch (one decode step for several sessions).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;
using N = Mola.Native;

namespace Mola
{
    /// <summary>A token history with its KV cache. One thread at a time, except
    /// Cancel. Prompts are token ids, or text encoded with the model's tokenizer
    /// (BOS first when the session is empty).</summary>
    public sealed class Session : IDisposable
    {
        readonly Model model;
        readonly NativeHandle<N.Session> handle;
        // Shared with forks: native forks call the same director.
        readonly PrefillProgressDirector progress;

        public Session(Model model, SessionOptions options = null)
        {
            NativeCall.NotNull(model, "model");
            options = options ?? new SessionOptions();
            this.model = model;
            progress = options.PrefillProgress != null ? new PrefillProgressDirector(options.PrefillProgress) : null;
            using (N.SessionOptions native = options.ToNative())
                handle = new NativeHandle<N.Session>(
                    NativeCall.Run(() => new N.Session(model.Native, native, progress)), "Session");
        }

        Session(Model model, N.Session native, PrefillProgressDirector progress)
        {
            this.model = model;
            this.progress = progress;
            handle = new NativeHandle<N.Session>(native, "Session");
        }

        ~Session()
        {
            handle?.Release();
        }

        /// <summary>A session saved by Save, restored exactly (options.ContextSize 0 =
        /// the saved one's).</summary>
        public static Session Load(Model model, string path, SessionOptions options = null)
        {
            NativeCall.NotNull(model, "model");
            NativeCall.NotNull(path, "path");
            options = options ?? new SessionOptions();
            var progress = options.PrefillProgress != null ? new PrefillProgressDirector(options.PrefillProgress) : null;
            using (N.SessionOptions native = options.ToNative())
                return new Session(model, NativeCall.Run(() => N.Session.load(model.Native, path, native, progress)), progress);
        }

        internal N.Session Native { get { return handle.Get(); } }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>Saves atomically: a crash mid-save keeps the previous file.</summary>
        public void Save(string path)
        {
            NativeCall.NotNull(path, "path");
            NativeCall.Run(() => Native.save(path));
        }

        /// <summary>Appends tokens and computes the logits of the last one.</summary>
        public void Append(IEnumerable<int> tokens)
        {
            using (N.IntVector ids = Vectors.Ints(tokens))
                Prefilling(() => { Native.append(ids); return 0; });
        }

        /// <summary>Appends text, encoded with the model's tokenizer.</summary>
        public void Append(string text)
        {
            Append(Encode(text));
        }

        /// <summary>The logits after the last token (VocabSize floats).</summary>
        public float[] Logits()
        {
            using (N.FloatVector v = NativeCall.Run(() => Native.logits()))
                return v.ToArray();
        }

        /// <summary>Keeps the first count tokens.</summary>
        public void Rewind(long count)
        {
            NativeCall.Run(() => Native.rewind(count));
        }

        /// <summary>A copy-on-write copy that shares this session's cache blocks.</summary>
        public Session Fork()
        {
            return new Session(model, NativeCall.Run(() => Native.fork()), progress);
        }

        /// <summary>Appends prompt and samples, piece by piece as the returned
        /// Generation is enumerated: foreach (string piece in session.Generate(...)).
        /// Leaving the loop early (or Dispose, or Cancel) stops the generation.</summary>
        public Generation Generate(IEnumerable<int> prompt, GenerateOptions options = null)
        {
            options = options ?? new GenerateOptions();
            using (N.IntVector ids = Vectors.Ints(prompt))
            using (N.SamplerOptions sampler = options.Sampler())
            using (N.GenerateOptions generate = options.Generate())
                return new Generation(NativeCall.Run(() => Native.stream(ids, sampler, generate)), progress);
        }

        public Generation Generate(string prompt, GenerateOptions options = null)
        {
            return Generate(Encode(prompt), options);
        }

        /// <summary>Generates in one call; the result holds the text and tokens.</summary>
        public GenerationResult Complete(IEnumerable<int> prompt, GenerateOptions options = null)
        {
            return Run(prompt, options, null);
        }

        public GenerationResult Complete(string prompt, GenerateOptions options = null)
        {
            return Run(Encode(prompt), options, null);
        }

        /// <summary>Generates in one call, handing each piece of text to onText as it
        /// is produced; returning false stops. An exception onText throws stops the
        /// generation and is rethrown here; the session stays usable.</summary>
        public GenerationResult Complete(IEnumerable<int> prompt, GenerateOptions options, Func<string, bool> onText)
        {
            NativeCall.NotNull(onText, "onText");
            return Run(prompt, options, onText);
        }

        public GenerationResult Complete(IEnumerable<int> prompt, GenerateOptions options, Action<string> onText)
        {
            NativeCall.NotNull(onText, "onText");
            return Run(prompt, options, text => { onText(text); return true; });
        }

        public GenerationResult Complete(string prompt, GenerateOptions options, Func<string, bool> onText)
        {
            return Complete(Encode(prompt), options, onText);
        }

        public GenerationResult Complete(string prompt, GenerateOptions options, Action<string> onText)
        {
            return Complete(Encode(prompt), options, onText);
        }

        GenerationResult Run(IEnumerable<int> prompt, GenerateOptions options, Func<string, bool> onText)
        {
            options = options ?? new GenerateOptions();
            TextSinkDirector sink = onText != null ? new TextSinkDirector(onText) : null;
            try
            {
                using (N.IntVector ids = Vectors.Ints(prompt))
                using (N.SamplerOptions sampler = options.Sampler())
                using (N.GenerateOptions generate = options.Generate())
                    return GenerationResult.From(Prefilling(() => Native.generate(ids, sampler, generate, sink)));
            }
            finally
            {
                if (sink != null)
                {
                    GC.KeepAlive(sink);
                    sink.Dispose();
                    sink.Error.RethrowIfAny();
                }
            }
        }

        // A call that may prefill: an exception from the prefill-progress callback
        // wins over the native cancellation it caused.
        T Prefilling<T>(Func<T> call)
        {
            try
            {
                return NativeCall.Run(call);
            }
            catch (MolaException)
            {
                if (progress != null) progress.Error.RethrowIfAny();
                throw;
            }
            finally
            {
                GC.KeepAlive(progress);
            }
        }

        int[] Encode(string text)
        {
            NativeCall.NotNull(text, "text");
            return model.Tokenizer.Encode(text, TokenCount == 0);
        }

        /// <summary>Stops a running (or the next) generation or prefill. Safe from any thread.</summary>
        public void Cancel()
        {
            handle.IfOpen(s => s.cancel());
        }

        public long TokenCount { get { return NativeCall.Run(() => Native.n_tokens()); } }

        public long ContextSize { get { return NativeCall.Run(() => Native.n_ctx()); } }

        public int[] Tokens { get { return Vectors.ToArray(NativeCall.Run(() => Native.tokens())); } }

        /// <summary>Application bytes saved, loaded and forked with the session.</summary>
        public byte[] Metadata
        {
            get
            {
                using (N.ByteVector v = NativeCall.Run(() => Native.metadata()))
                    return v.ToArray();
            }
            set
            {
                NativeCall.NotNull(value, "value");
                using (var v = new N.ByteVector(value))
                    NativeCall.Run(() => Native.set_metadata(v));
            }
        }

        public void Dispose()
        {
            handle.Release();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>A running generation: enumerate it (once) for the text pieces as they
    /// come. Result holds the outcome once the enumeration has ended.</summary>
    public sealed class Generation : IEnumerable<string>, IDisposable
    {
        readonly NativeHandle<N.TextStream> handle;
        readonly PrefillProgressDirector progress;
        bool enumerated;

        internal Generation(N.TextStream stream, PrefillProgressDirector progress)
        {
            handle = new NativeHandle<N.TextStream>(stream, "Generation");
            this.progress = progress;
            // The prefill runs on the stream's own thread and may call the director
            // until the stream is released, whatever the GC thinks of its owners.
            CallbackPins.Pin(progress);
        }

        ~Generation()
        {
            if (handle != null && handle.Release()) CallbackPins.Unpin(progress);
        }

        /// <summary>The outcome, once all pieces were enumerated; null before.</summary>
        public GenerationResult Result { get; private set; }

        public bool IsDisposed { get { return handle.IsClosed; } }

        public IEnumerator<string> GetEnumerator()
        {
            if (enumerated) throw new InvalidOperationException("a Generation can be enumerated only once");
            enumerated = true;
            return Pieces();
        }

        IEnumerator IEnumerable.GetEnumerator()
        {
            return GetEnumerator();
        }

        IEnumerator<string> Pieces()
        {
            try
            {
                string piece;
                while ((piece = Next()) != null) yield return piece;
            }
            finally
            {
                Dispose();
            }
        }

        // The next piece, or null at the end.
        string Next()
        {
            if (Result != null) return null;
            N.TextStream stream = handle.Get();
            bool more;
            try
            {
                more = NativeCall.Run(() => stream.next());
            }
            catch (MolaException)
            {
                Dispose();
                if (progress != null) progress.Error.RethrowIfAny();
                throw;
            }
            if (more) return stream.text();
            GenerationResult result = GenerationResult.From(NativeCall.Run(() => stream.result()));
            Dispose();
            // A throwing prefill-progress callback ends the stream as cancelled.
            if (progress != null) progress.Error.RethrowIfAny();
            Result = result;
            return null;
        }

        /// <summary>Runs the generation to its end and returns all of its text.</summary>
        public string Text
        {
            get
            {
                var text = new StringBuilder();
                foreach (string piece in this) text.Append(piece);
                return Result != null ? Result.Text : text.ToString();
            }
        }

        /// <summary>Stops the generation at its next piece (FinishReason "cancelled").
        /// Safe from any thread.</summary>
        public void Cancel()
        {
            handle.IfOpen(s => s.cancel());
        }

        /// <summary>Stops the generation (if still running) and waits for it.</summary>
        public void Dispose()
        {
            if (handle.Release()) CallbackPins.Unpin(progress);
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Continuous batching: one decode step for several sessions of one model.</summary>
    public sealed class Batch : IDisposable
    {
        readonly NativeHandle<N.Batch> handle;

        public Batch(Model model, int maxSessions)
        {
            NativeCall.NotNull(model, "model");
            handle = new NativeHandle<N.Batch>(NativeCall.Run(() => new N.Batch(model.Native, maxSessions)), "Batch");
        }

        ~Batch()
        {
            handle?.Release();
        }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>Appends tokens[i] to sessions[i] and computes its logits, all or none.</summary>
        public void Decode(IList<Session> sessions, IList<int> tokens)
        {
            NativeCall.NotNull(sessions, "sessions");
            N.Batch batch = handle.Get();
            using (var natives = new N.SessionVector())
            using (N.IntVector ids = Vectors.Ints(tokens))
            {
                foreach (Session s in sessions)
                {
                    NativeCall.NotNull(s, "sessions");
                    natives.Add(s.Native);
                }
                NativeCall.Run(() => batch.decode(natives, ids));
            }
        }

        public void Dispose()
        {
            handle.Release();
            GC.SuppressFinalize(this);
        }
    }
}
