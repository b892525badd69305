// session.go: Session (token history + KV cache: append, logits, fork,
// save/load, generation through a callback or a channel) and Batch.
package mola

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"mola.dev/mola/internal/native"
)

// ErrStop, returned by a text or progress callback, stops the call without an
// error: a generation then ends with FinishReason "cancelled".
var ErrStop = errors.New("mola: stop")

// Prompt is what a session appends: Text (encoded with the model's tokenizer,
// BOS first when the session is empty) or Tokens.
type Prompt interface {
	tokens(s *Session) ([]int32, error)
}

// Text is a prompt given as text.
type Text string

// Tokens is a prompt given as token ids.
type Tokens []int32

func (t Tokens) tokens(*Session) ([]int32, error) { return t, nil }

func (t Text) tokens(s *Session) ([]int32, error) {
	tok, err := s.model.Tokenizer()
	if err != nil {
		return nil, err
	}
	var n int64
	if err := nativeCall(func() { n = s.h.N_tokens() }); err != nil {
		return nil, err
	}
	return tok.EncodeWith(string(t), n == 0, true)
}

// -------------------------------------------------------------- session options

type sessionConfig struct {
	nCtx, nBatch    int
	overflow        string
	nKeep, nDiscard int
	progress        func(done, total int64) error
}

// SessionOption configures NewSession and LoadSession.
type SessionOption func(*sessionConfig)

// WithContextSize sets n_ctx (0, the default: min(4096, the model's limit); for
// LoadSession: the saved session's).
func WithContextSize(n int) SessionOption { return func(c *sessionConfig) { c.nCtx = n } }

// WithBatchSize sets the prefill chunk in tokens (0, the default: 256).
func WithBatchSize(n int) SessionOption { return func(c *sessionConfig) { c.nBatch = n } }

// WithSlidingContext makes a full context slide (keeping the first keep tokens
// and dropping discard after them) instead of failing with ErrContextFull.
func WithSlidingContext(keep, discard int) SessionOption {
	return func(c *sessionConfig) { c.overflow, c.nKeep, c.nDiscard = "slide", keep, discard }
}

// WithOverflow sets the overflow policy by name: "error" (the default) or "slide".
func WithOverflow(policy string) SessionOption { return func(c *sessionConfig) { c.overflow = policy } }

// WithPrefillProgress calls fn after each chunk of a prefill of two or more
// tokens. An error returned (or a panic) cancels the prefill; the call that
// prefilled returns it in a *CallbackError. Forks share it.
func WithPrefillProgress(fn func(done, total int64) error) SessionOption {
	return func(c *sessionConfig) { c.progress = fn }
}

// prefillProgress is the director shared by a session and its forks; the last
// of them to close deletes it.
type prefillProgress struct {
	fn       func(done, total int64) error
	director native.PrefillProgress
	refs     int32
	mu       sync.Mutex
	failure  *CallbackError
}

func (p *prefillProgress) On_prefill(done, total int64) bool {
	f := runGuarded("prefill progress", func() error { return p.fn(done, total) })
	if f == nil {
		return true
	}
	if f.Panic == nil && errors.Is(f.Err, ErrStop) {
		return false
	}
	p.mu.Lock()
	p.failure = f
	p.mu.Unlock()
	return false
}

func (p *prefillProgress) take() *CallbackError {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.failure
	p.failure = nil
	return f
}

func (p *prefillProgress) retain() *prefillProgress {
	if p != nil {
		atomic.AddInt32(&p.refs, 1)
	}
	return p
}

func (p *prefillProgress) release() {
	if p != nil && atomic.AddInt32(&p.refs, -1) == 0 {
		native.DeleteDirectorPrefillProgress(p.director)
	}
}

func (c *sessionConfig) native() (native.SessionOptions, error) {
	var o native.SessionOptions
	err := nativeCall(func() {
		o = native.NewSessionOptions()
		o.SetN_ctx(c.nCtx)
		o.SetN_batch(c.nBatch)
		o.SetOverflow(c.overflow)
		o.SetN_keep(c.nKeep)
		o.SetN_discard(c.nDiscard)
	})
	return o, err
}

