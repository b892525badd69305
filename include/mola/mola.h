/* mola.h: the C ABI of mola, an inference SDK for DeepSeek-class models.
 *
 * This header is the only binary interface of libmola. Conventions:
 *  - Every symbol is prefixed mola_ / MOLA_; handles are opaque.
 *  - Every fallible function returns a mola_status. On failure, mola_last_error()
 *    gives a message naming the file, tensor or argument and the problem.
 *  - Every params struct starts with `struct_size`; get defaults from the matching
 *    *_default() function, then change fields. The library reads only the bytes
 *    the caller's struct_size covers, so structs can grow without breaking callers.
 *  - Strings are NUL-terminated UTF-8. The library copies every input; returned
 *    `const char*` are owned by the library and live as stated per function.
 *
 * Threading: calls on different handles may run concurrently. A mola_model is
 * immutable after loading and may be shared by any threads and sessions. A
 * mola_session is not thread-safe: the caller serializes calls on it. Version,
 * status-string and default-params functions are always safe. A mola_batch is used
 * by one thread at a time, and mola_batch_decode counts as a call on each of its
 * sessions. Destroying a handle while another thread uses it is undefined. A
 * session keeps its model alive, so models and sessions may be destroyed in any
 * order.
 */
#ifndef MOLA_H
#define MOLA_H

#include <stddef.h>
#include <stdint.h>

#include "mola/mola_version.h"

#if defined(MOLA_STATIC_DEFINE)
#define MOLA_API
#elif defined(_WIN32)
#if defined(MOLA_BUILDING_LIBRARY)
#define MOLA_API __declspec(dllexport)
#else
#define MOLA_API __declspec(dllimport)
#endif
#else
#define MOLA_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

typedef enum mola_status {
    MOLA_OK = 0,
    MOLA_ERR_INVALID_ARG = 1,      /* a NULL handle, bad size or out-of-range value */
    MOLA_ERR_MISUSE = 2,           /* a call out of order (e.g. logits before any token) */
    MOLA_ERR_OUT_OF_MEMORY = 3,
    MOLA_ERR_IO = 4,               /* a file could not be opened, mapped or read */
    MOLA_ERR_BAD_FORMAT = 5,       /* a malformed or inconsistent model file */
    MOLA_ERR_UNSUPPORTED = 6,      /* valid input this version cannot run (dtype, architecture) */
    MOLA_ERR_BACKEND = 7,          /* the compute backend failed */
    MOLA_ERR_CANCELLED = 8,        /* a callback asked to stop */
    MOLA_ERR_CONTEXT_FULL = 9,     /* a session has no room for more tokens */
    MOLA_ERR_BUFFER_TOO_SMALL = 10,
    MOLA_ERR_INTERNAL = 11,        /* a bug in mola; please report it */
    MOLA_ERR_CACHE_FULL = 12,      /* the model's KV-cache budget has no free block left */
    MOLA_STATUS_MAX_ENUM = 0x7FFFFFFF
} mola_status;

/* The message of the last failed mola call on this thread ("" if none). Owned by
 * the library; valid until the next mola call on the same thread. Always safe. */
MOLA_API const char *mola_last_error(void);

/* A static English name for a status code ("MOLA_ERR_BAD_FORMAT"). Always safe. */
MOLA_API const char *mola_status_string(mola_status status);

/* ---------------------------------------------------------------- version */

/* The loaded library's version as MOLA_VERSION_NUMBER encodes it; compare it
 * with the header's MOLA_VERSION_NUMBER to detect a mismatch. Always safe. */
MOLA_API uint32_t mola_version(void);

/* The loaded library's version string, e.g. "0.1.0". Static. Always safe. */
MOLA_API const char *mola_version_string(void);

/* A static line describing the build: git hash, CPU instruction sets usable on
 * this machine, compiled-in backends. Always safe. */
MOLA_API const char *mola_build_info(void);

/* ---------------------------------------------------------------- model */

typedef struct mola_model mola_model;
typedef struct mola_session mola_session;
typedef struct mola_sampler mola_sampler;  /* see the sampling section */

/* Load progress in [0, 1]. Return non-zero to cancel the load, which then fails
 * with MOLA_ERR_CANCELLED. Runs on the loading thread. */
typedef int (*mola_progress_fn)(void *user_data, float progress);

typedef enum mola_mla_mode {
    MOLA_MLA_AUTO = 0,      /* naive (decompressed) form for prefill, absorbed for decode */
    MOLA_MLA_ABSORBED = 1,  /* always attend over the latent cache with absorbed weights */
    MOLA_MLA_NAIVE = 2,     /* always decompress keys and values (reference form) */
    MOLA_MLA_MAX_ENUM = 0x7FFFFFFF
} mola_mla_mode;

/* How the KV cache stores each token's latent (kv_lora_rank values) and rope key
 * (qk_rope_head_dim values) per layer. Zero is the default. */
typedef enum mola_kv_dtype {
    MOLA_KV_BF16 = 0,      /* 2 bytes per value (the default) */
    MOLA_KV_F32 = 1,       /* 4 bytes per value; exact */
    MOLA_KV_FP8_E4M3 = 2,  /* the latent in float8 e4m3 with one float scale (absmax / 448) per token
                              and layer, the rope key in BF16: (kv_lora_rank + 2 * qk_rope_head_dim + 4)
                              bytes per token and layer */
    MOLA_KV_MAX_ENUM = 0x7FFFFFFF
} mola_kv_dtype;

