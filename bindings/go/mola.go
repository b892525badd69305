// mola.go: package mola's entry points: Load and Model, Tokenizer, model facts
// (ModelInfo, CacheUsage) and the load options.

// Package mola runs DeepSeek-class language models (MLA + MoE) from Go.
//
//	model, err := mola.Load("share/models/mola-tiny-code")
//	if err != nil { ... }
//	defer model.Close()
//	session, err := model.NewSession()
//	if err != nil { ... }
//	defer session.Close()
//	result, err := session.Generate(ctx, mola.Text("def fib(n):"), mola.WithMaxTokens(32),
//		mola.WithOnText(func(piece string) error { fmt.Print(piece); return nil }))
//
// Every handle (Model, Tokenizer, Session, Batch) has an idempotent Close; a call
// after it returns an error matching ErrClosed. Failures are *Error values (match
// them with errors.Is against ErrFile, ErrBadFormat, ErrCancelled, ...); no call
// panics. A callback that returns an error or panics stops the native call, and
// the caller gets a *CallbackError carrying what it raised.
package mola

import (
	"runtime"
	"sync"

	"mola.dev/mola/internal/native"
)

// Version is the loaded libmola's version string.
func Version() string {
	var v string
	if nativeCall(func() { v = native.Version() }) != nil {
		return ""
	}
	return v
}

// ---------------------------------------------------------------- load options

type loadConfig struct {
	threads       int
	backend       string
	mla           string
	kvCacheDType  string
	kvBlockTokens int
	kvCacheBudget int64
	prefixCache   bool
	progress      func(fraction float64) error
}

// LoadOption configures Load.
type LoadOption func(*loadConfig)

// WithThreads sets the number of compute threads (0, the default: all cores).
func WithThreads(n int) LoadOption { return func(c *loadConfig) { c.threads = n } }

// WithBackend picks "auto" (the default), "cpu" or "cuda".
func WithBackend(name string) LoadOption { return func(c *loadConfig) { c.backend = name } }

// WithMLA picks the attention form: "auto" (the default), "absorbed" or "naive".
func WithMLA(mode string) LoadOption { return func(c *loadConfig) { c.mla = mode } }

// WithKVCacheDType sets the cache's element type: "bf16" (the default), "f32" or "fp8_e4m3".
func WithKVCacheDType(dtype string) LoadOption { return func(c *loadConfig) { c.kvCacheDType = dtype } }

// WithKVBlockTokens sets the tokens per cache block (0, the default: 64).
func WithKVBlockTokens(n int) LoadOption { return func(c *loadConfig) { c.kvBlockTokens = n } }

// WithKVCacheBudget caps the cache's bytes (0, the default: a quarter of physical memory).
func WithKVCacheBudget(bytes int64) LoadOption {
	return func(c *loadConfig) { c.kvCacheBudget = bytes }
}

// WithPrefixCache turns reuse of cached prompt prefixes on (the default) or off.
func WithPrefixCache(on bool) LoadOption { return func(c *loadConfig) { c.prefixCache = on } }

// WithLoadProgress calls fn with the load's progress in [0, 1]; the last call
// sees 1. An error returned (or a panic) cancels the load, and Load returns it
// in a *CallbackError.
func WithLoadProgress(fn func(fraction float64) error) LoadOption {
	return func(c *loadConfig) { c.progress = fn }
}

type loadProgress struct {
	fn      func(float64) error
	failure *CallbackError
}

func (p *loadProgress) On_progress(fraction float64) bool {
	if f := runGuarded("load progress", func() error { return p.fn(fraction) }); f != nil {
		p.failure = f
		return false
	}
	return true
}

// ---------------------------------------------------------------------- model

// Model is a loaded checkpoint: immutable, and shared by its sessions and by
// goroutines.
type Model struct {
	mu        sync.RWMutex
	h         native.Model // nil once closed
	tokenizer *Tokenizer
}

// Load loads a checkpoint directory.
func Load(path string, options ...LoadOption) (*Model, error) {
	c := loadConfig{backend: "auto", mla: "auto", kvCacheDType: "bf16", prefixCache: true}
	for _, o := range options {
		o(&c)
	}
	var opts native.ModelOptions
	if err := nativeCall(func() {
		opts = native.NewModelOptions()
		opts.SetN_threads(c.threads)
		opts.SetBackend(c.backend)
		opts.SetMla(c.mla)
		opts.SetKv_cache_dtype(c.kvCacheDType)
		opts.SetKv_block_tokens(c.kvBlockTokens)
		opts.SetKv_cache_budget_bytes(c.kvCacheBudget)
		opts.SetPrefix_cache(c.prefixCache)
	}); err != nil {
		return nil, err
	}
	defer native.DeleteModelOptions(opts)

	var h native.Model
	var err error
	if c.progress != nil {
		guard := &loadProgress{fn: c.progress}
		director := native.NewDirectorLoadProgress(guard)
		err = nativeCall(func() { h = native.NewModel(path, opts, director) })
		native.DeleteDirectorLoadProgress(director)
		if guard.failure != nil {
			if err == nil { // the callback failed after the load's last check
				native.DeleteModel(h)
			}
			return nil, guard.failure
		}
	} else {
		err = nativeCall(func() { h = native.NewModel(path, opts) })
	}
	if err != nil {
		return nil, err
	}
	m := &Model{h: h}
	runtime.SetFinalizer(m, (*Model).Close)
	return m, nil
}

