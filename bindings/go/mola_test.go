// mola_test.go: the bindings' shared scenarios in Go (go test). The expected
// values come from the C++ facade (bindings/reference/reference.cpp, written at
// build time to the file named by MOLA_BINDINGS_REFERENCE).
package mola

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type reference struct {
	modelDir      string
	text          string
	prompt        []int32
	decoded       string
	seed          int64
	maxTokens     int
	generated     []int32
	generatedText string
}

var (
	refOnce   sync.Once
	ref       reference
	refErr    error
	modelOnce sync.Once
	shared    *Model
	sharedErr error
)

func readReference() (reference, error) {
	var r reference
	path := os.Getenv("MOLA_BINDINGS_REFERENCE")
	if path == "" {
		return r, errors.New("MOLA_BINDINGS_REFERENCE is not set (run the tests through ctest)")
	}
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	values := map[string]string{}
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		if key, value, ok := strings.Cut(scanner.Text(), "="); ok {
			values[key] = value
		}
	}
	unhex := func(key string) string {
		b, e := hex.DecodeString(values[key])
		if e != nil && err == nil {
			err = e
		}
		return string(b)
	}
	ids := func(key string) []int32 {
		var out []int32
		for _, field := range strings.Fields(values[key]) {
			n, e := strconv.Atoi(field)
			if e != nil && err == nil {
				err = e
			}
			out = append(out, int32(n))
		}
		return out
	}
	r.modelDir = values["model"]
	r.text = unhex("text_hex")
	r.prompt = ids("prompt_tokens")
	r.decoded = unhex("decoded_hex")
	r.generated = ids("generated_tokens")
	r.generatedText = unhex("generated_hex")
	seed, e1 := strconv.ParseInt(values["seed"], 10, 64)
	maxTokens, e2 := strconv.Atoi(values["max_tokens"])
	r.seed, r.maxTokens = seed, maxTokens
	for _, e := range []error{e1, e2} {
		if err == nil {
			err = e
		}
	}
	return r, err
}

func refs(t *testing.T) reference {
	t.Helper()
	refOnce.Do(func() { ref, refErr = readReference() })
	if refErr != nil {
		t.Fatalf("reference: %v", refErr)
	}
	return ref
}

// model is the bundled model, loaded once for the tests that only use it.
func model(t *testing.T) *Model {
	t.Helper()
	r := refs(t)
	modelOnce.Do(func() { shared, sharedErr = Load(r.modelDir, WithThreads(1)) })
	if sharedErr != nil {
		t.Fatalf("Load: %v", sharedErr)
	}
	return shared
}

// must and check turn an unexpected error into a failure of the test that
// deferred guard (Go has no way to pass a two-valued call together with t).
type unexpected struct{ err error }

func must[T any](v T, err error) T {
	check(err)
	return v
}

func check(err error) {
	if err != nil {
		panic(unexpected{err})
	}
}

func guard(t *testing.T) {
	if r := recover(); r != nil {
		if u, ok := r.(unexpected); ok {
			t.Fatalf("unexpected error: %v\n%s", u.err, debug.Stack())
		}
		panic(r)
	}
}

func openSession(t *testing.T, m *Model, options ...SessionOption) *Session {
	s := must(m.NewSession(options...))
	t.Cleanup(func() { s.Close() })
	return s
}

func seeded(r reference) []GenerateOption {
	return []GenerateOption{WithSeed(r.seed), WithMaxTokens(r.maxTokens), WithIgnoreEOS(true)}
}

// 1. Loading the bundled model, with a progress callback that ends at 1.
func TestLoadBundledModelWithProgress(t *testing.T) {
	defer guard(t)
	r := refs(t)
	var seen []float64
	m := must(Load(r.modelDir, WithThreads(1), WithLoadProgress(func(f float64) error {
		seen = append(seen, f)
		return nil
	})))
	defer m.Close()
	info := must(m.Info())
	if info.NVocab <= 0 || info.NLayer <= 0 || !strings.HasPrefix(info.Architecture, "deepseek") {
		t.Fatalf("unexpected info %+v", info)
	}
	if len(seen) == 0 || math.Abs(seen[len(seen)-1]-1) > 1e-6 {
		t.Fatalf("progress %v does not end at 1", seen)
	}
	if Version() == "" {
		t.Fatal("empty version")
	}
}

