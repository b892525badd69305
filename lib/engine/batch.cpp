// batch.cpp: one decode step over several sessions (see batch.h).
#include "engine/batch.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"

namespace mola {

Batch::Batch(std::shared_ptr<const Model> model, int64_t max_sessions)
    : model_(std::move(model)),
      max_sessions_(max_sessions),
      ws_(model_->backend(), model_->config(), max_sessions, max_sessions) {}

void Batch::decode(Session* const* sessions, const int32_t* tokens, int64_t n) {
    const DeepSeekConfig& c = model_->config();
    if (n < 0 || n > max_sessions_)
        fail(MOLA_ERR_INVALID_ARG, std::to_string(n) + " sessions given; the batch holds at most " +
                                       std::to_string(max_sessions_));
    if (n == 0) return;
    std::unordered_map<const Session*, int64_t> seen;
    for (int64_t i = 0; i < n; ++i) {
        const Session* s = sessions[i];
        const std::string which = "session " + std::to_string(i);
        if (!s) fail(MOLA_ERR_INVALID_ARG, which + " is NULL");
        if (&s->model() != model_.get())
            fail(MOLA_ERR_INVALID_ARG, which + " belongs to another model than the batch");
        const auto [it, fresh] = seen.emplace(s, i);
        if (!fresh)
            fail(MOLA_ERR_INVALID_ARG, which + " is session " + std::to_string(it->second) +
                                           " again; each session may take one token per step");
        if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
            fail(MOLA_ERR_INVALID_ARG, "token " + std::to_string(i) + " is " + std::to_string(tokens[i]) +
                                           ", outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
        if (s->n_tokens() >= s->n_ctx())
            fail(MOLA_ERR_CONTEXT_FULL, which + " holds " + std::to_string(s->n_tokens()) + " of " +
                                            std::to_string(s->n_ctx()) + " tokens; no more fit");
    }
    // Room in every session's cache first; undo the growth of the earlier ones if a
    // later one finds the budget full, so no session changes.
    std::vector<int64_t> capacity(static_cast<size_t>(n));
    auto undo = [&](int64_t count) {
        for (int64_t j = 0; j < count; ++j) sessions[j]->cache_.truncate(capacity[size_t(j)]);
    };
    for (int64_t i = 0; i < n; ++i) {
        Session& s = *sessions[i];
        capacity[size_t(i)] = s.cache_.capacity_tokens();
        try {
            s.cache_.prepare_write(s.n_tokens(), s.n_tokens() + 1);
        } catch (const Error& e) {
            undo(i);
            if (e.status() != MOLA_ERR_CACHE_FULL) throw;
            const int64_t blocks = s.n_cache_blocks();
            fail(MOLA_ERR_CACHE_FULL, "cannot decode session " + std::to_string(i) + " of the batch (" +
                                          std::to_string(s.n_tokens()) + " tokens in " + std::to_string(blocks) +
                                          (blocks == 1 ? " cache block): " : " cache blocks): ") + e.what());
        } catch (...) {
            undo(i);
            throw;
        }
    }
    std::vector<Session::Rows> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[size_t(i)] = {sessions[i], i, 1, sessions[i]->n_tokens()};
    try {
        Session::forward_rows(*model_, ws_, tokens, n, rows.data(), n);
        Session::logits_of_rows(*model_, ws_, ws_.x, n, ws_.logits);
        for (int64_t i = 0; i < n; ++i) {
            Session& s = *sessions[i];
            ws_.be.read_back(ws_.logits + i * c.vocab_size, s.logits_.data(), size_t(c.vocab_size));
        }
    } catch (...) {
        undo(n);
        for (int64_t i = 0; i < n; ++i) sessions[i]->has_logits_ = false;
        throw;
    }
    for (int64_t i = 0; i < n; ++i) {
        sessions[i]->tokens_.push_back(tokens[i]);
        sessions[i]->has_logits_ = true;
    }
}

}  // namespace mola