// use runs fn on the open native model under a read lock.
func (m *Model) use(fn func(h native.Model)) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.h == nil {
		return closedError("Model")
	}
	return nativeCall(func() { fn(m.h) })
}

// Close releases the model (idempotent). Its sessions keep it alive until they
// are closed too; its Tokenizer is closed with it.
func (m *Model) Close() error {
	m.mu.Lock()
	h, t := m.h, m.tokenizer
	m.h, m.tokenizer = nil, nil
	m.mu.Unlock()
	if t != nil {
		t.Close()
	}
	if h != nil {
		native.DeleteModel(h)
	}
	runtime.SetFinalizer(m, nil)
	return nil
}

// ModelInfo describes a loaded checkpoint.
type ModelInfo struct {
	Architecture, Variant, WeightDTypes, Backend, KVCacheDType, Fingerprint string

	NVocab, NEmbd, NLayer, NHead, NCtxTrain                                int
	NRoutedExperts, NExpertsPerToken, NSharedExperts, KVLoraRank, BOSToken int
	EOSToken                                                               int
	NParams, NParamsActive, WeightBytes, KVBytesPerToken                   int64
}

// Info describes the checkpoint.
func (m *Model) Info() (ModelInfo, error) {
	var out ModelInfo
	err := m.use(func(h native.Model) {
		i := h.Info()
		defer native.DeleteModelInfo(i)
		out = ModelInfo{
			Architecture: i.GetArchitecture(), Variant: i.GetVariant(), WeightDTypes: i.GetWeight_dtypes(),
			Backend: i.GetBackend(), KVCacheDType: i.GetKv_cache_dtype(), Fingerprint: i.GetFingerprint(),
			NVocab: i.GetN_vocab(), NEmbd: i.GetN_embd(), NLayer: i.GetN_layer(), NHead: i.GetN_head(),
			NCtxTrain: i.GetN_ctx_train(), NRoutedExperts: i.GetN_routed_experts(),
			NExpertsPerToken: i.GetN_experts_per_token(), NSharedExperts: i.GetN_shared_experts(),
			KVLoraRank: i.GetKv_lora_rank(), BOSToken: i.GetBos_token_id(), EOSToken: i.GetEos_token_id(),
			NParams: i.GetN_params(), NParamsActive: i.GetN_params_active(), WeightBytes: i.GetWeight_bytes(),
			KVBytesPerToken: i.GetKv_bytes_per_token(),
		}
	})
	return out, err
}

// CacheUsage is the state of the model's KV cache pool.
type CacheUsage struct {
	BlockTokens                                                 int
	BlocksTotal, BlocksUsed, BlocksFree, BytesBudget, BytesUsed int64
	BlocksCached, PrefixHits, PrefixTokensReused, BlocksEvicted int64
}

// CacheUsage reports the model's KV cache pool.
func (m *Model) CacheUsage() (CacheUsage, error) {
	var out CacheUsage
	err := m.use(func(h native.Model) {
		u := h.Cache_usage()
		defer native.DeleteCacheUsage(u)
		out = CacheUsage{
			BlockTokens: u.GetBlock_tokens(), BlocksTotal: u.GetBlocks_total(), BlocksUsed: u.GetBlocks_used(),
			BlocksFree: u.GetBlocks_free(), BytesBudget: u.GetBytes_budget(), BytesUsed: u.GetBytes_used(),
			BlocksCached: u.GetBlocks_cached(), PrefixHits: u.GetPrefix_hits(),
			PrefixTokensReused: u.GetPrefix_tokens_reused(), BlocksEvicted: u.GetBlocks_evicted(),
		}
	})
	return out, err
}

// ClearPrefixCache drops the cached prompt prefixes no session uses.
func (m *Model) ClearPrefixCache() error {
	return m.use(func(h native.Model) { h.Clear_prefix_cache() })
}

// Tokenizer is the checkpoint's tokenizer, closed with the model.
func (m *Model) Tokenizer() (*Tokenizer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil, closedError("Model")
	}
	if m.tokenizer != nil && !m.tokenizer.closed() {
		return m.tokenizer, nil
	}
	t, err := m.newTokenizerLocked()
	if err != nil {
		return nil, err
	}
	m.tokenizer = t
	return t, nil
}

func (m *Model) newTokenizerLocked() (*Tokenizer, error) {
	var h native.Tokenizer
	if err := nativeCall(func() { h = m.h.Tokenizer() }); err != nil {
		return nil, err
	}
	return adoptTokenizer(h), nil
}

// ------------------------------------------------------------------ tokenizer

