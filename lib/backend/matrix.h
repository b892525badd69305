// matrix.h: a read-only view of a weight matrix as stored in the checkpoint,
// [rows = out features][cols = in features], in its file dtype.
#pragma once

#include <cstdint>

#include "format/dtype.h"

namespace mola {

// FP8 weights carry one float multiplier per kFp8Block x kFp8Block block.
constexpr int64_t kFp8Block = 128;

struct Matrix {
    DType dtype = DType::F32;
    int64_t rows = 0, cols = 0;
    const void* data = nullptr;   // rows * cols elements, row-major
    // F8_E4M3 only: the whole tensor's scale grid [ceil(R/128)][scale_cols], and the
    // absolute row of data's first row, so a view of some rows still finds its scales.
    const float* scale = nullptr;
    int64_t scale_cols = 0;
    int64_t row0 = 0;

    // Rows [first, first + count) as a matrix of their own.
    Matrix row_slice(int64_t first, int64_t count) const {
        Matrix m = *this;
        m.rows = count;
        m.data = static_cast<const uint8_t*>(data) + first * cols * int64_t(dtype_size(dtype));
        m.row0 = row0 + first;
        return m;
    }
    // The multiplier of element (r, c), r relative to this view (F8_E4M3 only).
    float scale_at(int64_t r, int64_t c) const {
        return scale[((row0 + r) / kFp8Block) * scale_cols + c / kFp8Block];
    }
    bool empty() const { return data == nullptr; }
};

}  // namespace mola