// -------------------------------------------------------------------- session

// Session is a token history with its KV cache. One call at a time, except
// Cancel (and Close, which cancels what runs and waits for it).
type Session struct {
	mu       sync.RWMutex
	h        native.Session // nil once closed
	model    *Model
	progress *prefillProgress
	// streaming is the running Stream's native stream (Close cancels it).
	streaming atomic.Value
}

// NewSession starts an empty session on the model.
func (m *Model) NewSession(options ...SessionOption) (*Session, error) {
	return m.openSession(func(h native.Model, o native.SessionOptions, p native.PrefillProgress) native.Session {
		if p != nil {
			return native.NewSession(h, o, p)
		}
		return native.NewSession(h, o)
	}, options)
}

// LoadSession restores a session saved by Session.Save.
func LoadSession(m *Model, path string, options ...SessionOption) (*Session, error) {
	return m.openSession(func(h native.Model, o native.SessionOptions, p native.PrefillProgress) native.Session {
		if p != nil {
			return native.SessionLoad(h, path, o, p)
		}
		return native.SessionLoad(h, path, o)
	}, options)
}

func (m *Model) openSession(open func(native.Model, native.SessionOptions, native.PrefillProgress) native.Session,
	options []SessionOption) (*Session, error) {
	c := sessionConfig{overflow: "error"}
	for _, o := range options {
		o(&c)
	}
	opts, err := c.native()
	if err != nil {
		return nil, err
	}
	defer native.DeleteSessionOptions(opts)
	var progress *prefillProgress
	var director native.PrefillProgress
	if c.progress != nil {
		progress = &prefillProgress{fn: c.progress, refs: 1}
		progress.director = native.NewDirectorPrefillProgress(progress)
		director = progress.director
	}
	var h native.Session
	if err := m.use(func(mh native.Model) { h = open(mh, opts, director) }); err != nil {
		progress.release()
		return nil, err
	}
	return newSession(m, h, progress), nil
}

func newSession(m *Model, h native.Session, progress *prefillProgress) *Session {
	s := &Session{h: h, model: m, progress: progress}
	runtime.SetFinalizer(s, (*Session).Close)
	return s
}

func (s *Session) use(fn func(h native.Session)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return closedError("Session")
	}
	return nativeCall(func() { fn(s.h) })
}

// Close releases the session (idempotent): a running generation or stream is
// cancelled and waited for first.
func (s *Session) Close() error {
	s.Cancel()
	s.mu.Lock()
	h := s.h
	s.h = nil
	s.mu.Unlock()
	if h != nil {
		native.DeleteSession(h)
		s.progress.release()
	}
	runtime.SetFinalizer(s, nil)
	return nil
}

// Cancel stops a running generation or prefill of this session; with none
// running, the next one stops at once. A running Stream stops at its next piece
// (a prefill in progress finishes first), and leaves nothing pending for the
// next call. Safe from any goroutine.
func (s *Session) Cancel() {
	if st, ok := s.streaming.Load().(*streamHandle); ok && st != nil {
		st.cancel()
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h != nil {
		s.h.Cancel()
	}
}

// Append appends a prompt and computes the logits of its last token.
func (s *Session) Append(prompt Prompt) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return closedError("Session")
	}
	tokens, err := prompt.tokens(s)
	if err != nil {
		return err
	}
	err = nativeCall(func() {
		v := toIntVector(tokens)
		defer native.DeleteIntVector(v)
		s.h.Append(v)
	})
	if f := s.progress.take(); f != nil {
		return f // the prefill callback's failure, not the cancellation it caused
	}
	return err
}

// Logits are the logits after the last token (n_vocab values); ErrMisuse before
// any token.
func (s *Session) Logits() ([]float32, error) {
	var out []float32
	err := s.use(func(h native.Session) {
		v := h.Logits()
		defer native.DeleteFloatVector(v)
		out = make([]float32, v.Size())
		for i := range out {
			out[i] = v.Get(i)
		}
	})
	return out, err
}