typedef struct mola_model_params {
    uint32_t struct_size;         /* sizeof(mola_model_params), set by the default getter */
    int32_t n_threads;            /* CPU threads for compute; 0 = all cores */
    mola_progress_fn progress;    /* optional; NULL for none */
    void *progress_user_data;     /* passed to progress; not owned */
    int32_t mla_mode;             /* a mola_mla_mode */
    const char *backend;          /* "auto" or "cpu"; NULL = "auto". Copied. */
    /* The KV cache: a pool of blocks of kv_block_tokens tokens owned by the model,
     * shared by its sessions, taken as tokens are appended and given back on rewind
     * and destroy (or kept by the prefix cache, below); it never holds more than
     * kv_cache_budget_bytes. */
    int32_t kv_cache_dtype;       /* a mola_kv_dtype; default MOLA_KV_BF16 */
    int32_t kv_block_tokens;      /* tokens per block, a power of two in [1, 4096]; 0 = 64 */
    uint64_t kv_cache_budget_bytes; /* the pool's memory limit (taken as needed, not up front);
                                       0 = a quarter of physical memory. Must hold one block. */
    /* The prefix cache: 1 (the default) keeps every full cache block a session
     * computes, keyed by its tokens and all tokens before it, after the session
     * lets it go; a later append whose tokens start the same way (a shared system
     * prompt, a resent conversation) takes those blocks instead of computing them,
     * with the logits of a full recompute up to float rounding (the remaining tokens
     * form a smaller batch). Only whole blocks are reused, from a session that ends
     * on a block boundary (e.g. a new one), and never the block of an append's last
     * token, nor by mola_session_append_all_logits. Cached blocks count toward
     * kv_cache_budget_bytes but are evicted, least recently used first, whenever an
     * allocation needs them, so MOLA_ERR_CACHE_FULL still happens only when live
     * sessions hold the whole budget. 0 turns it off: blocks go back to the pool
     * when their last session lets go. */
    int32_t prefix_cache;
} mola_model_params;

/* Fills *params with defaults and sets struct_size. Always safe. */
MOLA_API void mola_model_params_default(mola_model_params *params);

/* Loads a Hugging Face checkpoint directory (config.json plus model.safetensors or
 * a model.safetensors.index.json with shards). Weight files are memory-mapped.
 * params may be NULL for defaults. On success *out_model owns the model; release
 * it with mola_model_destroy. On failure *out_model is NULL. Safe from any thread;
 * loads may run concurrently. The progress callback runs on the calling thread. */
MOLA_API mola_status mola_model_load(const char *path, const mola_model_params *params,
                                     mola_model **out_model);

/* Releases the caller's reference; the model is freed when its last session is
 * destroyed too. NULL is a no-op. No other call may use this handle meanwhile. */
MOLA_API void mola_model_destroy(mola_model *model);

typedef struct mola_model_info {
    uint32_t struct_size;          /* the caller sets sizeof(mola_model_info) */
    const char *architecture;      /* e.g. "deepseek_v3"; owned by the model */
    const char *variant;           /* e.g. "V3 (sigmoid noaux_tc routing, q_lora)"; owned by the model */
    const char *weight_dtypes;     /* e.g. "BF16, F32"; owned by the model */
    const char *backend;           /* the backend in use, e.g. "cpu (avx512-bf16)"; owned by the model */
    int32_t n_vocab;
    int32_t n_embd;
    int32_t n_layer;               /* decoder layers run (MTP layers excluded) */
    int32_t n_head;
    int32_t n_ctx_train;           /* max_position_embeddings */
    int32_t n_routed_experts;
    int32_t n_experts_per_token;
    int32_t n_shared_experts;
    int32_t kv_lora_rank;
    int32_t qk_rope_head_dim;
    int32_t n_mtp_layers;          /* MTP layers found and skipped */
    int32_t bos_token_id;          /* -1 if unknown */
    int32_t eos_token_id;          /* -1 if unknown */
    uint64_t n_params;             /* total parameters (MTP excluded) */
    uint64_t n_params_active;      /* parameters used per token */
    uint64_t weight_bytes;         /* bytes of mapped weights */
    uint64_t kv_bytes_per_token;   /* KV-cache bytes per token over all layers, in kv_cache_dtype */
    uint64_t decode_bytes_per_token; /* weight bytes one decode step reads (active experts only) */
    const char *kv_cache_dtype;    /* "bf16", "f32" or "fp8_e4m3" (static) */
    uint64_t kv_cache_budget_bytes; /* the cache pool's limit */
    uint64_t kv_bytes_per_token_f32;  /* kv_bytes_per_token with each cache dtype */
    uint64_t kv_bytes_per_token_bf16;
    uint64_t kv_bytes_per_token_fp8;
    uint64_t kv_block_bytes;       /* one block: kv_block_tokens tokens of every layer */
    int32_t kv_block_tokens;
    int32_t kv_cache_blocks;       /* blocks the budget holds */
    const char *fingerprint;       /* 16 hex digits: a hash of config.json and the tensor table
                                      (names, dtypes, shapes, sizes); saved sessions check it */
} mola_model_info;