// Tokenizer turns text into token ids and back, and formats chat and
// fill-in-the-middle prompts. Safe for concurrent use.
type Tokenizer struct {
	mu sync.RWMutex
	h  native.Tokenizer // nil once closed
}

// ChatMessage is one turn of a conversation.
type ChatMessage struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// FIMMode orders a fill-in-the-middle prompt.
type FIMMode int

const (
	FIMPrefixSuffixMiddle FIMMode = iota // PSM: prefix, suffix, then the middle
	FIMSuffixPrefixMiddle                // SPM: suffix, prefix, then the middle
)

// OpenTokenizer loads a tokenizer file or a checkpoint directory's tokenizer.
func OpenTokenizer(path string) (*Tokenizer, error) {
	var h native.Tokenizer
	if err := nativeCall(func() { h = native.NewTokenizer(path) }); err != nil {
		return nil, err
	}
	return adoptTokenizer(h), nil
}

func adoptTokenizer(h native.Tokenizer) *Tokenizer {
	t := &Tokenizer{h: h}
	runtime.SetFinalizer(t, (*Tokenizer).Close)
	return t
}

func (t *Tokenizer) closed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.h == nil
}

func (t *Tokenizer) use(fn func(h native.Tokenizer)) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.h == nil {
		return closedError("Tokenizer")
	}
	return nativeCall(func() { fn(t.h) })
}

// Close releases the tokenizer (idempotent).
func (t *Tokenizer) Close() error {
	t.mu.Lock()
	h := t.h
	t.h = nil
	t.mu.Unlock()
	if h != nil {
		native.DeleteTokenizer(h)
	}
	runtime.SetFinalizer(t, nil)
	return nil
}

// Encode tokenizes text with the special tokens (BOS) added and special-token
// text parsed.
func (t *Tokenizer) Encode(text string) ([]int32, error) {
	return t.EncodeWith(text, true, true)
}

// EncodeWith tokenizes text; addSpecial adds BOS, parseSpecial turns special-token
// text such as "<｜begin▁of▁sentence｜>" into its id.
func (t *Tokenizer) EncodeWith(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	var out []int32
	err := t.use(func(h native.Tokenizer) {
		v := h.Encode(text, addSpecial, parseSpecial)
		defer native.DeleteIntVector(v)
		out = fromIntVector(v)
	})
	return out, err
}

// Decode turns token ids back into text; skipSpecial leaves special tokens out.
func (t *Tokenizer) Decode(tokens []int32, skipSpecial bool) (string, error) {
	var out string
	err := t.use(func(h native.Tokenizer) {
		v := toIntVector(tokens)
		defer native.DeleteIntVector(v)
		out = h.Decode(v, skipSpecial)
	})
	return out, err
}

// ApplyChat formats a conversation in the tokenizer's chat format; with
// addGenerationPrompt the text ends where the assistant's answer begins.
func (t *Tokenizer) ApplyChat(messages []ChatMessage, addGenerationPrompt bool) (string, error) {
	var out string
	err := t.use(func(h native.Tokenizer) {
		turns := native.NewChatTurnVector()
		defer native.DeleteChatTurnVector(turns)
		for _, m := range messages {
			turn := native.NewChatTurn()
			turn.SetRole(m.Role)
			turn.SetContent(m.Content)
			turns.Add(turn)
			native.DeleteChatTurn(turn)
		}
		out = h.Apply_chat(turns, addGenerationPrompt)
	})
	return out, err
}

// ChatFormat names the tokenizer's chat format.
func (t *Tokenizer) ChatFormat() (string, error) {
	var out string
	err := t.use(func(h native.Tokenizer) { out = h.Chat_format() })
	return out, err
}

// BuildFIM is the fill-in-the-middle prompt for the text between prefix and
// suffix; ErrUnsupported where the vocabulary has no FIM tokens.
func (t *Tokenizer) BuildFIM(prefix, suffix string, mode FIMMode) (string, error) {
	var out string
	err := t.use(func(h native.Tokenizer) { out = h.Build_fim(prefix, suffix, mode == FIMSuffixPrefixMiddle) })
	return out, err
}

// TokenToPiece is the raw text (bytes) of one token.
func (t *Tokenizer) TokenToPiece(token int32) (string, error) {
	var out string
	err := t.use(func(h native.Tokenizer) { out = h.Token_to_piece(int(token)) })
	return out, err
}

// TokenID is the id of the token spelled exactly text, or -1.
func (t *Tokenizer) TokenID(text string) (int32, error) {
	var out int
	err := t.use(func(h native.Tokenizer) { out = h.Token_id(text) })
	return int32(out), err
}

// ------------------------------------------------------------------ vectors

func toIntVector(tokens []int32) native.IntVector {
	v := native.NewIntVector()
	v.Reserve(int64(len(tokens)))
	for _, t := range tokens {
		v.Add(int(t))
	}
	return v
}

func fromIntVector(v native.IntVector) []int32 {
	out := make([]int32, v.Size())
	for i := range out {
		out[i] = int32(v.Get(i))
	}
	return out
}
