// test_kernels.cpp: every CPU kernel table this machine can run, against a
// double-precision reference built here from the dtype conversions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/error.h"
#include "format/dtype.h"

using mola::DType;
using mola::Matrix;
using mola::cpu::Kernels;

namespace {

std::vector<const Kernels*> tables() {
    const Kernels* all[8] = {};
    const int n = mola::cpu::available_kernels(all, 8);
    return std::vector<const Kernels*>(all, all + (n < 8 ? n : 8));
}

// A weight matrix in some dtype, its scale grid (F8), and the exact value of every
// element (scales applied) as double.
struct TestMatrix {
    DType dtype = DType::F32;
    int64_t rows = 0, cols = 0;
    std::vector<uint8_t> bytes;
    std::vector<float> scale;
    int64_t scale_cols = 0;
    std::vector<double> value;  // rows x cols

    Matrix view() const {
        Matrix m;
        m.dtype = dtype;
        m.rows = rows;
        m.cols = cols;
        m.data = bytes.empty() ? static_cast<const void*>(&scale_cols) : bytes.data();
        if (dtype == DType::F8_E4M3) {
            m.scale = scale.data();
            m.scale_cols = scale_cols;
        }
        return m;
    }
};

// Random finite elements over a wide range of exponents, subnormals included.
TestMatrix make_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
    TestMatrix m;
    m.dtype = dtype;
    m.rows = rows;
    m.cols = cols;
    m.bytes.resize(size_t(rows * cols) * mola::dtype_size(dtype));
    m.value.resize(size_t(rows * cols));
    if (dtype == DType::F8_E4M3) {
        const int64_t srows = (rows + 127) / 128;
        m.scale_cols = (cols + 127) / 128;
        std::uniform_real_distribution<float> s(0.25f, 4.0f);
        m.scale.resize(size_t(srows * m.scale_cols));
        for (auto& v : m.scale) v = s(rng) * 1e-2f;
    }
    for (int64_t i = 0; i < rows * cols; ++i) {
        const uint32_t b = bits(rng);
        const int64_t r = i / cols, c = i % cols;
        switch (dtype) {
            case DType::F32: {
                // sign, exponent in [-8, 7], full mantissa
                const uint32_t u = (b & 0x80000000u) | ((119 + (b >> 23) % 16) << 23) | (bits(rng) & 0x7fffffu);
                float f;
                std::memcpy(&f, &u, 4);
                std::memcpy(&m.bytes[size_t(i) * 4], &f, 4);
                m.value[size_t(i)] = f;
                break;
            }
            case DType::BF16: {
                const uint16_t h = uint16_t((b & 0x8000u) | ((119 + (b >> 7) % 16) << 7) | (b >> 20 & 0x7f));
                std::memcpy(&m.bytes[size_t(i) * 2], &h, 2);
                m.value[size_t(i)] = mola::bf16_to_f32(h);
                break;
            }
            case DType::F16: {
                // exponent field 0 (subnormal) .. 20 (up to 2^5)
                const uint16_t h = uint16_t((b & 0x8000u) | (((b >> 10) % 21) << 10) | (b >> 20 & 0x3ff));
                std::memcpy(&m.bytes[size_t(i) * 2], &h, 2);
                m.value[size_t(i)] = mola::f16_to_f32(h);
                break;
            }
            case DType::F8_E4M3: {
                uint8_t v = uint8_t(b);
                if ((v & 0x7f) == 0x7f) v = uint8_t(v - 1);  // no NaN
                m.bytes[size_t(i)] = v;
                const float s = m.scale[size_t((r / 128) * m.scale_cols + c / 128)];
                m.value[size_t(i)] = double(mola::f8e4m3_table()[v]) * double(s);
                break;
            }
            default: FAIL("bad dtype");
        }
    }
    return m;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& f : v) f = d(rng);
    return v;
}

// The worst error of got against ref, each relative to the sum of the magnitudes of
// the terms that made it (the natural scale of a floating-point dot product).
struct ErrorStats {
    double worst = 0, l2_err = 0, l2_ref = 0;
    void add(double got, double ref, double magnitude) {
        const double e = std::fabs(got - ref);
        if (magnitude > 0) worst = std::max(worst, e / magnitude);
        else worst = std::max(worst, e);
        l2_err += e * e;
        l2_ref += ref * ref;
    }
    double rel_l2() const { return l2_ref > 0 ? std::sqrt(l2_err / l2_ref) : std::sqrt(l2_err); }
};