/* Fills *info (the caller sets info->struct_size first). Strings stay valid while
 * the model lives. Safe from any thread. */
MOLA_API mola_status mola_model_get_info(const mola_model *model, mola_model_info *info);

typedef struct mola_cache_usage {
    uint32_t struct_size;       /* the caller sets sizeof(mola_cache_usage) */
    int32_t block_tokens;       /* tokens per block */
    uint64_t block_bytes;       /* bytes per block (all layers) */
    uint64_t blocks_total;      /* blocks the budget holds */
    uint64_t blocks_used;       /* blocks that sessions hold */
    uint64_t blocks_free;       /* blocks_total - blocks_used: free blocks and blocks_cached,
                                   which an allocation evicts when it needs them */
    uint64_t bytes_budget;      /* kv_cache_budget_bytes */
    uint64_t bytes_used;        /* blocks_used * block_bytes */
    uint64_t bytes_allocated;   /* memory taken so far: blocks are allocated on first use and kept
                                   for reuse until the model is freed */
    /* The prefix cache (mola_model_params.prefix_cache); the counters run since the load. */
    int32_t prefix_cache;           /* 1 if it is on */
    uint64_t blocks_cached;         /* blocks only the prefix cache holds (no session does) */
    uint64_t prefix_hits;           /* appends that took cached blocks instead of computing them */
    uint64_t prefix_tokens_reused;  /* the tokens those blocks held */
    uint64_t blocks_evicted;        /* cached blocks evicted to make room */
} mola_cache_usage;

/* A snapshot of the model's KV-cache pool (the caller sets out->struct_size
 * first). Safe from any thread, also while sessions run. */
MOLA_API mola_status mola_model_get_cache_usage(const mola_model *model, mola_cache_usage *out_usage);

/* Empties the prefix cache: the blocks only it held go back to the pool
 * (blocks_cached becomes 0), blocks that sessions hold stay theirs, and no cached
 * prefix is reused until sessions compute blocks again. Does nothing when the
 * prefix cache is off. Safe from any thread, also while sessions run. */
MOLA_API mola_status mola_model_clear_prefix_cache(mola_model *model);

/* ---------------------------------------------------------------- session */

/* Prefill progress: n_done of the n_total tokens of an append (or of a generate
 * prompt) are in the cache. Return non-zero to cancel: the call then fails with
 * MOLA_ERR_CANCELLED (generate: finishes with reason CANCELLED) and the session is
 * left as before it. Runs on the calling thread, after every n_batch chunk of an
 * append of two or more tokens (single-token appends and decode steps do not
 * report). */
typedef int (*mola_prefill_progress_fn)(void *user_data, size_t n_done, size_t n_total);

/* What an append, decode or generate that would pass n_ctx does. */
typedef enum mola_overflow_policy {
    MOLA_OVERFLOW_ERROR = 0,  /* fail with MOLA_ERR_CONTEXT_FULL, the session unchanged (default) */
    MOLA_OVERFLOW_SLIDE = 1,  /* keep the first n_keep tokens, drop the next n_discard (or as many
                                 as the call needs, if more) and move the rest down: their cache rows
                                 move and their rope keys are re-rotated to the new positions, so
                                 positions stay 0..n_tokens-1. The slide stays even if the call then
                                 fails or is cancelled. Logits stay valid. */
    MOLA_OVERFLOW_MAX_ENUM = 0x7FFFFFFF
} mola_overflow_policy;

typedef struct mola_session_params {
    uint32_t struct_size;     /* sizeof(mola_session_params), set by the default getter */
    int32_t n_ctx;            /* the session's token limit, up to the model's max_position_embeddings
                                 (YaRN extends it); 0 = min(4096, n_ctx_train) */
    int32_t n_batch;          /* tokens per forward pass during prefill; 0 = 256 */
    mola_prefill_progress_fn prefill_progress; /* optional; NULL for none. A fork keeps it. */
    void *prefill_progress_user_data;          /* passed to prefill_progress; not owned */
    int32_t overflow;         /* a mola_overflow_policy; default MOLA_OVERFLOW_ERROR */
    int32_t n_keep;           /* SLIDE: tokens at the start that stay (a system prompt); < n_ctx */
    int32_t n_discard;        /* SLIDE: tokens dropped per slide at least; 0 = (n_ctx - n_keep) / 2 */
} mola_session_params;

/* Fills *params with defaults and sets struct_size. Always safe. */
MOLA_API void mola_session_params_default(mola_session_params *params);

/* Creates a session (a token history and its latent KV cache) on a model. The
 * working buffers are allocated here; cache blocks come from the model's pool as
 * tokens are appended (n_ctx is a limit, not a reservation). params may be NULL.
 * The session holds a reference to the model. Release with mola_session_destroy.
 * Different sessions of one model may be used from different threads at once. */
MOLA_API mola_status mola_session_create(mola_model *model, const mola_session_params *params,
                                         mola_session **out_session);

/* Frees the session; its cache blocks go back to the model's pool (its full
 * blocks stay in the prefix cache, if that is on). NULL is a no-op. No other call
 * may use the session meanwhile. */
MOLA_API void mola_session_destroy(mola_session *session);