// Rewind keeps the first n tokens.
func (s *Session) Rewind(n int) error {
	return s.use(func(h native.Session) { h.Rewind(int64(n)) })
}

// Fork is a copy-on-write copy sharing this session's cache blocks.
func (s *Session) Fork() (*Session, error) {
	var f native.Session
	if err := s.use(func(h native.Session) { f = h.Fork() }); err != nil {
		if f != nil && f.Swigcptr() != 0 {
			native.DeleteSession(f)
		}
		return nil, err
	}
	return newSession(s.model, f, s.progress.retain()), nil
}

// Save writes the session atomically (a crash mid-save keeps the previous file).
func (s *Session) Save(path string) error {
	return s.use(func(h native.Session) { h.Save(path) })
}

// NTokens is the length of the token history.
func (s *Session) NTokens() (int, error) {
	var n int64
	err := s.use(func(h native.Session) { n = h.N_tokens() })
	return int(n), err
}

// NCtx is the session's context size in tokens.
func (s *Session) NCtx() (int, error) {
	var n int64
	err := s.use(func(h native.Session) { n = h.N_ctx() })
	return int(n), err
}

// Tokens is the token history.
func (s *Session) Tokens() ([]int32, error) {
	var out []int32
	err := s.use(func(h native.Session) {
		v := h.Tokens()
		defer native.DeleteIntVector(v)
		out = fromIntVector(v)
	})
	return out, err
}

// SetMetadata stores application bytes that Save, LoadSession and Fork carry.
func (s *Session) SetMetadata(data []byte) error {
	return s.use(func(h native.Session) {
		v := native.NewByteVector()
		defer native.DeleteByteVector(v)
		v.Reserve(int64(len(data)))
		for _, b := range data {
			v.Add(b)
		}
		h.Set_metadata(v)
	})
}

// Metadata is the bytes set by SetMetadata.
func (s *Session) Metadata() ([]byte, error) {
	var out []byte
	err := s.use(func(h native.Session) {
		v := h.Metadata()
		defer native.DeleteByteVector(v)
		out = make([]byte, v.Size())
		for i := range out {
			out[i] = v.Get(i)
		}
	})
	return out, err
}

// ----------------------------------------------------------------- generation

type generateConfig struct {
	maxTokens                                   int
	stop                                        []string
	ignoreEOS                                   bool
	temperature, topP, minP                     float64
	topK, penaltyWindow                         int
	repeatPenalty, presencePenalty, freqPenalty float64
	seed                                        int64
	onText                                      func(piece string) error
}

// GenerateOption configures Generate and Stream.
type GenerateOption func(*generateConfig)

// WithMaxTokens caps the generated tokens (default 256; 0: until EOS, a stop
// string or the end of the context).
func WithMaxTokens(n int) GenerateOption { return func(c *generateConfig) { c.maxTokens = n } }

// WithStop ends generation when the text reaches one of these strings.
func WithStop(stop ...string) GenerateOption {
	return func(c *generateConfig) { c.stop = append(c.stop, stop...) }
}

// WithIgnoreEOS keeps generating past end-of-sequence tokens.
func WithIgnoreEOS(ignore bool) GenerateOption {
	return func(c *generateConfig) { c.ignoreEOS = ignore }
}

// WithTemperature sets the sampling temperature (default 0.8; <= 0: greedy).
func WithTemperature(t float64) GenerateOption { return func(c *generateConfig) { c.temperature = t } }

// WithTopK keeps the k most likely tokens (default 40).
func WithTopK(k int) GenerateOption { return func(c *generateConfig) { c.topK = k } }

// WithTopP keeps the most likely tokens up to probability p (default 0.95).
func WithTopP(p float64) GenerateOption { return func(c *generateConfig) { c.topP = p } }

