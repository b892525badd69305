// mola.i: the one SWIG interface for Python, Java, C# and Go. It wraps the
// binding classes of mola_bind.hpp (over the C++ facade); each language's
// idiomatic wrapper (bindings/<language>/) is built on the generated layer, which
// users do not import themselves.
//
// Errors: a mola::Error becomes the language's generic runtime error (Python
// RuntimeError, Java RuntimeException, C# ApplicationException, a Go panic) with
// the message "[mola:<status>] <text>"; the wrappers turn it into their own types.
// Callbacks: LoadProgress, PrefillProgress and TextSink are directors; the
// wrappers subclass them, catch whatever user code throws inside, and rethrow it
// after the native call returns, so no exception unwinds through native frames.
%module(directors="1", threads="1") mola_native

%{
#include "mola_bind.hpp"

static std::string mola_error_text(const mola::Error& e) {
    return "[mola:" + std::to_string(int(e.status())) + "] " + e.what();
}
%}

%include <stdint.i>
%include <std_string.i>
%include <std_vector.i>
%include <exception.i>

%template(IntVector) std::vector<int32_t>;
%template(FloatVector) std::vector<float>;
%template(ByteVector) std::vector<uint8_t>;
%template(StringVector) std::vector<std::string>;
%template(ChatTurnVector) std::vector<mola::bind::ChatTurn>;
%template(SessionVector) std::vector<mola::bind::Session>;

%feature("director") mola::bind::LoadProgress;
%feature("director") mola::bind::PrefillProgress;
%feature("director") mola::bind::TextSink;

%exception {
    try {
        $action
    } catch (const mola::Error& e) {
        SWIG_exception(SWIG_RuntimeError, mola_error_text(e).c_str());
#if defined(SWIGPYTHON)
    } catch (const Swig::DirectorException&) {
        SWIG_fail;  // the Python exception raised in a callback stays set
#elif defined(SWIGJAVA)
    } catch (Swig::DirectorException& e) {
        e.throwException(jenv);
        return $null;
#endif
    } catch (const std::bad_alloc&) {
        SWIG_exception(SWIG_RuntimeError, "[mola:3] out of memory");
    } catch (const std::exception& e) {
        SWIG_exception(SWIG_RuntimeError, (std::string("[mola:11] ") + e.what()).c_str());
    }
}

// Cheap calls keep Python's GIL (every other call releases it while native code runs).
%feature("nothread") mola::bind::Session::cancel;
%feature("nothread") mola::bind::TextStream::cancel;
%feature("nothread") mola::bind::TextStream::text;
%feature("nothread") mola::bind::Session::is_closed;
%feature("nothread") mola::bind::Model::is_closed;
%feature("nothread") mola::bind::Tokenizer::is_closed;
%feature("nothread") mola::bind::TextStream::is_closed;

// The facade conversions are C++-only.
%ignore mola::bind::Session::sampler_of;
%ignore mola::bind::Session::options_of;
%ignore mola::bind::Session::result_of;
%ignore mola::bind::detail;

#if defined(SWIGPYTHON)
%include "python/mola_python.i"
#elif defined(SWIGJAVA)
%include "java/mola_java.i"
#elif defined(SWIGCSHARP)
%include "csharp/mola_csharp.i"
#elif defined(SWIGGO)
%include "go/mola_go.i"
#endif

%include "mola_bind.hpp"