/* Appends tokens (prefill, in n_batch chunks) and computes the logits of the last
 * one. tokens is copied. Fails, leaving the session unchanged, with
 * MOLA_ERR_CONTEXT_FULL if n_tokens would pass n_ctx (under MOLA_OVERFLOW_SLIDE:
 * only if they exceed n_ctx - n_keep; otherwise the context slides first), with
 * MOLA_ERR_CANCELLED if the prefill progress callback or mola_session_cancel
 * (heard after each chunk of two or more tokens) stops it, with MOLA_ERR_CACHE_FULL if the model's cache budget
 * has too few free blocks for them (the message gives the budget, the bytes in
 * use and what was needed; the same call succeeds once other sessions free
 * blocks), and with MOLA_ERR_INVALID_ARG on an id outside the vocabulary. One
 * thread at a time per session. */
MOLA_API mola_status mola_session_append(mola_session *session, const int32_t *tokens,
                                         size_t n_tokens);

/* Like mola_session_append, and also writes the logits of every appended token to
 * out_logits, row-major [n_tokens][n_vocab] float32. capacity is the number of
 * floats out_logits holds; if it is less than n_tokens * n_vocab the call fails
 * with MOLA_ERR_BUFFER_TOO_SMALL before computing anything. out_logits stays the
 * caller's. One thread at a time per session. */
MOLA_API mola_status mola_session_append_all_logits(mola_session *session, const int32_t *tokens,
                                                    size_t n_tokens, float *out_logits,
                                                    size_t capacity);

/* Appends one token (a decode step) and computes its logits. One thread at a
 * time per session. */
MOLA_API mola_status mola_session_decode(mola_session *session, int32_t token);

/* The logits after the last appended token: *out_logits points at n_vocab floats
 * owned by the session, valid until the next call that changes the session.
 * MOLA_ERR_MISUSE if nothing was appended since creation or the last rewind.
 * One thread at a time per session. */
MOLA_API mola_status mola_session_get_logits(mola_session *session, const float **out_logits,
                                             size_t *out_n_vocab);

/* Keeps the first n_tokens tokens of the session and drops the rest (cache blocks
 * past them go back to the model's pool). Logits are unavailable until the next
 * append. One thread at a time per session. */
MOLA_API mola_status mola_session_rewind(mola_session *session, size_t n_tokens);

/* Creates *out_child, a new session with the parent's tokens, logits, n_ctx and
 * n_batch whose KV cache shares the parent's cache blocks (copy-on-write: nothing
 * is copied now; a shared block either session writes into later is first copied
 * from the model's pool, so that write may fail with MOLA_ERR_CACHE_FULL). The
 * child holds its own reference to the model and to the shared blocks: release it
 * with mola_session_destroy; parent and child may be destroyed in any order. The
 * parent is unchanged and must not be used by another thread during the call;
 * afterwards parent and child are independent and may be used on different
 * threads at once. */
MOLA_API mola_status mola_session_fork(const mola_session *parent, mola_session **out_child);

/* The number of tokens in the session. One thread at a time per session. */
MOLA_API mola_status mola_session_get_n_tokens(const mola_session *session, size_t *out_n_tokens);

/* The token capacity (n_ctx) of the session. One thread at a time per session. */
MOLA_API mola_status mola_session_get_n_ctx(const mola_session *session, size_t *out_n_ctx);

/* The number of cache blocks the session holds (ceil(n_tokens / kv_block_tokens),
 * or more after mola_session_generate reserved one ahead). One thread at a time
 * per session. */
MOLA_API mola_status mola_session_get_n_cache_blocks(const mola_session *session, size_t *out_n_blocks);

/* Copies the session's tokens into out (capacity entries); *out_n is set to the
 * number of tokens. MOLA_ERR_BUFFER_TOO_SMALL (with *out_n set) if out is short;
 * out stays the caller's. One thread at a time per session. */
MOLA_API mola_status mola_session_get_tokens(const mola_session *session, int32_t *out,
                                             size_t capacity, size_t *out_n);

/* Saves the session (its tokens, the logits after its last token and its KV-cache
 * rows) to the file at path, in the format README.md "Saved sessions" describes.
 * The save is atomic: the data goes to a temporary file beside path, is synced,
 * and is renamed over path, so a failed or interrupted save leaves any previous
 * file at path untouched (MOLA_ERR_IO naming the path and the system's reason).
 * The session is unchanged. A session whose context slid (MOLA_OVERFLOW_SLIDE) is
 * saved as it is: its cache rows at their new positions, marked as slid in the
 * file, so loading it restores it exactly too. One thread at a time per session. */
MOLA_API mola_status mola_session_save(const mola_session *session, const char *path);

/* Creates a session from a file written by mola_session_save, restored exactly:
 * its logits and every later decode equal those of the session that was saved.
 * params may be NULL: n_ctx is then the saved session's and n_batch the default;
 * a params n_ctx of 0 also means the saved one. The file must come from the same
 * model (its fingerprint: config.json and the tensor table) and the same kv_dtype;
 * otherwise, and for a truncated, corrupt (CRC-32) or other-version file, the call
 * fails with MOLA_ERR_BAD_FORMAT naming the file and the problem. MOLA_ERR_IO if
 * it cannot be read, MOLA_ERR_INVALID_ARG if n_ctx is less than the saved tokens,
 * MOLA_ERR_CACHE_FULL (nothing kept) if the pool lacks the blocks. Every length is
 * checked against the file's size before memory is allocated. The params' prefill
 * progress and overflow policy (not saved in the file) apply to the loaded
 * session. Release with
 * mola_session_destroy. Safe from any thread (sessions of one model at once). */