// WithMinP drops tokens below p times the most likely one's probability (default 0.05).
func WithMinP(p float64) GenerateOption { return func(c *generateConfig) { c.minP = p } }

// WithPenalties sets the repeat (default 1), presence and frequency (default 0)
// penalties over the last window tokens (default 64).
func WithPenalties(repeat, presence, frequency float64, window int) GenerateOption {
	return func(c *generateConfig) {
		c.repeatPenalty, c.presencePenalty, c.freqPenalty, c.penaltyWindow = repeat, presence, frequency, window
	}
}

// WithSeed seeds the sampler (default 0); the same seed gives the same tokens.
func WithSeed(seed int64) GenerateOption { return func(c *generateConfig) { c.seed = seed } }

// WithOnText makes Generate call fn with each piece of text as it is produced
// (never a split character). Returning ErrStop stops generation; returning any
// other error (or panicking) stops it and Generate returns that in a
// *CallbackError. Stream does not take it: its channel carries the pieces.
func WithOnText(fn func(piece string) error) GenerateOption {
	return func(c *generateConfig) { c.onText = fn }
}

func generateDefaults(options []GenerateOption) generateConfig {
	c := generateConfig{maxTokens: 256, temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1,
		penaltyWindow: 64}
	for _, o := range options {
		o(&c)
	}
	return c
}

func (c *generateConfig) native() (native.SamplerOptions, native.GenerateOptions) {
	s := native.NewSamplerOptions()
	s.SetTemperature(c.temperature)
	s.SetTop_k(c.topK)
	s.SetTop_p(c.topP)
	s.SetMin_p(c.minP)
	s.SetRepeat_penalty(c.repeatPenalty)
	s.SetPresence_penalty(c.presencePenalty)
	s.SetFrequency_penalty(c.freqPenalty)
	s.SetPenalty_window(c.penaltyWindow)
	s.SetSeed(c.seed)
	g := native.NewGenerateOptions()
	g.SetMax_tokens(c.maxTokens)
	g.SetIgnore_eos(c.ignoreEOS)
	stop := native.NewStringVector()
	for _, x := range c.stop {
		stop.Add(x)
	}
	g.SetStop(stop)
	native.DeleteStringVector(stop)
	return s, g
}

// Result is a finished generation.
type Result struct {
	Text         string
	Tokens       []int32
	FinishReason string // "eos", "stop", "length" or "cancelled"

	NPromptTokens, NGeneratedTokens                                   int
	TimeToFirstTokenMs, PrefillTokensPerSecond, DecodeTokensPerSecond float64
}

func resultOf(r native.GenerateResult) Result {
	tokens := r.GetTokens()
	return Result{
		Text: r.GetText(), Tokens: fromIntVector(tokens), FinishReason: r.GetFinish_reason(),
		NPromptTokens: r.GetN_prompt_tokens(), NGeneratedTokens: r.GetN_generated_tokens(),
		TimeToFirstTokenMs: r.GetTime_to_first_token_ms(), PrefillTokensPerSecond: r.GetPrefill_tokens_per_second(),
		DecodeTokensPerSecond: r.GetDecode_tokens_per_second(),
	}
}

// textSink is the director Generate passes for WithOnText and for ctx.
type textSink struct {
	ctx      context.Context
	fn       func(string) error
	failure  *CallbackError
	sawPiece func()
}

func (t *textSink) On_text(text string) bool {
	t.sawPiece()
	if t.ctx.Err() != nil {
		return false
	}
	if t.fn == nil {
		return true
	}
	f := runGuarded("text", func() error { return t.fn(text) })
	if f == nil {
		return true
	}
	if f.Panic == nil && errors.Is(f.Err, ErrStop) {
		return false
	}
	t.failure = f
	return false
}