// y = x W^T for rows [first, first + count) of m.
void check_linear(const Kernels& k, const TestMatrix& m, int64_t first, int64_t count, int64_t n,
                  int threads, double tol) {
    Matrix w = m.view();
    if (first != 0 || count != m.rows) w = w.row_slice(first, count);
    const int64_t K = m.cols;
    const auto x = random_floats(size_t(n * K), uint32_t(1000 + n + K));
    std::vector<float> y(size_t(n * count), std::nanf(""));
    k.linear(w, x.data(), n, y.data(), threads);
    ErrorStats st;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < count; ++r) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < K; ++c) {
                const double p = double(x[size_t(t * K + c)]) * m.value[size_t((first + r) * K + c)];
                ref += p;
                mag += std::fabs(p);
            }
            st.add(y[size_t(t * count + r)], ref, mag);
        }
    INFO(k.isa << " " << mola::dtype_name(m.dtype) << " rows " << first << "+" << count << " of "
               << m.rows << " x " << K << ", n " << n << ", threads " << threads << ": worst "
               << st.worst << ", rel L2 " << st.rel_l2());
    CHECK(st.worst <= tol);
    CHECK(st.rel_l2() <= tol);
}

// The tolerance of linear, relative to the sum of the magnitudes of the products:
// fp32 products and accumulation (any summation order) over at most ~1000 terms.
constexpr double kTol = 2e-6;

const DType kDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3};

}  // namespace

TEST_CASE("kernels: the FP8 e4m3 table matches values built from the bit fields", "[kernels]") {
    const float* table = mola::f8e4m3_table();
    for (int b = 0; b < 256; ++b) {
        const int sign = b >> 7, exponent = (b >> 3) & 0xf, mantissa = b & 7;
        INFO("byte " << b);
        if (exponent == 0xf && mantissa == 7) {
            CHECK(std::isnan(table[b]));
            continue;
        }
        // e4m3fn: bias 7, no infinities; exponent 0 is subnormal (0.m * 2^-6).
        const double magnitude = exponent == 0 ? std::ldexp(double(mantissa) / 8.0, -6)
                                               : std::ldexp(1.0 + double(mantissa) / 8.0, exponent - 7);
        const double expected = sign ? -magnitude : magnitude;
        CHECK(double(table[b]) == expected);
        CHECK(std::signbit(table[b]) == bool(sign));
        CHECK(mola::f8e4m3_to_f32(uint8_t(b)) == table[b]);
    }
    CHECK(table[0x7e] == 448.0f);   // the largest finite value
    CHECK(table[0xfe] == -448.0f);
    CHECK(table[0x38] == 1.0f);     // exponent 7 = bias
    CHECK(table[0x08] == std::ldexp(1.0f, -6));  // smallest normal
    CHECK(table[0x01] == std::ldexp(1.0f, -9));  // smallest subnormal
}

TEST_CASE("kernels: tables and dispatch", "[kernels]") {
    const auto all = tables();
    REQUIRE(!all.empty());
    CHECK(std::string(all.front()->isa) == "scalar");
    // kernels() is the best table at or below the MOLA_CPU_ISA cap (none when unset).
    auto level = [](const std::string& isa) {
        return isa == "scalar" ? 0 : isa == "avx2" ? 1 : isa == "avx512" ? 2 : 3;
    };
    const char* env = std::getenv("MOLA_CPU_ISA");
    const int cap = env && *env ? level(env) : 3;
    const Kernels* expected = all.front();
    for (const Kernels* k : all)
        if (level(k->isa) <= cap) expected = k;
    CHECK(std::string(mola::cpu::kernels().isa) == expected->isa);
    for (const Kernels* k : all) {
        CHECK(k->linear);
        CHECK(k->linear_t);
        CHECK(k->dequant_rows);
        CHECK(k->dot);
        CHECK(k->axpy);
        CHECK((k->attend_bf16 != nullptr) == (std::string(k->isa) == "avx512-bf16"));
    }
}