// 2. Encode/decode round trip against the reference, and non-ASCII text.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	defer guard(t)
	r := refs(t)
	tok := must(model(t).Tokenizer())
	if got := must(tok.Encode(r.text)); !reflect.DeepEqual(got, r.prompt) {
		t.Fatalf("encode: %v, want %v", got, r.prompt)
	}
	if got := must(tok.Decode(r.prompt, true)); got != r.decoded {
		t.Fatalf("decode: %q, want %q", got, r.decoded)
	}
	const text = "héllo wörld ✓"
	ids := must(tok.EncodeWith(text, false, true))
	if got := must(tok.Decode(ids, false)); got != text {
		t.Fatalf("non-ASCII round trip: %q", got)
	}
}

// 3. Chat and fill-in-the-middle prompts.
func TestChatAndFIMPrompts(t *testing.T) {
	defer guard(t)
	tok := must(model(t).Tokenizer())
	chat := must(tok.ApplyChat([]ChatMessage{{Role: "user", Content: "hi"}}, true))
	if !strings.Contains(chat, "hi") {
		t.Fatalf("chat prompt %q lacks the message", chat)
	}
	prefix, suffix := "def f():\n    ", "\n    return x\n"
	psm := must(tok.BuildFIM(prefix, suffix, FIMPrefixSuffixMiddle))
	if !strings.Contains(psm, "return x") || strings.Index(psm, "def f()") > strings.Index(psm, "return x") {
		t.Fatalf("PSM prompt %q", psm)
	}
	spm := must(tok.BuildFIM(prefix, suffix, FIMSuffixPrefixMiddle))
	if strings.Index(spm, "return x") > strings.Index(spm, "def f()") {
		t.Fatalf("SPM prompt %q", spm)
	}
}

// 4. Seeded generation equals the C++ facade's.
func TestSeededGenerationEqualsCpp(t *testing.T) {
	defer guard(t)
	r := refs(t)
	s := openSession(t, model(t))
	res := must(s.Generate(context.Background(), Tokens(r.prompt), seeded(r)...))
	if !reflect.DeepEqual(res.Tokens, r.generated) || res.Text != r.generatedText || res.FinishReason != "length" {
		t.Fatalf("got %v %q %s, want %v %q length", res.Tokens, res.Text, res.FinishReason, r.generated, r.generatedText)
	}
}

// 5. Streaming through the channel and through the callback.
func TestStreaming(t *testing.T) {
	defer guard(t)
	r := refs(t)
	s := openSession(t, model(t))
	pieces, wait := s.Stream(context.Background(), Tokens(r.prompt), seeded(r)...)
	var got []string
	for piece := range pieces {
		got = append(got, piece)
	}
	res := must(wait())
	if len(got) < 2 || strings.Join(got, "") != r.generatedText || !reflect.DeepEqual(res.Tokens, r.generated) {
		t.Fatalf("stream pieces %q, tokens %v", got, res.Tokens)
	}

	s2 := openSession(t, model(t))
	var seen strings.Builder
	res = must(s2.Generate(context.Background(), Tokens(r.prompt),
		append(seeded(r), WithOnText(func(piece string) error { seen.WriteString(piece); return nil }))...))
	if seen.String() != r.generatedText || res.Text != r.generatedText {
		t.Fatalf("callback pieces %q, result %q", seen.String(), res.Text)
	}
}