// Generate appends prompt (Tokens{} for none) and samples until EOS, a stop
// string, max tokens, Cancel or ctx ends. When ctx ends the partial Result
// (FinishReason "cancelled") comes back with ctx.Err().
func (s *Session) Generate(ctx context.Context, prompt Prompt, options ...GenerateOption) (Result, error) {
	c := generateDefaults(options)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return Result{}, closedError("Session")
	}
	h := s.h

	var tokens []int32
	var err error
	if tokens, err = prompt.tokens(s); err != nil {
		return Result{}, err
	}

	// Until the first piece (the prefill) ctx can only stop the session itself;
	// afterwards the sink stops it, so no stale cancel can reach the next call.
	var mu sync.Mutex
	running, sawPiece := true, false
	var sink *textSink
	var director native.TextSink
	if c.onText != nil || ctx.Done() != nil {
		sink = &textSink{ctx: ctx, fn: c.onText, sawPiece: func() {
			mu.Lock()
			sawPiece = true
			mu.Unlock()
		}}
		director = native.NewDirectorTextSink(sink)
		defer native.DeleteDirectorTextSink(director)
	}
	finished := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			mu.Lock()
			if running && !sawPiece {
				h.Cancel()
			}
			mu.Unlock()
		case <-finished:
		}
	}()

	var r native.GenerateResult
	err = nativeCall(func() {
		v := toIntVector(tokens)
		defer native.DeleteIntVector(v)
		sampler, gen := c.native()
		defer native.DeleteSamplerOptions(sampler)
		defer native.DeleteGenerateOptions(gen)
		if director != nil {
			r = h.Generate(v, sampler, gen, director)
		} else {
			r = h.Generate(v, sampler, gen)
		}
	})
	mu.Lock()
	running = false
	mu.Unlock()
	close(finished)
	<-watcherDone

	var result Result
	if r != nil && r.Swigcptr() != 0 {
		if err == nil {
			_ = nativeCall(func() { result = resultOf(r) })
		}
		native.DeleteGenerateResult(r)
	}
	if f := s.progress.take(); f != nil {
		return result, f
	}
	if sink != nil && sink.failure != nil {
		return result, sink.failure
	}
	if ctx.Err() != nil && (err != nil && isStatus(err, StatusCancelled) || result.FinishReason == "cancelled") {
		return result, ctx.Err()
	}
	return result, err
}

// streamHandle is a running native TextStream; cancel is safe from any goroutine
// until the stream is closed.
type streamHandle struct {
	mu        sync.Mutex
	h         native.TextStream
	closed    bool
	cancelled chan struct{} // closed by the first cancel: the pieces stop flowing
}

func (st *streamHandle) cancel() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.closed {
		st.h.Cancel()
	}
	select {
	case <-st.cancelled:
	default:
		close(st.cancelled)
	}
}

func (st *streamHandle) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.closed {
		st.closed = true
		st.h.Close()
		native.DeleteTextStream(st.h)
	}
}