MOLA_API mola_status mola_session_load(mola_model *model, const char *path, const mola_session_params *params,
                                       mola_session **out_session);

/* Like mola_session_save, and also stores sampler in the file: its parameters and
 * where its random sequence stands, so that the sampler mola_session_load_with_sampler
 * gives back draws exactly what this one would have drawn next. sampler may be
 * NULL (then this is mola_session_save). MOLA_ERR_INVALID_ARG, writing nothing,
 * if the sampler was made for another vocabulary size. The caller keeps both;
 * neither changes. Same threading as mola_session_save. */
MOLA_API mola_status mola_session_save_with_sampler(const mola_session *session, const mola_sampler *sampler,
                                                    const char *path);

/* Like mola_session_load, and also sets *out_sampler to the sampler saved with the
 * session (see mola_session_save_with_sampler), or to NULL when the file holds
 * none. The sampler is the caller's: release it with mola_sampler_destroy. On
 * failure both outputs are NULL; a saved sampler whose parameters are invalid
 * fails with MOLA_ERR_BAD_FORMAT naming the file. */
MOLA_API mola_status mola_session_load_with_sampler(mola_model *model, const char *path,
                                                    const mola_session_params *params, mola_session **out_session,
                                                    mola_sampler **out_sampler);

/* The most bytes of application metadata a session carries (64 MiB). */
#define MOLA_SESSION_METADATA_MAX_BYTES ((size_t)64 << 20)

/* Sets the session's application metadata: len bytes from data, copied (the
 * caller keeps data; it may be NULL when len is 0, which clears the metadata).
 * The bytes are opaque to mola: mola_session_save writes them into the same
 * file and mola_session_load restores them, so an application can keep its own
 * state (a conversation, a file list) with the session; mola_session_fork copies
 * them. MOLA_ERR_INVALID_ARG, leaving the metadata unchanged, past
 * MOLA_SESSION_METADATA_MAX_BYTES. One thread at a time per session. */
MOLA_API mola_status mola_session_set_metadata(mola_session *session, const void *data, size_t len);

/* Points *out_data at the session's metadata and sets *out_len to its length (0
 * and a non-NULL pointer when none was set). The bytes stay owned by the session,
 * valid until the next mola_session_set_metadata or mola_session_destroy. One
 * thread at a time per session. */
MOLA_API mola_status mola_session_get_metadata(const mola_session *session, const void **out_data,
                                               size_t *out_len);

/* ---------------------------------------------------------------- batch */

/* Continuous batching: one decode step for several sessions of one model in a
 * single forward pass. The weights are read once per step for all of them; each
 * session attends over its own cache at its own position, and its logits equal
 * those a mola_session_decode of the same token would give (up to float rounding:
 * the batched matrix products sum in another order). Sessions join and leave by
 * being passed, or not, at the next step. */
typedef struct mola_batch mola_batch;

/* Creates a batch for up to max_sessions (1 to 4096) sessions of model, with its
 * own working buffers (sized for max_sessions rows and their logits). The batch
 * holds a reference to the model. Release with mola_batch_destroy. One thread at
 * a time per batch; batches (and sessions outside them) of one model may run on
 * different threads at once. */
MOLA_API mola_status mola_batch_create(mola_model *model, size_t max_sessions, mola_batch **out_batch);

/* Frees the batch (not its sessions). NULL is a no-op. No other call may use the
 * batch meanwhile. */
MOLA_API void mola_batch_destroy(mola_batch *batch);

/* Appends tokens[i] to sessions[i] for each of the n sessions and computes each
 * session's logits (read them with mola_session_get_logits), in one forward pass.
 * Both arrays are read during the call only; n = 0 does nothing. All or none:
 * the call fails before any session changes with MOLA_ERR_INVALID_ARG for n >
 * max_sessions, a NULL session, a session of another model, a session given twice
 * or a token outside the vocabulary (the message names its index), with
 * MOLA_ERR_CONTEXT_FULL if a session holds n_ctx tokens, and with
 * MOLA_ERR_CACHE_FULL if the model's cache budget lacks a block some session
 * needs (blocks taken for the others are given back; a block one of them shared
 * with a fork may now be its own copy, with the same contents). Threads: no
 * session of the call may be used by any other call meanwhile (the caller
 * serializes them as for mola_session_decode). mola_session_cancel does not
 * interrupt it (a step is one forward pass): a pending request stays for the
 * session's next mola_session_generate. */
MOLA_API mola_status mola_batch_decode(mola_batch *batch, mola_session *const *sessions, const int32_t *tokens,
                                       size_t n);

/* ---------------------------------------------------------------- sampling */

/* A bias added to one token's logit before sampling; -INFINITY bans the token. */
typedef struct mola_logit_bias {
    int32_t token;
    float bias;
} mola_logit_bias;

/* The sampler chain, applied in this order: logit bias; repetition, frequency and
 * presence penalties over the last penalty_window tokens of the session; then
 * greedy argmax if temperature <= 0, else top-k, softmax at temperature, top-p,
 * min-p, and a draw from a splitmix64 generator seeded with seed. The same seed,
 * params and tokens give the same result on every run, machine and API. */