// 6. Cancellation from another goroutine: ctx, the stream, Session.Cancel.
func TestCancelFromAnotherGoroutine(t *testing.T) {
	defer guard(t)
	r := refs(t)
	s := openSession(t, model(t), WithContextSize(4096))

	ctx, cancel := context.WithCancel(context.Background())
	pieces, wait := s.Stream(ctx, Tokens(r.prompt), WithMaxTokens(0), WithIgnoreEOS(true), WithSeed(1))
	first := <-pieces
	go cancel()
	rest := ""
	for piece := range pieces {
		rest += piece
	}
	res, err := wait()
	if !errors.Is(err, context.Canceled) || res.FinishReason != "cancelled" || res.NGeneratedTokens >= 4096 {
		t.Fatalf("stream: err %v, finish %q after %d tokens", err, res.FinishReason, res.NGeneratedTokens)
	}
	if !strings.HasPrefix(res.Text, first) {
		t.Fatalf("stream text %q does not start with the first piece %q", res.Text, first)
	}

	// Generate with a ctx cancelled from another goroutine.
	ctx2, cancel2 := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	go func() {
		<-started
		cancel2()
	}()
	res, err = s.Generate(ctx2, Text(" x"), WithMaxTokens(0), WithIgnoreEOS(true),
		WithOnText(func(string) error { once.Do(func() { close(started) }); return nil }))
	if !errors.Is(err, context.Canceled) || res.FinishReason != "cancelled" {
		t.Fatalf("generate with ctx: err %v, finish %q", err, res.FinishReason)
	}

	// The blocking form, cancelled through the session from another goroutine.
	started = make(chan struct{})
	once = sync.Once{}
	go func() {
		<-started
		s.Cancel()
	}()
	res, err = s.Generate(context.Background(), Text(" x"), WithMaxTokens(0), WithIgnoreEOS(true),
		WithOnText(func(string) error { once.Do(func() { close(started) }); return nil }))
	if err != nil || res.FinishReason != "cancelled" {
		t.Fatalf("Session.Cancel: err %v, finish %q", err, res.FinishReason)
	}
	// The session is still usable.
	res = must(s.Generate(context.Background(), Tokens{}, WithMaxTokens(2), WithIgnoreEOS(true)))
	if res.NGeneratedTokens != 2 {
		t.Fatalf("after cancel: %d tokens", res.NGeneratedTokens)
	}
}

type boom struct{ where string }

func (b *boom) Error() string { return "boom from the " + b.where }

// 7. Callbacks that panic or fail: the call stops and the caller gets what they raised.
func TestCallbackThatPanics(t *testing.T) {
	defer guard(t)
	r := refs(t)
	m := model(t)
	s := openSession(t, m)
	_, err := s.Generate(context.Background(), Tokens(r.prompt), WithMaxTokens(8), WithIgnoreEOS(true),
		WithOnText(func(string) error { panic(&boom{"text callback"}) }))
	var cb *CallbackError
	var b *boom
	if !errors.As(err, &cb) || !errors.As(err, &b) || b.where != "text callback" {
		t.Fatalf("panic in the text callback gave %v", err)
	}
	if _, ok := cb.Panic.(*boom); !ok {
		t.Fatalf("panic value %#v", cb.Panic)
	}
	// A returned error arrives as itself too.
	sentinel := errors.New("enough")
	_, err = s.Generate(context.Background(), Tokens{}, WithMaxTokens(8), WithIgnoreEOS(true),
		WithOnText(func(string) error { return sentinel }))
	if !errors.Is(err, sentinel) {
		t.Fatalf("error from the text callback gave %v", err)
	}
	// The session stays usable.
	n := must(s.NTokens())
	res := must(s.Generate(context.Background(), Tokens{}, WithMaxTokens(3), WithIgnoreEOS(true)))
	if res.NGeneratedTokens != 3 || must(s.NTokens()) != n+3 {
		t.Fatalf("after the panic: %d tokens generated", res.NGeneratedTokens)
	}

	p := openSession(t, m, WithBatchSize(4), WithPrefillProgress(func(done, total int64) error {
		panic("from the prefill")
	}))
	err = p.Append(Tokens(r.prompt))
	if !errors.As(err, &cb) || cb.Panic != "from the prefill" {
		t.Fatalf("panic in the prefill callback gave %v", err)
	}
	if must(p.NTokens()) != 0 {
		t.Fatal("the failed prefill left tokens")
	}
	// The same callback failing inside a stream's prefill (on the stream's native
	// thread) reaches the caller through wait.
	pieces, wait := p.Stream(context.Background(), Tokens(r.prompt), WithMaxTokens(4))
	for range pieces {
	}
	if _, err := wait(); !errors.As(err, &cb) || cb.Panic != "from the prefill" {
		t.Fatalf("panic in the prefill callback of a stream gave %v", err)
	}

	_, err = Load(r.modelDir, WithLoadProgress(func(float64) error { panic(&boom{"load"}) }))
	if !errors.As(err, &b) || b.where != "load" {
		t.Fatalf("panic in the load callback gave %v", err)
	}
}

