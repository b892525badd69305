"""mola: DeepSeek-class language models (MLA + MoE) from Python.

    import mola

    with mola.Model("share/models/mola-tiny-code") as model, model.session() as session:
        for piece in session.generate("def fib(n):", max_tokens=32, seed=1):
            print(piece, end="", flush=True)

Handles (Model, Session, Tokenizer, Batch, Generation) close with ``close()`` or a
``with`` block; any use after that raises :class:`ClosedError`. Every failure is
a :class:`mola.Error` subclass. Native calls release the GIL, so other Python
threads run meanwhile (and may call ``Session.cancel()``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterator, List, Optional, Sequence, Union

from . import mola_native as _native

try:  # logits come back as a numpy array when numpy is installed
    import numpy as _np
except ImportError:  # pragma: no cover - exercised where numpy is absent
    _np = None

__all__ = [
    "Error", "InvalidArgumentError", "ClosedError", "MisuseError", "OutOfMemoryError", "FileError",
    "BadFormatError", "UnsupportedError", "BackendError", "CancelledError", "ContextFullError",
    "CacheFullError", "InternalError", "Model", "ModelInfo", "CacheUsage", "Tokenizer", "Session",
    "Generation", "GenerationResult", "Batch", "version",
]

PathLike = Union[str, "os.PathLike[str]"]
Prompt = Union[str, Sequence[int]]


# ----------------------------------------------------------------------- errors

class Error(Exception):
    """A failed mola call. ``status`` is the C ABI's mola_status code."""

    status: int = 0

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidArgumentError(Error, ValueError):
    status = 1


class MisuseError(Error):
    """A call out of order (for example logits before any token)."""

    status = 2


class ClosedError(MisuseError):
    """A handle was used after close()."""


class OutOfMemoryError(Error, MemoryError):
    status = 3


class FileError(Error, OSError):
    """A file could not be opened, mapped, read or written."""

    status = 4


class BadFormatError(Error):
    """A malformed or inconsistent model, tokenizer or session file."""

    status = 5


class UnsupportedError(Error):
    status = 6


class BackendError(Error):
    status = 7


class CancelledError(Error):
    status = 8


class ContextFullError(Error):
    status = 9


class CacheFullError(Error):
    status = 12


class InternalError(Error):
    status = 11


_BY_STATUS = {c.status: c for c in (InvalidArgumentError, MisuseError, OutOfMemoryError, FileError,
                                     BadFormatError, UnsupportedError, BackendError, CancelledError,
                                     ContextFullError, CacheFullError, InternalError)}
_NATIVE_MESSAGE = re.compile(r"^\[mola:(\d+)\] (.*)$", re.S)


def _translate(e: RuntimeError) -> Exception:
    m = _NATIVE_MESSAGE.match(str(e))
    if not m:
        return e
    status, message = int(m.group(1)), m.group(2)
    if status == MisuseError.status and message.endswith(" is closed"):
        return ClosedError(message, status)
    return _BY_STATUS.get(status, Error)(message, status)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs a native call, turning its errors into mola.Error subclasses."""
    try:
        return fn(*args)
    except RuntimeError as e:
        raise _translate(e) from None


def version() -> str:
    """The loaded library's version string."""
    return _native.version()


# ------------------------------------------------------------------- callbacks
# Directors that never let a Python exception into native code: they keep it,
# ask the native call to stop, and the caller re-raises it afterwards.

class _Guard:
    error: Optional[BaseException] = None

    def reraise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class _LoadProgress(_native.LoadProgress, _Guard):
    def __init__(self, fn: Callable[[float], Optional[bool]]) -> None:
        _native.LoadProgress.__init__(self)
        self.fn = fn

    def on_progress(self, fraction: float) -> bool:
        try:
            return self.fn(fraction) is not False
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller
            self.error = e
            return False


class _PrefillProgress(_native.PrefillProgress, _Guard):
    def __init__(self, fn: Callable[[int, int], Optional[bool]]) -> None:
        _native.PrefillProgress.__init__(self)
        self.fn = fn

    def on_prefill(self, done: int, total: int) -> bool:
        try:
            return self.fn(done, total) is not False
        except BaseException as e:  # noqa: BLE001
            self.error = e
            return False


class _TextSink(_native.TextSink, _Guard):
    def __init__(self, fn: Callable[[str], Optional[bool]]) -> None:
        _native.TextSink.__init__(self)
        self.fn = fn

    def on_text(self, text: str) -> bool:
        try:
            return self.fn(text) is not False
        except BaseException as e:  # noqa: BLE001
            self.error = e
            return False


# ------------------------------------------------------------------- data