TEST_CASE("kernels: dequant_rows converts every bit pattern exactly", "[kernels]") {
    for (const Kernels* k : tables()) {
        INFO(k->isa);
        // F8: all 256 bytes (NaN aside) under a scale that is not a power of two.
        {
            std::vector<uint8_t> data(256);
            for (int i = 0; i < 256; ++i) data[size_t(i)] = uint8_t(i);
            const float scale[2] = {0.7f, 3.0f};
            Matrix m;
            m.dtype = DType::F8_E4M3;
            m.rows = 1;
            m.cols = 256;
            m.data = data.data();
            m.scale = scale;
            m.scale_cols = 2;
            std::vector<float> out(256);
            k->dequant_rows(m, 0, 1, out.data());
            for (int i = 0; i < 256; ++i) {
                if ((i & 0x7f) == 0x7f) continue;
                const float expected = float(double(mola::f8e4m3_table()[i]) * double(scale[i / 128]));
                INFO("byte " << i);
                CHECK(out[size_t(i)] == expected);
            }
        }
        // F16 and BF16: all 65536 patterns, NaN aside (infinities included).
        for (DType t : {DType::F16, DType::BF16}) {
            std::vector<uint16_t> data(65536);
            for (int i = 0; i < 65536; ++i) data[size_t(i)] = uint16_t(i);
            Matrix m;
            m.dtype = t;
            m.rows = 256;
            m.cols = 256;
            m.data = data.data();
            std::vector<float> out(65536);
            k->dequant_rows(m, 0, 256, out.data());
            int bad = 0;
            for (int i = 0; i < 65536; ++i) {
                const float expected =
                    t == DType::F16 ? mola::f16_to_f32(uint16_t(i)) : mola::bf16_to_f32(uint16_t(i));
                if (std::isnan(expected)) continue;
                uint32_t a, b;
                std::memcpy(&a, &out[size_t(i)], 4);
                std::memcpy(&b, &expected, 4);
                if (a != b) ++bad;
            }
            INFO(mola::dtype_name(t));
            CHECK(bad == 0);
        }
    }
}

TEST_CASE("kernels: dequant_rows on odd shapes and FP8 row slices", "[kernels]") {
    for (const Kernels* k : tables())
        for (DType t : kDTypes) {
            const TestMatrix m = make_matrix(t, 300, 201, 7);
            for (auto [first, count] : {std::pair<int64_t, int64_t>{0, 300}, {5, 250}, {127, 2}, {130, 170}}) {
                Matrix w = m.view().row_slice(first, count);
                // a sub-range of the slice's rows
                const int64_t r0 = count > 3 ? 3 : 0, nr = count - r0;
                std::vector<float> out(size_t(nr * m.cols));
                k->dequant_rows(w, r0, nr, out.data());
                int bad = 0;
                for (int64_t r = 0; r < nr; ++r)
                    for (int64_t c = 0; c < m.cols; ++c)
                        if (out[size_t(r * m.cols + c)] != float(m.value[size_t((first + r0 + r) * m.cols + c)]))
                            ++bad;
                INFO(k->isa << " " << mola::dtype_name(t) << " slice " << first << "+" << count);
                CHECK(bad == 0);
            }
        }
}

TEST_CASE("kernels: linear against a double reference", "[kernels]") {
    const std::pair<int64_t, int64_t> shapes[] = {{300, 200}, {1, 1}, {129, 257}, {7, 33}, {100, 700}, {16, 128}};
    for (const Kernels* k : tables())
        for (DType t : kDTypes)
            for (auto [rows, cols] : shapes) {
                const TestMatrix m = make_matrix(t, rows, cols, uint32_t(rows * 31 + cols));
                for (int64_t n : {1, 2, 5, 33})
                    for (int threads : {1, 2}) check_linear(*k, m, 0, rows, n, threads, kTol);
            }
}

TEST_CASE("kernels: linear with more tokens (several panels, partial last panel)", "[kernels]") {
    for (const Kernels* k : tables())
        for (DType t : kDTypes) {
            const TestMatrix m = make_matrix(t, 203, 300, 11);
            for (int64_t n : {8, 16, 17, 48, 70, 100}) check_linear(*k, m, 0, m.rows, n, 2, kTol);
        }
}

TEST_CASE("kernels: linear on FP8 row slices not aligned to the 128-row blocks", "[kernels]") {
    const TestMatrix m = make_matrix(DType::F8_E4M3, 400, 300, 3);
    for (const Kernels* k : tables())
        for (auto [first, count] : {std::pair<int64_t, int64_t>{5, 250}, {127, 2}, {130, 270}, {200, 1}, {1, 383}})
            for (int64_t n : {1, 2, 5, 33})
                for (int threads : {1, 2}) check_linear(*k, m, first, count, n, threads, kTol);
}

TEST_CASE("kernels: linear with no columns or no tokens", "[kernels]") {
    for (const Kernels* k : tables()) {
        Matrix m;
        m.dtype = DType::BF16;
        m.rows = 3;
        m.cols = 0;
        const uint16_t dummy = 0;
        m.data = &dummy;
        std::vector<float> y(6, 1.0f);
        const float x = 0;
        k->linear(m, &x, 2, y.data(), 1);
        for (float v : y) CHECK(v == 0.0f);
        y.assign(6, 1.0f);
        k->linear(m, &x, 0, y.data(), 2);
        for (float v : y) CHECK(v == 1.0f);
    }
}

