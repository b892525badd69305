// Internals.cs: what the public handles share: NativeHandle (the generated proxy
// behind a handle, its closed check and its release), the director subclasses
// that keep user exceptions out of native frames, and CallbackPins.
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using N = Mola.Native;

namespace Mola
{
    /// <summary>The generated proxy behind a public handle. Release is idempotent
    /// and safe from a finalizer: the proxies' own Dispose is, too.</summary>
    internal sealed class NativeHandle<T> where T : class, IDisposable
    {
        readonly string name;
        T proxy;

        internal NativeHandle(T proxy, string name)
        {
            this.proxy = proxy;
            this.name = name;
        }

        internal bool IsClosed { get { return proxy == null; } }

        internal T Get()
        {
            T p = proxy;
            if (p == null) throw new MolaClosedException(name + " is closed");
            return p;
        }

        /// <summary>Runs action on the proxy unless it is released, excluding a
        /// concurrent Release (the proxies lock themselves while they free native
        /// memory); for the calls other threads may make, such as Cancel.</summary>
        internal void IfOpen(Action<T> action)
        {
            T p = proxy;
            if (p == null) return;
            lock (p)
            {
                if (proxy != null) action(p);
            }
        }

        /// <summary>Frees the proxy; true for the one call that did.</summary>
        internal bool Release()
        {
            T p = proxy;
            if (p == null) return false;
            lock (p)
            {
                if (proxy == null) return false;
                proxy = null;
            }
            p.Dispose();
            return true;
        }
    }

    /// <summary>Keeps director objects reachable while a native thread may still
    /// call them (a streaming generation's prefill runs on its own thread), even
    /// when the handles that own them are already being finalized.</summary>
    internal static class CallbackPins
    {
        static readonly Dictionary<object, int> pins = new Dictionary<object, int>();

        internal static void Pin(object o)
        {
            if (o == null) return;
            lock (pins)
            {
                int n;
                pins.TryGetValue(o, out n);
                pins[o] = n + 1;
            }
        }

        internal static void Unpin(object o)
        {
            if (o == null) return;
            lock (pins)
            {
                int n;
                if (!pins.TryGetValue(o, out n)) return;
                if (n <= 1) pins.Remove(o);
                else pins[o] = n - 1;
            }
        }
    }

    /// <summary>The first exception user code threw inside a callback, kept until
    /// the native call has returned.</summary>
    internal sealed class CallbackError
    {
        ExceptionDispatchInfo error;

        internal void Keep(Exception e)
        {
            lock (this)
            {
                if (error == null) error = ExceptionDispatchInfo.Capture(e);
            }
        }

        /// <summary>Rethrows the kept exception (with its original stack), once.</summary>
        internal void RethrowIfAny()
        {
            ExceptionDispatchInfo e;
            lock (this)
            {
                e = error;
                error = null;
            }
            if (e != null) e.Throw();
        }
    }

    internal sealed class LoadProgressDirector : N.LoadProgress
    {
        readonly Func<double, bool> callback;
        internal readonly CallbackError Error = new CallbackError();

        internal LoadProgressDirector(Func<double, bool> callback) { this.callback = callback; }

        public override bool on_progress(double fraction)
        {
            try
            {
                return callback(fraction);
            }
            catch (Exception e)
            {
                Error.Keep(e);
                return false;
            }
        }
    }

    internal sealed class PrefillProgressDirector : N.PrefillProgress
    {
        readonly Func<long, long, bool> callback;
        internal readonly CallbackError Error = new CallbackError();

        internal PrefillProgressDirector(Func<long, long, bool> callback) { this.callback = callback; }

        public override bool on_prefill(long done, long total)
        {
            try
            {
                return callback(done, total);
            }
            catch (Exception e)
            {
                Error.Keep(e);
                return false;
            }
        }
    }

    internal sealed class TextSinkDirector : N.TextSink
    {
        readonly Func<string, bool> callback;
        internal readonly CallbackError Error = new CallbackError();

        internal TextSinkDirector(Func<string, bool> callback) { this.callback = callback; }

        public override bool on_text(string text)
        {
            try
            {
                return callback(text);
            }
            catch (Exception e)
            {
                Error.Keep(e);
                return false;
            }
        }
    }

    internal static class Vectors
    {
        internal static N.IntVector Ints(IEnumerable<int> values)
        {
            NativeCall.NotNull(values, "tokens");
            return new N.IntVector(values);
        }

        internal static int[] ToArray(N.IntVector v)
        {
            using (v) return v.ToArray();
        }
    }
}
