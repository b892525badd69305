// Model.cs: Model (a loaded checkpoint) and Tokenizer, plus Mola.Version.
using System;
using System.Collections.Generic;
using N = Mola.Native;

namespace Mola
{
    public static class MolaLibrary
    {
        /// <summary>The loaded native library's version string.</summary>
        public static string Version { get { return NativeCall.Run(() => N.mola_native.version()); } }
    }

    /// <summary>A loaded checkpoint: immutable, shared by its sessions and threads.
    /// Dispose releases it (its sessions keep the weights alive until they are
    /// disposed too); any later use throws MolaClosedException.</summary>
    public sealed class Model : IDisposable
    {
        readonly NativeHandle<N.Model> handle;
        Tokenizer tokenizer;

        /// <summary>Loads a checkpoint directory (such as share/models/mola-tiny-code).</summary>
        public Model(string path, ModelOptions options = null)
        {
            NativeCall.NotNull(path, "path");
            options = options ?? new ModelOptions();
            LoadProgressDirector progress = options.Progress != null ? new LoadProgressDirector(options.Progress) : null;
            try
            {
                using (N.ModelOptions native = options.ToNative())
                    handle = new NativeHandle<N.Model>(NativeCall.Run(() => new N.Model(path, native, progress)), "Model");
            }
            catch (MolaException)
            {
                if (progress != null) progress.Error.RethrowIfAny();
                throw;
            }
            finally
            {
                if (progress != null)
                {
                    GC.KeepAlive(progress);
                    progress.Dispose();
                }
            }
        }

        ~Model()
        {
            handle?.Release();
        }

        internal N.Model Native { get { return handle.Get(); } }

        public bool IsDisposed { get { return handle.IsClosed; } }

        public ModelInfo Info { get { return ModelInfo.From(NativeCall.Run(() => Native.info())); } }

        public CacheUsage CacheUsage { get { return CacheUsage.From(NativeCall.Run(() => Native.cache_usage())); } }

        public void ClearPrefixCache()
        {
            NativeCall.Run(() => Native.clear_prefix_cache());
        }

        /// <summary>The checkpoint's tokenizer (disposed with the model).</summary>
        public Tokenizer Tokenizer
        {
            get
            {
                lock (handle)
                {
                    if (tokenizer == null || tokenizer.IsDisposed)
                        tokenizer = new Tokenizer(NativeCall.Run(() => Native.tokenizer()));
                    return tokenizer;
                }
            }
        }

        /// <summary>A new Session on this model.</summary>
        public Session CreateSession(SessionOptions options = null)
        {
            return new Session(this, options);
        }

        public void Dispose()
        {
            Tokenizer t = tokenizer;
            if (t != null) t.Dispose();
            handle.Release();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Text to tokens and back, from a file or directory or a Model.</summary>
    public sealed class Tokenizer : IDisposable
    {
        readonly NativeHandle<N.Tokenizer> handle;

        /// <summary>A tokenizer file (tokenizer.json) or a directory that holds one.</summary>
        public Tokenizer(string path)
        {
            NativeCall.NotNull(path, "path");
            handle = new NativeHandle<N.Tokenizer>(NativeCall.Run(() => new N.Tokenizer(path)), "Tokenizer");
        }

        internal Tokenizer(N.Tokenizer native)
        {
            handle = new NativeHandle<N.Tokenizer>(native, "Tokenizer");
        }

        ~Tokenizer()
        {
            handle?.Release();
        }

        N.Tokenizer Native { get { return handle.Get(); } }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>The token ids of text; addSpecial puts BOS first, parseSpecial
        /// turns the spelling of special tokens into them.</summary>
        public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = true)
        {
            NativeCall.NotNull(text, "text");
            return Vectors.ToArray(NativeCall.Run(() => Native.encode(text, addSpecial, parseSpecial)));
        }

        public string Decode(IEnumerable<int> tokens, bool skipSpecial = false)
        {
            using (N.IntVector ids = Vectors.Ints(tokens))
                return NativeCall.Run(() => Native.decode(ids, skipSpecial));
        }

        /// <summary>The prompt text of a conversation in the model's chat format.</summary>
        public string ApplyChat(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true)
        {
            NativeCall.NotNull(messages, "messages");
            using (var turns = new N.ChatTurnVector())
            {
                foreach (ChatMessage m in messages)
                {
                    NativeCall.NotNull(m, "messages");
                    using (var turn = new N.ChatTurn())
                    {
                        turn.role = m.Role ?? "";
                        turn.content = m.Content ?? "";
                        turns.Add(turn);
                    }
                }
                return NativeCall.Run(() => Native.apply_chat(turns, addGenerationPrompt));
            }
        }

        public string ChatFormat { get { return NativeCall.Run(() => Native.chat_format()); } }

        /// <summary>A fill-in-the-middle prompt for the text between prefix and suffix
        /// (suffix first when spm); MolaUnsupportedException where the vocabulary has
        /// no FIM tokens.</summary>
        public string BuildFim(string prefix, string suffix, bool spm = false)
        {
            NativeCall.NotNull(prefix, "prefix");
            NativeCall.NotNull(suffix, "suffix");
            return NativeCall.Run(() => Native.build_fim(prefix, suffix, spm));
        }

        /// <summary>The text of one token (a partial UTF-8 sequence shows as U+FFFD).</summary>
        public string TokenToPiece(int token)
        {
            return NativeCall.Run(() => Native.token_to_piece(token));
        }

        /// <summary>The id of the token spelled exactly text, or -1.</summary>
        public int TokenId(string text)
        {
            NativeCall.NotNull(text, "text");
            return NativeCall.Run(() => Native.token_id(text));
        }

        public void Dispose()
        {
            handle.Release();
            GC.SuppressFinalize(this);
        }
    }
}