// Stream is Generate delivering the text through a channel: receive pieces until
// it closes, then call wait for the Result. Cancelling ctx stops the generation
// at its next piece and wait returns the partial Result (FinishReason
// "cancelled") with ctx.Err(); Session.Cancel does the same without the error.
// wait may be called early: it discards the remaining pieces. The session is
// busy (other calls fail with ErrMisuse) until the channel closes.
//
//	pieces, wait := session.Stream(ctx, mola.Text("def f(x):"), mola.WithMaxTokens(64))
//	for piece := range pieces {
//		fmt.Print(piece)
//	}
//	result, err := wait()
func (s *Session) Stream(ctx context.Context, prompt Prompt, options ...GenerateOption) (<-chan string, func() (Result, error)) {
	pieces := make(chan string)
	done := make(chan struct{})
	var result Result
	var failure error
	var waitOnce sync.Once
	wait := func() (Result, error) {
		waitOnce.Do(func() {
			for range pieces {
			}
			<-done
		})
		return result, failure
	}
	fail := func(err error) (<-chan string, func() (Result, error)) {
		failure = err
		close(pieces)
		close(done)
		return pieces, wait
	}

	c := generateDefaults(options)
	if c.onText != nil {
		return fail(&Error{Status: StatusInvalidArgument, Message: "Stream delivers the text through its channel: WithOnText is for Generate"})
	}
	s.mu.RLock() // released when the stream ends
	if s.h == nil {
		s.mu.RUnlock()
		return fail(closedError("Session"))
	}
	tokens, err := prompt.tokens(s)
	if err != nil {
		s.mu.RUnlock()
		return fail(err)
	}
	st := &streamHandle{cancelled: make(chan struct{})}
	if err := nativeCall(func() {
		v := toIntVector(tokens)
		defer native.DeleteIntVector(v)
		sampler, gen := c.native()
		defer native.DeleteSamplerOptions(sampler)
		defer native.DeleteGenerateOptions(gen)
		st.h = s.h.Stream(v, sampler, gen)
	}); err != nil {
		if st.h != nil && st.h.Swigcptr() != 0 {
			native.DeleteTextStream(st.h)
		}
		s.mu.RUnlock()
		return fail(err)
	}
	s.streaming.Store(st)

	go func() {
		stop := make(chan struct{})
		watcherDone := make(chan struct{})
		go func() {
			defer close(watcherDone)
			select {
			case <-ctx.Done():
				st.cancel()
			case <-stop:
			}
		}()
		var err error
		for {
			var more bool
			var piece string
			err = nativeCall(func() {
				if more = st.h.Next(); more {
					piece = st.h.Text()
				}
			})
			if err != nil || !more {
				break
			}
			select {
			case <-st.cancelled:
				continue // run out the pieces already queued; nobody need read them
			default:
			}
			// A reader that went away is released by ctx, Cancel or Close.
			select {
			case pieces <- piece:
			case <-ctx.Done():
				st.cancel()
			case <-st.cancelled:
			}
		}
		if err == nil {
			err = nativeCall(func() {
				r := st.h.Result()
				defer native.DeleteGenerateResult(r)
				result = resultOf(r)
			})
		}
		close(stop)
		<-watcherDone
		s.streaming.Store((*streamHandle)(nil))
		st.close()
		s.mu.RUnlock()

		if f := s.progress.take(); f != nil {
			err = f
		} else if ctx.Err() != nil && (err != nil && isStatus(err, StatusCancelled) || result.FinishReason == "cancelled") {
			err = ctx.Err()
		}
		failure = err
		close(pieces)
		close(done)
	}()
	return pieces, wait
}

// ---------------------------------------------------------------------- batch

// Batch decodes one token for each of several sessions of one model in one
// forward pass (continuous batching).
type Batch struct {
	mu sync.RWMutex
	h  native.Batch // nil once closed
}

// NewBatch makes a batch for up to maxSessions sessions of m.
func NewBatch(m *Model, maxSessions int) (*Batch, error) {
	var h native.Batch
	if err := m.use(func(mh native.Model) { h = native.NewBatch(mh, maxSessions) }); err != nil {
		return nil, err
	}
	b := &Batch{h: h}
	runtime.SetFinalizer(b, (*Batch).Close)
	return b, nil
}

// Decode appends tokens[i] to sessions[i] and computes its logits, all or none.
func (b *Batch) Decode(sessions []*Session, tokens []int32) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.h == nil {
		return closedError("Batch")
	}
	for _, s := range sessions {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.h == nil {
			return closedError("Session")
		}
	}
	return nativeCall(func() {
		v := native.NewSessionVector()
		defer native.DeleteSessionVector(v)
		for _, s := range sessions {
			v.Add(s.h)
		}
		t := toIntVector(tokens)
		defer native.DeleteIntVector(t)
		b.h.Decode(v, t)
	})
}

// Close releases the batch (idempotent).
func (b *Batch) Close() error {
	b.mu.Lock()
	h := b.h
	b.h = nil
	b.mu.Unlock()
	if h != nil {
		native.DeleteBatch(h)
	}
	runtime.SetFinalizer(b, nil)
	return nil
}