TEST_CASE("kernels: unsupported weight dtypes are refused", "[kernels]") {
    for (const Kernels* k : tables()) {
        const int32_t data[4] = {1, 2, 3, 4};
        Matrix m;
        m.dtype = DType::I32;
        m.rows = 2;
        m.cols = 2;
        m.data = data;
        float x[4] = {1, 1, 1, 1}, y[4];
        INFO(k->isa);
        CHECK_THROWS_AS(k->linear(m, x, 1, y, 1), mola::Error);
        CHECK_THROWS_AS(k->linear_t(m, x, 1, y), mola::Error);
        CHECK_THROWS_AS(k->dequant_rows(m, 0, 1, y), mola::Error);
    }
}

TEST_CASE("kernels: linear_t against a double reference", "[kernels]") {
    const std::pair<int64_t, int64_t> shapes[] = {{200, 300}, {1, 1}, {129, 257}, {33, 7}, {512, 64}, {64, 100}};
    for (const Kernels* k : tables())
        for (DType t : kDTypes)
            for (auto [rows, cols] : shapes) {
                const TestMatrix m = make_matrix(t, rows, cols, uint32_t(rows * 17 + cols));
                for (int64_t n : {1, 2, 5, 33}) {
                    const auto x = random_floats(size_t(n * rows), uint32_t(77 + n));
                    std::vector<float> y(size_t(n * cols), std::nanf(""));
                    k->linear_t(m.view(), x.data(), n, y.data());
                    ErrorStats st;
                    for (int64_t i = 0; i < n; ++i)
                        for (int64_t c = 0; c < cols; ++c) {
                            double ref = 0, mag = 0;
                            for (int64_t r = 0; r < rows; ++r) {
                                const double p = double(x[size_t(i * rows + r)]) * m.value[size_t(r * cols + c)];
                                ref += p;
                                mag += std::fabs(p);
                            }
                            st.add(y[size_t(i * cols + c)], ref, mag);
                        }
                    INFO(k->isa << " " << mola::dtype_name(t) << " " << rows << " x " << cols << ", n " << n
                                << ": worst " << st.worst);
                    CHECK(st.worst <= 2e-6);
                }
            }
    // A row slice of an FP8 matrix (row0 = 70): the scales follow the absolute rows.
    const TestMatrix m = make_matrix(DType::F8_E4M3, 300, 200, 5);
    for (const Kernels* k : tables()) {
        const Matrix w = m.view().row_slice(70, 150);
        const auto x = random_floats(size_t(3 * 150), 9);
        std::vector<float> y(size_t(3 * 200));
        k->linear_t(w, x.data(), 3, y.data());
        ErrorStats st;
        for (int64_t i = 0; i < 3; ++i)
            for (int64_t c = 0; c < 200; ++c) {
                double ref = 0, mag = 0;
                for (int64_t r = 0; r < 150; ++r) {
                    const double p = double(x[size_t(i * 150 + r)]) * m.value[size_t((70 + r) * 200 + c)];
                    ref += p;
                    mag += std::fabs(p);
                }
                st.add(y[size_t(i * 200 + c)], ref, mag);
            }
        INFO(k->isa << ": worst " << st.worst);
        CHECK(st.worst <= 2e-6);
    }
}

TEST_CASE("kernels: dot and axpy", "[kernels]") {
    for (const Kernels* k : tables())
        for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 100, 1000, 4099}) {
            const auto a = random_floats(size_t(n), uint32_t(n + 1));
            const auto b = random_floats(size_t(n), uint32_t(n + 2));
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
                ref += double(a[size_t(i)]) * b[size_t(i)];
                mag += std::fabs(double(a[size_t(i)]) * b[size_t(i)]);
            }
            INFO(k->isa << " n " << n);
            CHECK(std::fabs(double(k->dot(a.data(), b.data(), n)) - ref) <= 2e-6 * mag + 1e-30);

            std::vector<float> y = b;
            y.push_back(12345.0f);  // a guard past the end
            k->axpy(0.37f, a.data(), y.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                const double r = double(b[size_t(i)]) + 0.37 * double(a[size_t(i)]);
                const double m = std::fabs(double(b[size_t(i)])) + std::fabs(0.37 * double(a[size_t(i)]));
                CHECK(std::fabs(double(y[size_t(i)]) - r) <= 2.5e-7 * m);
            }
            CHECK(y[size_t(n)] == 12345.0f);
        }
}