typedef struct mola_sampler_params {
    uint32_t struct_size;           /* sizeof(mola_sampler_params), set by the default getter */
    float temperature;              /* <= 0: greedy. Default 0.8 */
    int32_t top_k;                  /* keep the k most likely; 0: off. Default 40 */
    float top_p;                    /* nucleus mass in (0, 1]; 1: off. Default 0.95 */
    float min_p;                    /* drop p < min_p * max p, in [0, 1]; 0: off. Default 0.05 */
    float repeat_penalty;           /* > 0; 1: off (default) */
    float presence_penalty;         /* subtracted once per seen token; 0: off (default) */
    float frequency_penalty;        /* subtracted per occurrence; 0: off (default) */
    int32_t penalty_window;         /* last N tokens penalized; -1: all; 0: none. Default 64 */
    uint64_t seed;                  /* default 0 (a valid seed) */
    const mola_logit_bias *logit_bias; /* n_logit_bias entries, copied; NULL for none */
    size_t n_logit_bias;
} mola_sampler_params;

/* Fills *params with defaults and sets struct_size. Always safe. */
MOLA_API void mola_sampler_params_default(mola_sampler_params *params);


/* A sampler for callers that drive decoding themselves. params (NULL for defaults)
 * is validated against n_vocab and copied. Release with mola_sampler_destroy. One
 * thread at a time per sampler. */
MOLA_API mola_status mola_sampler_create(const mola_sampler_params *params, int32_t n_vocab,
                                         mola_sampler **out_sampler);

/* Frees the sampler. NULL is a no-op. */
MOLA_API void mola_sampler_destroy(mola_sampler *sampler);

/* Samples the next token from the session's current logits, penalizing from the
 * session's tokens. Does not append the token. MOLA_ERR_MISUSE if the session has
 * no logits. One thread at a time per sampler and per session. */
MOLA_API mola_status mola_sampler_sample(mola_sampler *sampler, mola_session *session, int32_t *out_token);

/* Restarts the sampler's random sequence from seed. */
MOLA_API mola_status mola_sampler_reset(mola_sampler *sampler, uint64_t seed);

/* ---------------------------------------------------------------- generation */

typedef enum mola_finish_reason {
    MOLA_FINISH_NONE = 0,       /* not finished (never returned by a successful call) */
    MOLA_FINISH_EOS = 1,        /* the model produced an end-of-sequence token */
    MOLA_FINISH_STOP = 2,       /* the text reached one of the stop strings */
    MOLA_FINISH_LENGTH = 3,     /* max_tokens were generated, or the session filled n_ctx */
    MOLA_FINISH_CANCELLED = 4,  /* mola_session_cancel, or the stream callback returned non-zero */
    MOLA_FINISH_MAX_ENUM = 0x7FFFFFFF
} mola_finish_reason;

/* Receives generated text as it becomes final. text (text_len bytes, not
 * NUL-terminated, owned by the library and valid during the call) never splits a
 * UTF-8 character and never contains stop-string text; it may be empty while text
 * is held back (an unfinished character, or a possible start of a stop string).
 * tokens are the n_tokens tokens sampled since the previous call (usually one;
 * zero on a final call that releases held-back text); an end-of-sequence token is
 * reported too. Joined, the texts are the decoded generation up to the stop
 * string. Return 0 to continue, non-zero to stop (finish reason CANCELLED). Runs
 * on the generating thread. */
typedef int (*mola_stream_fn)(void *user_data, const char *text, size_t text_len, const int32_t *tokens,
                              size_t n_tokens);

typedef struct mola_generate_params {
    uint32_t struct_size;         /* sizeof(mola_generate_params), set by the default getter */
    int32_t max_tokens;           /* tokens to sample at most; 0: until EOS, a stop or n_ctx. Default 256 */
    const char *const *stop;      /* n_stop NUL-terminated UTF-8 stop strings, copied; NULL for none */
    size_t n_stop;
    int32_t ignore_eos;           /* non-zero: end-of-sequence tokens do not stop generation */
    mola_stream_fn stream;        /* optional; NULL for none */
    void *stream_user_data;       /* passed to stream; not owned */
} mola_generate_params;

/* Fills *params with defaults and sets struct_size. Always safe. */
MOLA_API void mola_generate_params_default(mola_generate_params *params);

typedef struct mola_generate_result {
    uint32_t struct_size;             /* the caller sets sizeof(mola_generate_result) */
    int32_t finish_reason;            /* a mola_finish_reason */
    int32_t n_prompt_tokens;          /* prompt tokens appended by this call */
    int32_t n_generated_tokens;       /* tokens sampled by this call (an EOS included) */
    double time_to_first_token_ms;    /* from the call's start to the first sampled token */
    double prefill_ms;                /* time spent appending the prompt */
    double decode_ms;                 /* time from the first sampled token to the end */
    double prefill_tokens_per_second; /* n_prompt_tokens / prefill time; 0 without a prompt */
    double decode_tokens_per_second;  /* tokens sampled after the first / decode time; 0 if fewer than 2 */
} mola_generate_result;

