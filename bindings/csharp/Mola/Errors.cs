// Errors.cs: the exceptions of the Mola namespace (one MolaException subclass per
// mola_status) and the translation of the generated layer's errors into them.
using System;
using System.Text.RegularExpressions;

namespace Mola
{
    /// <summary>The C ABI's mola_status codes.</summary>
    public enum MolaStatus
    {
        InvalidArgument = 1,
        Misuse = 2,
        OutOfMemory = 3,
        File = 4,
        BadFormat = 5,
        Unsupported = 6,
        Backend = 7,
        Cancelled = 8,
        ContextFull = 9,
        Internal = 11,
        CacheFull = 12,
    }

    /// <summary>A failed mola call; every error mola raises derives from this.</summary>
    public class MolaException : Exception
    {
        public MolaStatus Status { get; private set; }

        public MolaException(MolaStatus status, string message) : base(message) { Status = status; }
    }

    public class MolaInvalidArgumentException : MolaException
    {
        public MolaInvalidArgumentException(string message) : base(MolaStatus.InvalidArgument, message) { }
    }

    /// <summary>A call out of order (for example Logits before any token).</summary>
    public class MolaMisuseException : MolaException
    {
        public MolaMisuseException(string message) : base(MolaStatus.Misuse, message) { }
    }

    /// <summary>A handle was used after Dispose (mola's ObjectDisposedException).</summary>
    public class MolaClosedException : MolaMisuseException
    {
        public MolaClosedException(string message) : base(message) { }
    }

    public class MolaOutOfMemoryException : MolaException
    {
        public MolaOutOfMemoryException(string message) : base(MolaStatus.OutOfMemory, message) { }
    }

    /// <summary>A file could not be opened, mapped, read or written; the message names it.</summary>
    public class MolaFileException : MolaException
    {
        public MolaFileException(string message) : base(MolaStatus.File, message) { }
    }

    /// <summary>A malformed or inconsistent model, tokenizer or session file.</summary>
    public class MolaBadFormatException : MolaException
    {
        public MolaBadFormatException(string message) : base(MolaStatus.BadFormat, message) { }
    }

    public class MolaUnsupportedException : MolaException
    {
        public MolaUnsupportedException(string message) : base(MolaStatus.Unsupported, message) { }
    }

    public class MolaBackendException : MolaException
    {
        public MolaBackendException(string message) : base(MolaStatus.Backend, message) { }
    }

    public class MolaCancelledException : MolaException
    {
        public MolaCancelledException(string message) : base(MolaStatus.Cancelled, message) { }
    }

    public class MolaContextFullException : MolaException
    {
        public MolaContextFullException(string message) : base(MolaStatus.ContextFull, message) { }
    }

    public class MolaCacheFullException : MolaException
    {
        public MolaCacheFullException(string message) : base(MolaStatus.CacheFull, message) { }
    }

    public class MolaInternalException : MolaException
    {
        public MolaInternalException(string message) : base(MolaStatus.Internal, message) { }
    }

    /// <summary>Runs generated-layer calls, turning their ApplicationExceptions
    /// ("[mola:status] text", from mola.i) into MolaException subclasses.</summary>
    internal static class NativeCall
    {
        static readonly Regex NativeMessage = new Regex(@"^\[mola:(\d+)\] (.*)$", RegexOptions.Singleline);

        internal static T Run<T>(Func<T> call)
        {
            try
            {
                return call();
            }
            catch (ApplicationException e)
            {
                Exception translated = Translate(e);
                if (translated == null) throw;
                throw translated;
            }
        }

        internal static void Run(Action call)
        {
            Run(() => { call(); return 0; });
        }

        // null when the message is not one of mola's.
        static Exception Translate(ApplicationException e)
        {
            Match m = NativeMessage.Match(e.Message ?? "");
            if (!m.Success) return null;
            string message = m.Groups[2].Value;
            switch ((MolaStatus)int.Parse(m.Groups[1].Value))
            {
                case MolaStatus.InvalidArgument: return new MolaInvalidArgumentException(message);
                case MolaStatus.Misuse:
                    if (message.EndsWith(" is closed", StringComparison.Ordinal)) return new MolaClosedException(message);
                    return new MolaMisuseException(message);
                case MolaStatus.OutOfMemory: return new MolaOutOfMemoryException(message);
                case MolaStatus.File: return new MolaFileException(message);
                case MolaStatus.BadFormat: return new MolaBadFormatException(message);
                case MolaStatus.Unsupported: return new MolaUnsupportedException(message);
                case MolaStatus.Backend: return new MolaBackendException(message);
                case MolaStatus.Cancelled: return new MolaCancelledException(message);
                case MolaStatus.ContextFull: return new MolaContextFullException(message);
                case MolaStatus.CacheFull: return new MolaCacheFullException(message);
                case MolaStatus.Internal: return new MolaInternalException(message);
                default: return new MolaException((MolaStatus)int.Parse(m.Groups[1].Value), message);
            }
        }

        internal static void NotNull(object value, string name)
        {
            if (value == null) throw new ArgumentNullException(name);
        }
    }
}