def _copy_fields(cls: Any, native: Any) -> Any:
    return cls(**{f.name: getattr(native, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class ModelInfo:
    architecture: str
    variant: str
    weight_dtypes: str
    backend: str
    kv_cache_dtype: str
    fingerprint: str
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_ctx_train: int
    n_routed_experts: int
    n_experts_per_token: int
    n_shared_experts: int
    kv_lora_rank: int
    bos_token_id: int
    eos_token_id: int
    n_params: int
    n_params_active: int
    weight_bytes: int
    kv_bytes_per_token: int


@dataclass(frozen=True)
class CacheUsage:
    block_tokens: int
    blocks_total: int
    blocks_used: int
    blocks_free: int
    bytes_budget: int
    bytes_used: int
    blocks_cached: int
    prefix_hits: int
    prefix_tokens_reused: int
    blocks_evicted: int


@dataclass(frozen=True)
class GenerationResult:
    text: str
    tokens: List[int]
    finish_reason: str  # "eos", "stop", "length" or "cancelled"
    n_prompt_tokens: int
    n_generated_tokens: int
    time_to_first_token_ms: float
    prefill_tokens_per_second: float
    decode_tokens_per_second: float

    @classmethod
    def _of(cls, r: Any) -> "GenerationResult":
        return cls(text=r.text, tokens=list(r.tokens), finish_reason=r.finish_reason,
                   n_prompt_tokens=r.n_prompt_tokens, n_generated_tokens=r.n_generated_tokens,
                   time_to_first_token_ms=r.time_to_first_token_ms,
                   prefill_tokens_per_second=r.prefill_tokens_per_second,
                   decode_tokens_per_second=r.decode_tokens_per_second)


class _Handle:
    """Closing, context management and the closed check shared by every handle."""

    _h: Any = None

    def close(self) -> None:
        """Releases the native handle now (idempotent)."""
        h, self._h = self._h, None
        if h is not None:
            h.close()

    @property
    def closed(self) -> bool:
        return self._h is None

    def _native(self) -> Any:
        if self._h is None:
            raise ClosedError(f"{type(self).__name__} is closed", MisuseError.status)
        return self._h

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


# ------------------------------------------------------------------ tokenizer

class Tokenizer(_Handle):
    """A tokenizer, loaded from a file or directory or taken from a Model."""

    def __init__(self, path: PathLike) -> None:
        self._h = _call(_native.Tokenizer, os.fspath(path))

    @classmethod
    def _adopt(cls, native: Any) -> "Tokenizer":
        t = cls.__new__(cls)
        t._h = native
        return t

    def encode(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> List[int]:
        return list(_call(self._native().encode, text, add_special, parse_special))

    def decode(self, tokens: Sequence[int], *, skip_special: bool = False) -> str:
        return _call(self._native().decode, _native.IntVector(list(tokens)), skip_special)

    def apply_chat(self, messages: Sequence[dict], *, add_generation_prompt: bool = True) -> str:
        """The prompt text of a conversation: [{"role": "user", "content": "..."}, ...]."""
        turns = _native.ChatTurnVector()
        for m in messages:
            t = _native.ChatTurn()
            t.role, t.content = m["role"], m["content"]
            turns.append(t)
        return _call(self._native().apply_chat, turns, add_generation_prompt)

    @property
    def chat_format(self) -> str:
        return _call(self._native().chat_format)

    def build_fim(self, prefix: str, suffix: str, *, spm: bool = False) -> str:
        """A fill-in-the-middle prompt for the text between prefix and suffix."""
        return _call(self._native().build_fim, prefix, suffix, spm)

    def token_to_piece(self, token: int) -> bytes:
        return _call(self._native().token_to_piece, token).encode("utf-8", "surrogateescape")

    def token_id(self, text: str) -> int:
        """The id of the token spelled exactly text, or -1."""
        return _call(self._native().token_id, text)


# ---------------------------------------------------------------------- model

class Model(_Handle):
    """A loaded checkpoint: immutable and shared by its sessions and threads.

    progress(fraction) is called while loading; returning False (or raising)
    cancels the load.
    """

    def __init__(self, path: PathLike, *, n_threads: int = 0, backend: str = "auto", mla: str = "auto",
                 kv_cache_dtype: str = "bf16", kv_block_tokens: int = 0, kv_cache_budget_bytes: int = 0,
                 prefix_cache: bool = True, progress: Optional[Callable[[float], Optional[bool]]] = None) -> None:
        o = _native.ModelOptions()
        o.n_threads, o.backend, o.mla = n_threads, backend, mla
        o.kv_cache_dtype, o.kv_block_tokens = kv_cache_dtype, kv_block_tokens
        o.kv_cache_budget_bytes, o.prefix_cache = kv_cache_budget_bytes, prefix_cache
        guard = _LoadProgress(progress) if progress else None
        try:
            self._h = _call(_native.Model, os.fspath(path), o, guard)
        except Error:
            if guard:
                guard.reraise()
            raise
        self._tokenizer: Optional[Tokenizer] = None

    @property
    def info(self) -> ModelInfo:
        return _copy_fields(ModelInfo, _call(self._native().info))

    @property
    def cache_usage(self) -> CacheUsage:
        return _copy_fields(CacheUsage, _call(self._native().cache_usage))

    def clear_prefix_cache(self) -> None:
        _call(self._native().clear_prefix_cache)

    @property
    def tokenizer(self) -> Tokenizer:
        """The checkpoint's tokenizer (closed with the model)."""
        if self._tokenizer is None or self._tokenizer.closed:
            self._tokenizer = Tokenizer._adopt(_call(self._native().tokenizer))
        return self._tokenizer

    def session(self, **options: Any) -> "Session":
        """A new Session on this model (see Session for the options)."""
        return Session(self, **options)

    def close(self) -> None:
        if getattr(self, "_tokenizer", None) is not None:
            self._tokenizer.close()
        super().close()


# -------------------------------------------------------------------- session

def _sampler(temperature: float, top_k: int, top_p: float, min_p: float, repeat_penalty: float,
             presence_penalty: float, frequency_penalty: float, penalty_window: int, seed: int) -> Any:
    s = _native.SamplerOptions()
    s.temperature, s.top_k, s.top_p, s.min_p = temperature, top_k, top_p, min_p
    s.repeat_penalty, s.presence_penalty, s.frequency_penalty = repeat_penalty, presence_penalty, frequency_penalty
    s.penalty_window, s.seed = penalty_window, seed
    return s


def _generate_options(max_tokens: int, stop: Sequence[str], ignore_eos: bool) -> Any:
    g = _native.GenerateOptions()
    g.max_tokens, g.ignore_eos = max_tokens, ignore_eos
    g.stop = _native.StringVector(list(stop))
    return g


class Session(_Handle):
    """A token history and its KV cache. One thread at a time, except cancel().

    Options: n_ctx (0 = min(4096, the model's limit)), n_batch (0 = 256),
    overflow ("error" or "slide", keeping n_keep tokens and dropping n_discard),
    prefill_progress(done, total) called during long prompts (False cancels).
    """

    def __init__(self, model: Model, *, n_ctx: int = 0, n_batch: int = 0, overflow: str = "error",
                 n_keep: int = 0, n_discard: int = 0,
                 prefill_progress: Optional[Callable[[int, int], Optional[bool]]] = None) -> None:
        self._model = model
        self._progress = _PrefillProgress(prefill_progress) if prefill_progress else None
        self._h = _call(_native.Session, model._native(), self._options(n_ctx, n_batch, overflow, n_keep, n_discard),
                        self._progress)

    @staticmethod
    def _options(n_ctx: int, n_batch: int, overflow: str, n_keep: int, n_discard: int) -> Any:
        o = _native.SessionOptions()
        o.n_ctx, o.n_batch, o.overflow, o.n_keep, o.n_discard = n_ctx, n_batch, overflow, n_keep, n_discard
        return o

    @classmethod
    def _adopt(cls, model: Model, native: Any, progress: Optional[_PrefillProgress]) -> "Session":
        s = cls.__new__(cls)
        s._model, s._progress, s._h = model, progress, native
        return s

    @classmethod
    def load(cls, model: Model, path: PathLike, *, n_ctx: int = 0, n_batch: int = 0, overflow: str = "error",
             n_keep: int = 0, n_discard: int = 0,
             prefill_progress: Optional[Callable[[int, int], Optional[bool]]] = None) -> "Session":
        """A session saved by save(), restored exactly (n_ctx 0 = the saved one's)."""
        progress = _PrefillProgress(prefill_progress) if prefill_progress else None
        native = _call(_native.Session.load, model._native(), os.fspath(path),
                       cls._options(n_ctx, n_batch, overflow, n_keep, n_discard), progress)
        return cls._adopt(model, native, progress)

    def save(self, path: PathLike) -> None:
        """Saves atomically: a crash mid-save never destroys the previous file."""
        _call(self._native().save, os.fspath(path))

    def _tokens(self, prompt: Prompt) -> Any:
        if isinstance(prompt, str):
            h = self._native()
            prompt = self._model.tokenizer.encode(prompt, add_special=_call(h.n_tokens) == 0)
        return _native.IntVector([int(t) for t in prompt])

    def _prefill(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return _call(fn, *args)
        except Error:
            if self._progress:
                self._progress.reraise()
            raise

    def append(self, prompt: Prompt) -> None:
        """Appends tokens (or text, encoded with the model's tokenizer; BOS first
        when the session is empty) and computes the logits of the last one."""
        self._prefill(self._native().append, self._tokens(prompt))

    def logits(self) -> Any:
        """The logits after the last token: a numpy float32 array (a list without numpy)."""
        values = _call(self._native().logits)
        if _np is not None:
            return _np.array(values, dtype=_np.float32)
        return list(values)

    def rewind(self, n_tokens: int) -> None:
        """Keeps the first n_tokens tokens."""
        _call(self._native().rewind, n_tokens)

    def fork(self) -> "Session":
        """A copy-on-write copy that shares this session's cache blocks."""
        return Session._adopt(self._model, _call(self._native().fork), self._progress)

    def generate(self, prompt: Prompt = (), *, max_tokens: int = 256, stop: Sequence[str] = (),
                 ignore_eos: bool = False, temperature: float = 0.8, top_k: int = 40, top_p: float = 0.95,
                 min_p: float = 0.05, repeat_penalty: float = 1.0, presence_penalty: float = 0.0,
                 frequency_penalty: float = 0.0, penalty_window: int = 64, seed: int = 0) -> "Generation":
        """Appends prompt and samples; iterate the result for the text as it comes:

            for piece in session.generate("def f(x):", max_tokens=64):
                print(piece, end="")

        temperature <= 0 is greedy. The Generation's .result holds the tokens and
        the finish reason once it ends; cancel() or breaking out of the loop
        (then close()) stops it."""
        stream = _call(self._native().stream, self._tokens(prompt),
                       _sampler(temperature, top_k, top_p, min_p, repeat_penalty, presence_penalty,
                                frequency_penalty, penalty_window, seed),
                       _generate_options(max_tokens, stop, ignore_eos))
        return Generation(stream, self._progress)

    def complete(self, prompt: Prompt = (), *, on_text: Optional[Callable[[str], Optional[bool]]] = None,
                 max_tokens: int = 256, stop: Sequence[str] = (), ignore_eos: bool = False, temperature: float = 0.8,
                 top_k: int = 40, top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.0,
                 presence_penalty: float = 0.0, frequency_penalty: float = 0.0, penalty_window: int = 64,
                 seed: int = 0) -> GenerationResult:
        """generate() in one call: on_text(piece) sees each piece (returning False
        stops); an exception raised in it stops generation and is re-raised here."""
        sink = _TextSink(on_text) if on_text else None
        try:
            r = self._prefill(self._native().generate, self._tokens(prompt),
                              _sampler(temperature, top_k, top_p, min_p, repeat_penalty, presence_penalty,
                                       frequency_penalty, penalty_window, seed),
                              _generate_options(max_tokens, stop, ignore_eos), sink)
        finally:
            if sink:
                sink.reraise()
        return GenerationResult._of(r)

    def cancel(self) -> None:
        """Stops a running (or the next) generation or prefill. Safe from any thread."""
        h = self._h
        if h is not None:
            h.cancel()

    @property
    def n_tokens(self) -> int:
        return _call(self._native().n_tokens)

    @property
    def n_ctx(self) -> int:
        return _call(self._native().n_ctx)

    @property
    def tokens(self) -> List[int]:
        return list(_call(self._native().tokens))

    @property
    def metadata(self) -> bytes:
        """Application bytes saved, loaded and forked with the session."""
        return bytes(_call(self._native().metadata))

    @metadata.setter
    def metadata(self, data: Union[bytes, str]) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        _call(self._native().set_metadata, _native.ByteVector(bytes(data)))


class Generation(_Handle):
    """A running generation: an iterator of text pieces (see Session.generate)."""

    def __init__(self, stream: Any, progress: Optional[_PrefillProgress]) -> None:
        self._h = stream
        self._progress = progress
        self.result: Optional[GenerationResult] = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        h = self._native() if self.result is None else None
        if h is None:
            raise StopIteration
        try:
            more = _call(h.next)
        except Error:
            self.close()
            if self._progress:
                self._progress.reraise()
            raise
        if more:
            return h.text()
        self.result = GenerationResult._of(_call(h.result))
        self.close()
        raise StopIteration

    @property
    def text(self) -> str:
        """Runs the generation to its end and returns all of its text."""
        pieces = list(self)
        return self.result.text if self.result else "".join(pieces)

    def cancel(self) -> None:
        """Stops the generation at its next piece (finish_reason "cancelled"). Safe from any thread."""
        h = self._h
        if h is not None:
            h.cancel()


class Batch(_Handle):
    """Continuous batching: one decode step for several sessions in one forward pass."""

    def __init__(self, model: Model, max_sessions: int) -> None:
        self._h = _call(_native.Batch, model._native(), max_sessions)

    def decode(self, sessions: Sequence[Session], tokens: Sequence[int]) -> None:
        """Appends tokens[i] to sessions[i] and computes its logits, all or none."""
        v = _native.SessionVector()
        for s in sessions:
            v.append(s._native())
        _call(self._native().decode, v, _native.IntVector([int(t) for t in tokens]))