/* Appends prompt (n_prompt tokens, copied; may be empty when the session already
 * has logits, to continue), then samples tokens one at a time until an
 * end-of-sequence token (the tokenizer's EOS and <|EOT|>, and the config's
 * eos_token_id), a stop string, max_tokens, a full session, or cancellation.
 * Every sampled token except an end-of-sequence one is appended to the session,
 * so the next call continues the same text (a chat's next turn prefills only its
 * own tokens). Stop strings are matched in the decoded text across token
 * boundaries; the tokens that spelled a stop string stay in the session, but their
 * text is never streamed. Text needs the model's tokenizer: stop strings without
 * one fail with MOLA_ERR_UNSUPPORTED, and the stream then receives empty text.
 * Cancellation is a normal finish (MOLA_OK, reason CANCELLED): the session keeps
 * what was generated; if it comes during the prompt, the prompt's tokens are
 * taken out again (the session holds the same tokens and logits as before the
 * call). The prompt's prefill reports to the session's prefill_progress; a
 * non-zero return from it cancels the same way. Under MOLA_OVERFLOW_SLIDE the
 * context slides instead of finishing with LENGTH when it is full (max_tokens 0
 * then runs until EOS, a stop string or cancellation), and a slide made for the
 * prompt stays even if the prompt is cancelled. An error while appending the prompt also
 * takes it out again; an error after it (e.g. a logit bias that bans every token)
 * leaves the prompt and the tokens generated so far in the session. When the
 * model's cache budget runs out the call fails with MOLA_ERR_CACHE_FULL: during the
 * prompt, the session is left as it was; while sampling, the tokens sampled (and
 * streamed) before stay in the session, and the cache is checked before each token
 * is sampled, so no token is streamed that the session could not keep. sampler may
 * be NULL for defaults; params may be NULL for defaults; result may be NULL. One
 * thread at a time per session, except mola_session_cancel. */
MOLA_API mola_status mola_session_generate(mola_session *session, const int32_t *prompt, size_t n_prompt,
                                           const mola_sampler_params *sampler, const mola_generate_params *params,
                                           mola_generate_result *result);

/* Asks the session's running (or next) mola_session_generate to stop. It returns
 * within one forward pass (one decode step, or one n_batch chunk of the prompt)
 * with finish reason CANCELLED, and consumes the request. A running append of two
 * or more tokens (mola_session_append, mola_session_append_all_logits) hears it
 * too, after its current chunk, and fails with MOLA_ERR_CANCELLED, the session as
 * before it; a request made while no generate or such append runs waits for the
 * next one. Safe from any thread and from signal handlers (it only sets an atomic
 * flag), while the session lives. */
MOLA_API mola_status mola_session_cancel(mola_session *session);

/* ---------------------------------------------------------------- tokenizer */

typedef struct mola_tokenizer mola_tokenizer;
typedef struct mola_detokenizer mola_detokenizer;

/* Flags of mola_tokenizer_encode. */
#define MOLA_TOKENIZE_ADD_SPECIAL 1u   /* add BOS/EOS as the tokenizer's config says */
#define MOLA_TOKENIZE_PARSE_SPECIAL 2u /* special tokens written in the text become their ids */
/* Flag of mola_tokenizer_decode and mola_detokenizer_create. */
#define MOLA_DETOKENIZE_SKIP_SPECIAL 1u

/* Loads a tokenizer on its own: a tokenizer.json (Hugging Face, BPE), a
 * SentencePiece .model, or a directory holding either (tokenizer.json first) and
 * optionally tokenizer_config.json. On success *out_tokenizer is the caller's;
 * release it with mola_tokenizer_destroy. A tokenizer is immutable: any threads
 * may use it at once. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_load(const char *path, mola_tokenizer **out_tokenizer);

/* The tokenizer that was loaded with the model (from the checkpoint directory).
 * *out_tokenizer is a new reference the caller releases with
 * mola_tokenizer_destroy; it stays valid after the model is destroyed.
 * MOLA_ERR_UNSUPPORTED if the checkpoint has no tokenizer. Safe from any thread. */
MOLA_API mola_status mola_model_get_tokenizer(const mola_model *model, mola_tokenizer **out_tokenizer);

/* Releases a tokenizer reference. NULL is a no-op. No other call may use this
 * handle meanwhile. */
MOLA_API void mola_tokenizer_destroy(mola_tokenizer *tokenizer);

/* Encodes text_len bytes of UTF-8 (invalid bytes are replaced by U+FFFD, as
 * Python's errors="replace" does) into out_ids (capacity entries; the caller's).
 * *out_n is set to the number of ids; if capacity is short the call fails with
 * MOLA_ERR_BUFFER_TOO_SMALL, and repeating it on the same thread with the same
 * arguments and a large enough buffer does not encode again. flags: MOLA_TOKENIZE_*.
 * Safe from any thread. */
MOLA_API mola_status mola_tokenizer_encode(const mola_tokenizer *tokenizer, const char *text, size_t text_len,
                                           uint32_t flags, int32_t *out_ids, size_t capacity, size_t *out_n);

