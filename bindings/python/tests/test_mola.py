"""The bindings' shared scenarios, in Python (pytest).

The expected values come from the C++ facade (bindings/reference/reference.cpp,
written at build time to the file named by MOLA_BINDINGS_REFERENCE).
"""
import gc
import os
import threading

import pytest

import mola


def _reference():
    path = os.environ.get("MOLA_BINDINGS_REFERENCE")
    if not path:
        pytest.fail("MOLA_BINDINGS_REFERENCE is not set (run the tests through ctest)")
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            values[key] = value
    return values


REF = _reference()
MODEL_DIR = REF["model"]
TEXT = bytes.fromhex(REF["text_hex"]).decode("utf-8")
PROMPT = [int(t) for t in REF["prompt_tokens"].split()]
SEED = int(REF["seed"])
MAX_TOKENS = int(REF["max_tokens"])
GENERATED = [int(t) for t in REF["generated_tokens"].split()]
GENERATED_TEXT = bytes.fromhex(REF["generated_hex"]).decode("utf-8")


@pytest.fixture(scope="module")
def model():
    with mola.Model(MODEL_DIR, n_threads=1) as m:
        yield m


def test_load_bundled_model_with_progress():
    seen = []
    with mola.Model(MODEL_DIR, n_threads=1, progress=seen.append) as m:
        info = m.info
        assert info.n_vocab > 0 and info.n_layer > 0
        assert info.architecture.startswith("deepseek")
    assert seen and seen[-1] == pytest.approx(1.0)
    assert mola.version()


def test_encode_decode_round_trip(model):
    tok = model.tokenizer
    assert tok.encode(TEXT) == PROMPT
    assert tok.decode(PROMPT, skip_special=True) == bytes.fromhex(REF["decoded_hex"]).decode("utf-8")
    assert tok.decode(tok.encode("héllo wörld ✓", add_special=False)) == "héllo wörld ✓"


def test_chat_and_fim_prompts(model):
    tok = model.tokenizer
    chat = tok.apply_chat([{"role": "user", "content": "hi"}])
    assert "hi" in chat
    fim = tok.build_fim("def f():\n    ", "\n    return x\n")
    assert "return x" in fim and fim.index("def f()") < fim.index("return x")
    spm = tok.build_fim("def f():\n    ", "\n    return x\n", spm=True)
    assert spm.index("return x") < spm.index("def f()")


def test_seeded_generation_equals_cpp(model):
    with model.session() as s:
        r = s.complete(PROMPT, seed=SEED, max_tokens=MAX_TOKENS, ignore_eos=True)
    assert r.tokens == GENERATED
    assert r.text == GENERATED_TEXT
    assert r.finish_reason == "length"


def test_streaming(model):
    with model.session() as s:
        gen = s.generate(PROMPT, seed=SEED, max_tokens=MAX_TOKENS, ignore_eos=True)
        pieces = [piece for piece in gen]
    assert len(pieces) > 1
    assert "".join(pieces) == GENERATED_TEXT
    assert gen.result.tokens == GENERATED
    with model.session() as s:
        seen = []
        r = s.complete(PROMPT, on_text=seen.append, seed=SEED, max_tokens=MAX_TOKENS, ignore_eos=True)
    assert "".join(seen) == r.text == GENERATED_TEXT


def test_cancel_from_another_thread(model):
    with model.session(n_ctx=4096) as s:
        gen = s.generate(PROMPT, max_tokens=0, ignore_eos=True, seed=1)
        first = next(gen)
        threading.Thread(target=gen.cancel).start()
        rest = list(gen)
        assert gen.result.finish_reason == "cancelled"
        assert gen.result.n_generated_tokens < 4096
        assert first + "".join(rest) == gen.result.text
        # The blocking form, cancelled through the session from another thread.
        started = threading.Event()
        timer = threading.Thread(target=lambda: (started.wait(), s.cancel()))
        timer.start()
        r = s.complete(" x", on_text=lambda _: started.set(), max_tokens=0, ignore_eos=True)
        timer.join()
        assert r.finish_reason == "cancelled"


def test_callback_that_raises(model):
    class Boom(Exception):
        pass

    def on_text(piece):
        raise Boom("from the callback")

    with model.session() as s:
        with pytest.raises(Boom, match="from the callback"):
            s.complete(PROMPT, on_text=on_text, max_tokens=8, ignore_eos=True)
        # The session is still usable and the next generation is unaffected.
        n = s.n_tokens
        r = s.complete([], max_tokens=3, ignore_eos=True)
        assert r.n_generated_tokens == 3 and s.n_tokens == n + 3

    def progress(done, total):
        raise Boom("from the prefill")

    with model.session(n_batch=4, prefill_progress=progress) as s:
        with pytest.raises(Boom, match="from the prefill"):
            s.append(PROMPT)
        assert s.n_tokens == 0

    with pytest.raises(Boom):
        mola.Model(MODEL_DIR, progress=lambda f: (_ for _ in ()).throw(Boom("from the load")))


