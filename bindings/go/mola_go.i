// mola_go.i: Go-only parts of mola.i (included from it).
//
// A C++ exception must not become a Go panic inside the wrapper: the panic would
// unwind through C++ frames, skipping destructors and leaving the caught exception
// active. Instead every wrapper catches, keeps the "[mola:<status>] <text>" message
// in a thread-local slot and returns a zero value; the Go package locks its
// goroutine to the OS thread around the call and takes the message right after it
// (TakeError), turning it into a *mola.Error.
%{
#include <string>
static thread_local std::string mola_go_error;
static thread_local bool mola_go_failed = false;
static void mola_go_fail(const std::string& text) {
    mola_go_error = text;
    mola_go_failed = true;
}
%}

// $null does not exist for Go: a failed call falls through with its zero result
// (which the Go side frees), except where the result would dereference nothing.
%define MOLA_GO_CATCH(ON_FAILURE)
    try {
        $action
    } catch (const mola::Error& e) {
        mola_go_fail(mola_error_text(e));
        ON_FAILURE
    } catch (const std::bad_alloc&) {
        mola_go_fail("[mola:3] out of memory");
        ON_FAILURE
    } catch (const std::exception& e) {
        mola_go_fail(std::string("[mola:11] ") + e.what());
        ON_FAILURE
    } catch (...) {
        mola_go_fail("[mola:11] unknown C++ exception");
        ON_FAILURE
    }
%enddef

%exception { MOLA_GO_CATCH(;) }
// Tokenizer has no empty state for SWIG's value wrapper to copy.
%exception mola::bind::Model::tokenizer { MOLA_GO_CATCH(return nullptr;) }

%inline %{
namespace mola_go {
// The message of the last failed call on this thread, "" if it succeeded; clears it.
inline std::string take_error() {
    if (!mola_go_failed) return std::string();
    mola_go_failed = false;
    return std::move(mola_go_error);
}
}
%}
%exception mola_go::take_error;

// Tests measure native memory through RSS: malloc_trim returns the allocator's
// free pages first, so that pages freed on one of the many threads cgo runs on
// (and kept by that thread's malloc arena) do not read as growth.
%{
#include <malloc.h>
%}
%inline %{
namespace mola_go {
inline void trim_native_heap() { malloc_trim(0); }
}
%}