/* Decodes ids into out (capacity bytes; the caller's), NUL-terminated. *out_len is
 * set to the text length without the NUL; MOLA_ERR_BUFFER_TOO_SMALL if capacity <
 * *out_len + 1. flags: MOLA_DETOKENIZE_SKIP_SPECIAL. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_decode(const mola_tokenizer *tokenizer, const int32_t *ids, size_t n_ids,
                                           uint32_t flags, char *out, size_t capacity, size_t *out_len);

/* The bytes token id stands for, which may be part of a UTF-8 character: *out_piece
 * points at *out_len bytes owned by the library, valid until the next mola call on
 * this thread. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_token_to_piece(const mola_tokenizer *tokenizer, int32_t id,
                                                   const char **out_piece, size_t *out_len);

/* The id of the vocabulary entry or added token spelled exactly text, or -1 in
 * *out_id if there is none. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_token_id(const mola_tokenizer *tokenizer, const char *text, int32_t *out_id);

typedef struct mola_special_tokens {
    uint32_t struct_size;  /* the caller sets sizeof(mola_special_tokens) */
    int32_t bos, eos, pad, unk;                /* -1 where the tokenizer has none */
    int32_t fim_begin, fim_hole, fim_end;      /* <｜fim▁begin｜> <｜fim▁hole｜> <｜fim▁end｜> */
    int32_t user, assistant, eot;              /* <｜User｜> <｜Assistant｜> <|EOT|> */
    int32_t think_begin, think_end;            /* <think> </think> */
    int32_t n_vocab;                           /* the number of ids */
} mola_special_tokens;

/* The special-token ids, looked up by their text when the tokenizer was loaded
 * (the caller sets out->struct_size first). Safe from any thread. */
MOLA_API mola_status mola_tokenizer_get_special_tokens(const mola_tokenizer *tokenizer, mola_special_tokens *out);

/* Streaming detokenization: push ids one at a time and receive text pieces that
 * never split a UTF-8 character and together equal mola_tokenizer_decode of all
 * ids. The detokenizer holds a tokenizer reference; release it with
 * mola_detokenizer_destroy. One thread at a time per detokenizer. */
MOLA_API mola_status mola_detokenizer_create(const mola_tokenizer *tokenizer, uint32_t flags,
                                             mola_detokenizer **out_detokenizer);

/* Frees the detokenizer. NULL is a no-op. */
MOLA_API void mola_detokenizer_destroy(mola_detokenizer *detokenizer);

/* Adds a token; *out_text points at the *out_len bytes it completes (possibly 0),
 * owned by the detokenizer and valid until its next call. */
MOLA_API mola_status mola_detokenizer_push(mola_detokenizer *detokenizer, int32_t id, const char **out_text,
                                           size_t *out_len);

/* Returns the text still held back (an unfinished character) and starts over. */
MOLA_API mola_status mola_detokenizer_flush(mola_detokenizer *detokenizer, const char **out_text,
                                            size_t *out_len);

/* One turn of a conversation. Frozen: new fields would come with new functions. */
typedef struct mola_chat_message {
    const char *role;       /* "system", "user" or "assistant" */
    const char *content;    /* UTF-8 text */
    const char *reasoning;  /* an assistant turn's thinking text (V4 thinking mode); NULL for none */
} mola_chat_message;

/* Flags of mola_tokenizer_apply_chat. */
#define MOLA_CHAT_ADD_GENERATION_PROMPT 1u /* end with the assistant's turn opening */
#define MOLA_CHAT_THINKING 2u              /* thinking mode, where the format has one */

/* The name of the chat format detected for this tokenizer from its config and the
 * model's ("deepseek-v2", "deepseek-v3", "deepseek-r1", "deepseek-v3.1",
 * "deepseek-v4"). *out_name is static. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_get_chat_format(const mola_tokenizer *tokenizer, const char **out_name);

/* Renders a conversation as prompt text in a chat format: format is one of the
 * names above, or NULL for the detected one. The text (BOS included as text where
 * the format writes it) is encoded with MOLA_TOKENIZE_PARSE_SPECIAL and without
 * MOLA_TOKENIZE_ADD_SPECIAL. Output as mola_tokenizer_decode: out (capacity bytes,
 * the caller's), NUL-terminated, *out_len without the NUL, BUFFER_TOO_SMALL if
 * short. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_apply_chat(const mola_tokenizer *tokenizer, const char *format,
                                               const mola_chat_message *messages, size_t n_messages,
                                               uint32_t flags, char *out, size_t capacity, size_t *out_len);

typedef enum mola_fim_layout {
    MOLA_FIM_PSM = 0, /* prefix-suffix-middle: <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜> */
    MOLA_FIM_SPM = 1, /* suffix-prefix-middle: <｜fim▁begin｜><｜fim▁hole｜>suffix<｜fim▁end｜>prefix */
    MOLA_FIM_MAX_ENUM = 0x7FFFFFFF
} mola_fim_layout;

/* Builds a fill-in-the-middle prompt from the code before (prefix) and after
 * (suffix) the cursor; path (the file's path) and context (other files, written
 * before it) are optional (NULL). MOLA_ERR_UNSUPPORTED if the tokenizer has no
 * FIM tokens. Output as mola_tokenizer_apply_chat. Safe from any thread. */
MOLA_API mola_status mola_tokenizer_build_fim(const mola_tokenizer *tokenizer, int32_t layout, const char *prefix,
                                              const char *suffix, const char *path, const char *context,
                                              char *out, size_t capacity, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* MOLA_H */