def test_errors(tmp_path, model):
    with pytest.raises(mola.FileError, match="no-such-model"):
        mola.Model(tmp_path / "no-such-model")
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "config.json").write_text("{ this is not json")
    with pytest.raises(mola.BadFormatError, match="config.json"):
        mola.Model(bad)
    s = model.session()
    s.close()
    with pytest.raises(mola.ClosedError):
        s.append([1])
    with pytest.raises(mola.ClosedError):
        s.logits()
    m = mola.Model(MODEL_DIR, n_threads=1)
    tok = m.tokenizer
    m.close()
    with pytest.raises(mola.ClosedError):
        m.session()
    with pytest.raises(mola.ClosedError):
        tok.encode("x")
    with model.session() as s:
        with pytest.raises(mola.MisuseError):
            s.logits()  # before any token
        with pytest.raises(mola.InvalidArgumentError):
            s.append([model.info.n_vocab + 5])
    with pytest.raises(mola.InvalidArgumentError):
        mola.Model(MODEL_DIR, kv_cache_dtype="int3")
    assert issubclass(mola.FileError, OSError) and issubclass(mola.ClosedError, mola.Error)


def test_a_session_serves_one_call_at_a_time(model):
    with model.session() as s:
        gen = s.generate(PROMPT, max_tokens=0, ignore_eos=True)
        next(gen)
        with pytest.raises(mola.MisuseError, match="busy"):
            s.append([5])
        gen.cancel()
        list(gen)
        s.append([5])  # free again once the stream has ended


def test_fork_save_load(tmp_path, model):
    np = pytest.importorskip("numpy")
    path = tmp_path / "session.mola"
    with model.session() as s:
        s.append(PROMPT)
        s.metadata = b"app state \x00\xff"
        with s.fork() as child:
            assert child.tokens == s.tokens
            assert np.array_equal(child.logits(), s.logits())
            child.append([PROMPT[1]])
            assert child.n_tokens == s.n_tokens + 1
        s.save(path)
        with mola.Session.load(model, path) as loaded:
            assert loaded.tokens == PROMPT
            assert loaded.metadata == b"app state \x00\xff"
            assert np.array_equal(loaded.logits(), s.logits())
            a = s.complete([], seed=7, max_tokens=5, ignore_eos=True)
            b = loaded.complete([], seed=7, max_tokens=5, ignore_eos=True)
            assert a.tokens == b.tokens
        s.rewind(3)
        assert s.tokens == PROMPT[:3]
    (tmp_path / "broken.mola").write_bytes(path.read_bytes()[:100])
    with pytest.raises(mola.BadFormatError, match="broken.mola"):
        mola.Session.load(model, tmp_path / "broken.mola")


def test_logits_type(model):
    with model.session() as s:
        s.append(PROMPT)
        logits = s.logits()
    assert len(logits) == model.info.n_vocab
    try:
        import numpy as np
    except ImportError:
        assert isinstance(logits, list)
    else:
        assert isinstance(logits, np.ndarray) and logits.dtype == np.float32


def test_batch_equals_sessions_alone(model):
    with model.session() as a, model.session() as b, model.session() as solo:
        a.append(PROMPT)
        b.append(PROMPT[:5])
        with mola.Batch(model, 2) as batch:
            batch.decode([a, b], [11, 12])
        solo.append(PROMPT)
        solo.append([11])  # decoded alone
        assert _rel_l2(a.logits(), solo.logits()) < 1e-5
        assert b.n_tokens == 6


def _rel_l2(x, y):
    num = sum((float(p) - float(q)) ** 2 for p, q in zip(x, y))
    den = sum(float(q) ** 2 for q in y)
    return (num / den) ** 0.5


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_create_destroy_cycles_do_not_grow_memory(model):
    def cycle():
        with model.session() as s:
            s.append(PROMPT[:4])
            with s.fork() as f:
                f.append([PROMPT[4]])
            g = s.generate([], max_tokens=1, ignore_eos=True)
            list(g)
        t = mola.Tokenizer._adopt(model._native().tokenizer())
        t.close()

    for _ in range(100):  # warm-up: pools and caches reach their steady size
        cycle()
    gc.collect()
    before = _rss_kib()
    for _ in range(1000):
        cycle()
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 1000 cycles"