// 8. Errors: bad path, bad model file, use after close, misuse, bad arguments.
func TestErrors(t *testing.T) {
	defer guard(t)
	r := refs(t)
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "no-such-model"))
	if !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), "no-such-model") {
		t.Fatalf("bad path gave %v", err)
	}
	bad := filepath.Join(dir, "bad-model")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte("{ this is not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("bad config gave %v", err)
	}

	m := model(t)
	s := must(m.NewSession())
	s.Close()
	s.Close() // idempotent
	if err := s.Append(Tokens{1}); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrMisuse) {
		t.Fatalf("append after close gave %v", err)
	}
	if _, err := s.Logits(); !errors.Is(err, ErrClosed) {
		t.Fatalf("logits after close gave %v", err)
	}
	if _, wait := s.Stream(context.Background(), Tokens{1}); true {
		if _, err := wait(); !errors.Is(err, ErrClosed) {
			t.Fatalf("stream after close gave %v", err)
		}
	}
	m2 := must(Load(r.modelDir, WithThreads(1)))
	tok := must(m2.Tokenizer())
	m2.Close()
	if _, err := m2.NewSession(); !errors.Is(err, ErrClosed) {
		t.Fatalf("session of a closed model gave %v", err)
	}
	if _, err := tok.Encode("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("tokenizer of a closed model gave %v", err)
	}

	s = openSession(t, m)
	if _, err := s.Logits(); !errors.Is(err, ErrMisuse) || errors.Is(err, ErrClosed) {
		t.Fatalf("logits before any token gave %v", err)
	}
	info := must(m.Info())
	if err := s.Append(Tokens{int32(info.NVocab + 5)}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("token out of range gave %v", err)
	}
	var e *Error
	if _, err := Load(r.modelDir, WithKVCacheDType("int3")); !errors.Is(err, ErrInvalidArgument) ||
		!errors.As(err, &e) || e.Status != StatusInvalidArgument || !strings.Contains(e.Message, "int3") {
		t.Fatalf("bad option gave %v", err)
	}
	if _, err := m.NewSession(WithOverflow("sideways")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad overflow gave %v", err)
	}
}

// A session serves one call at a time: a call during a running stream is refused.
func TestASessionServesOneCallAtATime(t *testing.T) {
	defer guard(t)
	r := refs(t)
	s := openSession(t, model(t))
	pieces, wait := s.Stream(context.Background(), Tokens(r.prompt), WithMaxTokens(0), WithIgnoreEOS(true))
	<-pieces
	if err := s.Append(Tokens{5}); !errors.Is(err, ErrMisuse) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("append during a stream gave %v", err)
	}
	s.Cancel()
	res, err := wait()
	if err != nil || res.FinishReason != "cancelled" {
		t.Fatalf("the cancelled stream ended with %v, %q", err, res.FinishReason)
	}
	check(s.Append(Tokens{5})) // free again once the stream has ended
}

// Handles never closed are released by their finalizers, in whatever order the
// collector runs them.
func TestUnclosedHandlesAreFinalizedSafely(t *testing.T) {
	defer guard(t)
	r := refs(t)
	for i := 0; i < 20; i++ {
		m := must(Load(r.modelDir, WithThreads(1)))
		s := must(m.NewSession(WithPrefillProgress(func(int64, int64) error { return nil })))
		check(s.Append(Tokens(r.prompt)))
		must(s.Fork())
		must(m.Tokenizer())
		must(NewBatch(m, 2))
	}
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	check(model(t).ClearPrefixCache()) // the shared model still works
}

