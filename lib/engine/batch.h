// batch.h: continuous batching: one decode step for several sessions of one model
// in a single forward pass. The projections, the FFN/MoE and the lm_head read
// their weights once for all sessions' rows; each session attends over its own
// cache at its own position. The set of sessions may change from step to step.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/model.h"

namespace mola {

class Batch {
public:
    // A batch of up to max_sessions sessions of model, with its own workspace.
    Batch(std::shared_ptr<const Model> model, int64_t max_sessions);

    // Appends tokens[i] to sessions[i] for each of the n sessions and computes each
    // one's logits, as n separate Session::append calls of one token would. All or
    // none: a session of another model, a session given twice, n > max_sessions, a
    // token outside the vocabulary, a full session (MOLA_ERR_CONTEXT_FULL) or a
    // cache budget without room (MOLA_ERR_CACHE_FULL) fail before any session
    // changes. The sessions must not be used by another thread during the call.
    void decode(Session* const* sessions, const int32_t* tokens, int64_t n);

    int64_t max_sessions() const { return max_sessions_; }
    const Model& model() const { return *model_; }

private:
    std::shared_ptr<const Model> model_;
    int64_t max_sessions_;
    Workspace ws_;
};

}  // namespace mola
