// errors.go: mola's error values (*Error with a Status, sentinels for errors.Is,
// *CallbackError for a callback that failed or panicked) and the guard that
// turns every failure of the native layer into one of them.
package mola

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"

	"mola.dev/mola/internal/native"
)

// Status is the C ABI's mola_status code of a failure.
type Status int

// The statuses a mola call can fail with.
const (
	StatusInvalidArgument Status = 1
	StatusMisuse          Status = 2
	StatusOutOfMemory     Status = 3
	StatusFile            Status = 4
	StatusBadFormat       Status = 5
	StatusUnsupported     Status = 6
	StatusBackend         Status = 7
	StatusCancelled       Status = 8
	StatusContextFull     Status = 9
	StatusInternal        Status = 11
	StatusCacheFull       Status = 12
)

func (s Status) String() string {
	switch s {
	case StatusInvalidArgument:
		return "invalid argument"
	case StatusMisuse:
		return "misuse"
	case StatusOutOfMemory:
		return "out of memory"
	case StatusFile:
		return "file error"
	case StatusBadFormat:
		return "bad format"
	case StatusUnsupported:
		return "unsupported"
	case StatusBackend:
		return "backend error"
	case StatusCancelled:
		return "cancelled"
	case StatusContextFull:
		return "context full"
	case StatusInternal:
		return "internal error"
	case StatusCacheFull:
		return "cache full"
	}
	return "status " + strconv.Itoa(int(s))
}

// Error is a failed mola call. Compare with the sentinels through errors.Is:
//
//	if errors.Is(err, mola.ErrFile) { ... }
type Error struct {
	Status  Status
	Message string // mola's message, naming the file, option or handle concerned
	Closed  bool   // a handle was used after Close (Status is StatusMisuse)
	// sentinel marks the package's Err* values, which match by Status.
	sentinel bool
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "mola: " + e.Status.String()
	}
	return "mola: " + e.Message
}

// Is reports whether target is the sentinel of e's Status (ErrMisuse also
// matches a closed handle; ErrClosed matches only that).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || !t.sentinel {
		return false
	}
	return t.Status == e.Status && (!t.Closed || e.Closed)
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument, sentinel: true}
	ErrMisuse          = &Error{Status: StatusMisuse, sentinel: true}
	ErrClosed          = &Error{Status: StatusMisuse, Closed: true, Message: "handle is closed", sentinel: true}
	ErrOutOfMemory     = &Error{Status: StatusOutOfMemory, sentinel: true}
	ErrFile            = &Error{Status: StatusFile, sentinel: true}
	ErrBadFormat       = &Error{Status: StatusBadFormat, sentinel: true}
	ErrUnsupported     = &Error{Status: StatusUnsupported, sentinel: true}
	ErrBackend         = &Error{Status: StatusBackend, sentinel: true}
	ErrCancelled       = &Error{Status: StatusCancelled, sentinel: true}
	ErrContextFull     = &Error{Status: StatusContextFull, sentinel: true}
	ErrInternal        = &Error{Status: StatusInternal, sentinel: true}
	ErrCacheFull       = &Error{Status: StatusCacheFull, sentinel: true}
)

// CallbackError is returned when a callback (load progress, prefill progress or
// a text callback) returned an error or panicked: the native call was stopped and
// this is what the callback raised. errors.Is / errors.As see through it to the
// callback's error (or to a panic value that is an error).
type CallbackError struct {
	Callback string      // "load progress", "prefill progress" or "text"
	Err      error       // the error the callback returned; nil after a panic
	Panic    interface{} // the value the callback panicked with, if it panicked
}

func (e *CallbackError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mola: %s callback: %v", e.Callback, e.Err)
	}
	return fmt.Sprintf("mola: %s callback panicked: %v", e.Callback, e.Panic)
}

func (e *CallbackError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	if err, ok := e.Panic.(error); ok {
		return err
	}
	return nil
}

// runGuarded runs a user callback, turning an error or a panic into a
// *CallbackError so that nothing unwinds into the native frames that called it.
func runGuarded(name string, fn func() error) (failure *CallbackError) {
	defer func() {
		if r := recover(); r != nil {
			failure = &CallbackError{Callback: name, Panic: r}
		}
	}()
	if err := fn(); err != nil {
		return &CallbackError{Callback: name, Err: err}
	}
	return nil
}

var nativeMessage = regexp.MustCompile(`(?s)^\[mola:(\d+)\] (.*)$`)

func parseNativeError(text string) *Error {
	m := nativeMessage.FindStringSubmatch(text)
	if m == nil {
		return &Error{Status: StatusInternal, Message: text}
	}
	status, _ := strconv.Atoi(m[1])
	e := &Error{Status: Status(status), Message: m[2]}
	e.Closed = e.Status == StatusMisuse && len(m[2]) >= 10 && m[2][len(m[2])-10:] == " is closed"
	return e
}

// nativeCall runs fn, which calls into the generated layer, and returns the
// failure it reported. The generated layer leaves a C++ failure in a thread-local
// slot, so the goroutine stays on its OS thread from the call until the slot is
// read; a panic of the generated layer (a bug) becomes StatusInternal.
func nativeCall(fn func()) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		if r := recover(); r != nil {
			native.Take_error()
			err = &Error{Status: StatusInternal, Message: fmt.Sprint(r)}
		}
	}()
	fn()
	if text := native.Take_error(); text != "" {
		return parseNativeError(text)
	}
	return nil
}

func closedError(what string) error {
	return &Error{Status: StatusMisuse, Closed: true, Message: what + " is closed"}
}

// isStatus reports whether err is a *Error of the given status.
func isStatus(err error, status Status) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// trimNativeHeap hands the C allocator's free pages back to the system (for the
// memory test: RSS then counts live native memory, not the allocator's caches).
func trimNativeHeap() {
	_ = nativeCall(func() { native.Trim_native_heap() })
}