// 9. Fork, save and load.
func TestForkSaveLoad(t *testing.T) {
	defer guard(t)
	r := refs(t)
	m := model(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "session.mola")
	metadata := []byte("app state \x00\xff")

	s := openSession(t, m)
	check(s.Append(Tokens(r.prompt)))
	check(s.SetMetadata(metadata))
	child := must(s.Fork())
	if !reflect.DeepEqual(must(child.Tokens()), must(s.Tokens())) ||
		!reflect.DeepEqual(must(child.Logits()), must(s.Logits())) {
		t.Fatal("the fork differs from its parent")
	}
	check(child.Append(Tokens{r.prompt[1]}))
	if must(child.NTokens()) != must(s.NTokens())+1 {
		t.Fatal("the fork's append reached the parent")
	}
	child.Close()

	check(s.Save(path))
	loaded := must(LoadSession(m, path))
	defer loaded.Close()
	if !reflect.DeepEqual(must(loaded.Tokens()), r.prompt) ||
		string(must(loaded.Metadata())) != string(metadata) ||
		!reflect.DeepEqual(must(loaded.Logits()), must(s.Logits())) {
		t.Fatal("the loaded session differs from the saved one")
	}
	a := must(s.Generate(context.Background(), Tokens{}, WithSeed(7), WithMaxTokens(5), WithIgnoreEOS(true)))
	b := must(loaded.Generate(context.Background(), Tokens{}, WithSeed(7), WithMaxTokens(5), WithIgnoreEOS(true)))
	if !reflect.DeepEqual(a.Tokens, b.Tokens) {
		t.Fatalf("continuations differ: %v vs %v", a.Tokens, b.Tokens)
	}
	check(s.Rewind(3))
	if !reflect.DeepEqual(must(s.Tokens()), r.prompt[:3]) {
		t.Fatal("rewind")
	}

	data := must(os.ReadFile(path))
	broken := filepath.Join(dir, "broken.mola")
	if err := os.WriteFile(broken, data[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSession(m, broken); !errors.Is(err, ErrBadFormat) || !strings.Contains(err.Error(), "broken.mola") {
		t.Fatalf("truncated session gave %v", err)
	}
}

func relL2(x, y []float32) float64 {
	var num, den float64
	for i := range y {
		d := float64(x[i]) - float64(y[i])
		num += d * d
		den += float64(y[i]) * float64(y[i])
	}
	return math.Sqrt(num / den)
}

// 10. A batch step equals decoding each session alone.
func TestBatchEqualsSessionsAlone(t *testing.T) {
	defer guard(t)
	r := refs(t)
	m := model(t)
	a, b, solo := openSession(t, m), openSession(t, m), openSession(t, m)
	check(a.Append(Tokens(r.prompt)))
	check(b.Append(Tokens(r.prompt[:5])))
	batch := must(NewBatch(m, 2))
	check(batch.Decode([]*Session{a, b}, []int32{11, 12}))
	batch.Close()
	if err := batch.Decode([]*Session{a}, []int32{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("decode on a closed batch gave %v", err)
	}
	check(solo.Append(Tokens(r.prompt)))
	check(solo.Append(Tokens{11}))
	logits := must(a.Logits())
	if len(logits) != must(m.Info()).NVocab {
		t.Fatalf("%d logits", len(logits))
	}
	if d := relL2(logits, must(solo.Logits())); d >= 1e-5 {
		t.Fatalf("batched logits differ by %g", d)
	}
	if must(b.NTokens()) != 6 {
		t.Fatal("the second session did not get its token")
	}
}

func rssKiB(t *testing.T) int {
	data := must(os.ReadFile("/proc/self/status"))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			return must(strconv.Atoi(fields[1]))
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// 11. Create/destroy cycles do not grow native memory.
func TestCreateDestroyCyclesDoNotGrowMemory(t *testing.T) {
	defer guard(t)
	r := refs(t)
	m := model(t)
	cycle := func() {
		s := must(m.NewSession())
		check(s.Append(Tokens(r.prompt[:4])))
		f := must(s.Fork())
		check(f.Append(Tokens{r.prompt[4]}))
		f.Close()
		pieces, wait := s.Stream(context.Background(), Tokens{}, WithMaxTokens(1), WithIgnoreEOS(true))
		for range pieces {
		}
		must(wait())
		s.Close()
		m.mu.RLock()
		tok, err := m.newTokenizerLocked()
		m.mu.RUnlock()
		must(tok, err).Close()
	}
	// RSS counts what Go's heap and the C allocator keep cached too: hand both
	// back first, so that only live memory is compared.
	settle := func() {
		runtime.GC()
		debug.FreeOSMemory()
		trimNativeHeap()
	}
	for i := 0; i < 100; i++ { // warm-up: pools and caches reach their steady size
		cycle()
	}
	settle()
	before := rssKiB(t)
	for i := 0; i < 1000; i++ {
		cycle()
	}
	settle()
	grown := rssKiB(t) - before
	if grown >= 8*1024 {
		t.Fatalf("RSS grew by %d KiB over 1000 cycles", grown)
	}
	t.Logf("RSS grew by %d KiB over 1000 cycles", grown)
}
