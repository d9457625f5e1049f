/* Test and benchmark harness for kernels/cuda (docs/kernels-gpu.md).
 *
 *   nvcc -O3 -arch=sm_90 kernels/cuda/harness.cu kernels/cuda/fused_confidence.cu \
 *        kernels/cuda/block_attention.cu -o harness
 *   ./harness [--quick]          GPU: check every kernel against the CPU
 *                                references below, then time them
 *   ./harness --checks-only      the checks at awkward sizes, no timings (also
 *                                what the CPU emulation, kernels/cuda/emu/, runs)
 *   ./harness --cpu-ref DIR      no GPU needed: write deterministic inputs and
 *                                the CPU references' outputs to DIR, so
 *                                tests/test_kernels_cuda.py can hold these
 *                                references to the numpy ones
 *
 * One JSON object per line on stdout. Exit status 0 only if every check
 * passed. The CPU references are deliberately naive (double precision, one
 * loop per formula) so that they are easy to believe, not fast.
 *
 * Tolerances (why these: the kernels accumulate in f32 over up to 152k terms
 * and use expf/exp2f, whose errors are a few ulp; the references are double):
 *   fused confidence  top1: exact. p1, p2, prob: |d| <= 1e-4*|ref| + 1e-7.
 *                     neg_entropy: |d| <= 1e-4*(1+|ref|). token: must not be
 *                     excluded or have zero mass, and u must lie in its CDF
 *                     interval [C_{k-1}, C_k] widened by 1e-5 (exact token
 *                     equality is also counted and reported).
 *   block attention   |d| <= 1e-4 + 1e-3*|ref| per output element (f32 out
 *                     from the same f16/bf16 inputs the reference reads). */
#include "dgc_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// ---------------------------------------------------------------- utilities

static bool g_all_ok = true;

#define CUDA_OK(expr)                                                                                   \
    do {                                                                                                \
        cudaError_t e_ = (expr);                                                                        \
        if (e_ != cudaSuccess) {                                                                        \
            printf("{\"kind\":\"error\",\"where\":\"%s:%d\",\"error\":\"%s\"}\n", __FILE__, __LINE__, \
                   cudaGetErrorString(e_));                                                             \
            exit(2);                                                                                    \
        }                                                                                               \
    } while (0)

struct Rng {  // splitmix64: reproducible across compilers, no <random> distribution differences
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }  // [0,1)
    double normal() {
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
};

static double now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static bool write_file(const std::string &path, const void *data, size_t bytes) {
    FILE *f = fopen(path.c_str(), "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, bytes, f) == bytes;
    return fclose(f) == 0 && ok;
}

// ------------------------------------------------- fused confidence: reference

struct ConfRef {
    int32_t top1, token;
    double p1, p2, neg_entropy, prob;
};

// Straightforward two-pass computation in double, on the same f32 y the
// kernel forms (f32 division by T), so argmax and ties are comparable exactly.
static ConfRef confidence_ref(const float *x, int64_t vocab, float temperature, const double *u, int32_t excluded,
                              std::vector<double> *cdf_out = nullptr) {
    std::vector<float> y(vocab);
    for (int64_t i = 0; i < vocab; ++i) {
        float v = temperature > 0.0f ? x[i] / temperature : x[i];
        y[i] = (i == excluded) ? -INFINITY : v;
    }
    ConfRef r{-1, -1, NAN, NAN, NAN, NAN};
    float m = -INFINITY;
    for (int64_t i = 0; i < vocab; ++i)
        if (y[i] > m) { m = y[i]; r.top1 = (int32_t)i; }
    if (!(m > -INFINITY)) { r.top1 = -1; return r; }
    float second = vocab == 1 ? m : -INFINITY;  // one entry: its own runner-up
    for (int64_t i = 0; i < vocab; ++i)
        if (i != r.top1) second = std::max(second, y[i]);
    std::vector<double> e(vocab);
    double s = 0.0;
    for (int64_t i = 0; i < vocab; ++i) { e[i] = std::exp((double)y[i] - (double)m); s += e[i]; }
    r.p1 = 1.0 / s;
    r.p2 = std::exp((double)second - (double)m) / s;
    double ne = 0.0;
    for (int64_t i = 0; i < vocab; ++i)
        if (e[i] > 0.0) { double p = e[i] / s; ne += p * std::log(p); }
    r.neg_entropy = ne;
    r.token = r.top1;
    r.prob = r.p1;
    if (u) {
        double target = *u * s, cum = 0.0;
        int32_t tok = -1, last = -1;
        for (int64_t i = 0; i < vocab; ++i) {
            if (e[i] > 0.0) last = (int32_t)i;
            cum += e[i];
            if (tok < 0 && e[i] > 0.0 && cum > target) tok = (int32_t)i;
        }
        if (tok < 0) tok = last;
        r.token = tok;
        r.prob = e[tok] / s;
    }
    if (cdf_out) {
        cdf_out->resize(vocab);
        double cum = 0.0;
        for (int64_t i = 0; i < vocab; ++i) { cum += e[i]; (*cdf_out)[i] = cum / s; }
    }
    return r;
}

// Inputs: random normal rows (scale sets how peaked), plus planted cases the
// rules are about. Returns the excluded id used.
static int32_t make_confidence_inputs(int64_t rows, int64_t vocab, uint64_t seed, std::vector<float> &x,
                                      std::vector<double> &u) {
    Rng rng(seed);
    x.assign(rows * vocab, 0.0f);
    u.assign(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
        double scale = 1.0 + 4.0 * (r % 4);  // from flat to peaked rows
        for (int64_t i = 0; i < vocab; ++i) x[r * vocab + i] = (float)(scale * rng.normal());
        u[r] = rng.uniform();
    }
    const int32_t excluded = (int32_t)(vocab > 7 ? vocab - 7 : -1);  // -1: none
    auto at = [&](int64_t r, int64_t i) -> float & { return x[r * vocab + (i % vocab)]; };
    if (rows > 0) { at(0, 5) = 60.0f; at(0, vocab / 2) = 60.0f; }          // tie for the max: lowest index wins
    if (rows > 1 && excluded >= 0) { at(1, excluded) = 1e4f; u[1] = 0.0; }                 // the mask token is the max: never chosen
    if (rows > 2) for (int64_t i = 0; i < vocab; ++i) at(2, i) = -INFINITY;  // nothing finite
    if (rows > 3) { for (int64_t i = 0; i < vocab; ++i) at(3, i) = -INFINITY; at(3, vocab - 1) = 2.0f; u[3] = 0.999999; }
    if (rows > 4) { for (int64_t i = 0; i < vocab; i += 2) at(4, i) = -INFINITY; u[4] = 0.5; }  // -inf holes
    if (rows > 5) { for (int64_t i = 0; i < vocab; ++i) at(5, i) = 1.0f; u[5] = 0.999999999; }  // flat: all tie
    return excluded;
}

struct ConfCheck {
    int64_t rows = 0, bad = 0, token_exact = 0;
    double max_rel_p = 0.0, max_abs_negent = 0.0;
};

static void check_conf_row(const dgc_conf_row &g, const ConfRef &c, const std::vector<double> &cdf, const float *x,
                           float temperature, double u, bool sampling, int32_t excluded, ConfCheck &k) {
    ++k.rows;
    bool ok = g.top1 == c.top1;
    if (c.top1 < 0) {
        ok = ok && g.token == -1 && std::isnan(g.p1) && std::isnan(g.prob);
        if (!ok) ++k.bad;
        return;
    }
    auto close_p = [&](float got, double ref) {
        double d = std::fabs((double)got - ref);
        if (ref > 0) k.max_rel_p = std::max(k.max_rel_p, d / ref);
        return d <= 1e-4 * std::fabs(ref) + 1e-7;
    };
    ok = ok && close_p(g.p1, c.p1) && close_p(g.p2, c.p2);
    double dn = std::fabs((double)g.neg_entropy - c.neg_entropy);
    k.max_abs_negent = std::max(k.max_abs_negent, dn);
    ok = ok && dn <= 1e-4 * (1.0 + std::fabs(c.neg_entropy));
    if (sampling) {
        int32_t t = g.token;
        int64_t vocab = (int64_t)cdf.size();
        bool in_range = t >= 0 && t < vocab && t != excluded;
        if (in_range) {
            float yt = temperature > 0.0f ? x[t] / temperature : x[t];
            double lo = t > 0 ? cdf[t - 1] : 0.0, hi = cdf[t];
            in_range = yt > -INFINITY && hi > lo && lo <= u + 1e-5 && hi >= u - 1e-5;
            if (in_range) {
                double pref = hi - lo;
                ok = ok && std::fabs((double)g.prob - pref) <= 1e-4 * pref + 1e-7;
            }
        }
        ok = ok && in_range;
        if (t == c.token) ++k.token_exact;
    } else {
        ok = ok && g.token == g.top1 && g.prob == g.p1;
        ++k.token_exact;
    }
    if (!ok) {
        ++k.bad;
        if (k.bad <= 5)
            printf("{\"kind\":\"mismatch\",\"kernel\":\"fused_confidence\",\"gpu\":[%d,%d,%.9g,%.9g,%.9g,%.9g],"
                   "\"ref\":[%d,%d,%.9g,%.9g,%.9g,%.9g],\"u\":%.17g}\n",
                   g.top1, g.token, g.p1, g.p2, g.neg_entropy, g.prob, c.top1, c.token, c.p1, c.p2, c.neg_entropy,
                   c.prob, u);
    }
}

// ------------------------------------------------- block attention: reference

template <typename T> static float tofloat(T v);
template <> float tofloat<__half>(__half v) { return __half2float(v); }
template <> float tofloat<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> static T fromfloat(float v);
template <> __half fromfloat<__half>(float v) { return __float2half(v); }
template <> __nv_bfloat16 fromfloat<__nv_bfloat16>(float v) { return __float2bfloat16(v); }

struct AttnShape {
    int n_cand, n_q, n_prefix, n_head, n_kv_head, head_dim;
    size_t q_elems() const { return (size_t)n_cand * n_q * n_head * head_dim; }
    size_t prefix_elems() const { return (size_t)n_prefix * n_kv_head * head_dim; }
    size_t block_elems() const { return (size_t)n_cand * n_q * n_kv_head * head_dim; }
};

template <typename T>
struct AttnInputs {
    std::vector<T> q, kp, vp, kb, vb;
};

template <typename T>
static AttnInputs<T> make_attn_inputs(const AttnShape &s, uint64_t seed, float q_scale) {
    Rng rng(seed);
    AttnInputs<T> in;
    auto fill = [&](std::vector<T> &v, size_t n, float sc) {
        v.resize(n);
        for (size_t i = 0; i < n; ++i) v[i] = fromfloat<T>((float)(sc * rng.normal()));
    };
    fill(in.q, s.q_elems(), q_scale);
    fill(in.kp, s.prefix_elems(), 1.0f);
    fill(in.vp, s.prefix_elems(), 1.0f);
    fill(in.kb, s.block_elems(), 1.0f);
    fill(in.vb, s.block_elems(), 1.0f);
    return in;
}

// out[c,i,h,:] by the textbook formula: keys = prefix then candidate c's
// block, kv head h / G, softmax over all of them (no mask), double throughout.
template <typename T>
static void attention_ref_row(const AttnShape &s, const AttnInputs<T> &in, float scale, int c, int i, int h,
                              double *out) {
    const int D = s.head_dim, G = s.n_head / s.n_kv_head, kvh = h / G;
    const int n_kv = s.n_prefix + s.n_q;
    const T *q = &in.q[(((size_t)c * s.n_q + i) * s.n_head + h) * D];
    std::vector<double> sc(n_kv);
    double mx = -INFINITY;
    for (int j = 0; j < n_kv; ++j) {
        const T *k = j < s.n_prefix ? &in.kp[((size_t)j * s.n_kv_head + kvh) * D]
                                    : &in.kb[(((size_t)c * s.n_q + (j - s.n_prefix)) * s.n_kv_head + kvh) * D];
        double d = 0.0;
        for (int e = 0; e < D; ++e) d += (double)tofloat(q[e]) * (double)tofloat(k[e]);
        sc[j] = d * scale;
        mx = std::max(mx, sc[j]);
    }
    double z = 0.0;
    for (int j = 0; j < n_kv; ++j) { sc[j] = std::exp(sc[j] - mx); z += sc[j]; }
    for (int e = 0; e < D; ++e) out[e] = 0.0;
    for (int j = 0; j < n_kv; ++j) {
        const T *v = j < s.n_prefix ? &in.vp[((size_t)j * s.n_kv_head + kvh) * D]
                                    : &in.vb[(((size_t)c * s.n_q + (j - s.n_prefix)) * s.n_kv_head + kvh) * D];
        for (int e = 0; e < D; ++e) out[e] += sc[j] / z * (double)tofloat(v[e]);
    }
}

// ------------------------------------------------------------- GPU helpers

template <typename T>
static T *to_device(const std::vector<T> &v) {
    T *d = nullptr;
    if (v.empty()) return nullptr;
    CUDA_OK(cudaMalloc(&d, v.size() * sizeof(T)));
    CUDA_OK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

// Timing with an L2 flush before every launch: the H200's 50 MB L2 would
// otherwise hold a whole 8k-token prefix (16 MB) and flatter the kernel.
struct Timer {
    void *flush = nullptr;
    size_t flush_bytes = 256u << 20;
    cudaEvent_t a, b;
    Timer() {
        CUDA_OK(cudaMalloc(&flush, flush_bytes));
        CUDA_OK(cudaEventCreate(&a));
        CUDA_OK(cudaEventCreate(&b));
    }
    ~Timer() { cudaFree(flush); cudaEventDestroy(a); cudaEventDestroy(b); }
    template <typename F>
    double median_us(int iters, F launch) {
        std::vector<float> t;
        launch();  // warm-up: module load, first-touch
        CUDA_OK(cudaDeviceSynchronize());
        for (int it = 0; it < iters; ++it) {
            CUDA_OK(cudaMemsetAsync(flush, it & 0xff, flush_bytes));
            CUDA_OK(cudaEventRecord(a));
            launch();
            CUDA_OK(cudaEventRecord(b));
            CUDA_OK(cudaEventSynchronize(b));
            float ms = 0;
            CUDA_OK(cudaEventElapsedTime(&ms, a, b));
            t.push_back(ms * 1000.0f);
        }
        std::sort(t.begin(), t.end());
        return t[t.size() / 2];
    }
};

// ------------------------------------------------ fused confidence: GPU run

static void run_confidence(bool f16, int64_t rows, int64_t vocab, float temperature, bool sampling, bool timing,
                           int iters, Timer &timer, uint64_t seed) {
    std::vector<float> x;
    std::vector<double> u;
    int32_t excluded = make_confidence_inputs(rows, vocab, seed, x, u);
    std::vector<__half> xh;
    if (f16) {
        xh.resize(x.size());
        for (size_t i = 0; i < x.size(); ++i) { xh[i] = __float2half(x[i]); x[i] = __half2float(xh[i]); }
    }
    void *d_x = f16 ? (void *)to_device(xh) : (void *)to_device(x);
    double *d_u = to_device(u);
    dgc_conf_row *d_out = nullptr;
    CUDA_OK(cudaMalloc(&d_out, rows * sizeof(dgc_conf_row)));
    const double *draws = sampling ? d_u : nullptr;
    auto launch = [&]() {
        cudaError_t e = f16 ? dgc_cuda_fused_confidence_f16(d_x, rows, vocab, vocab, temperature, draws, excluded,
                                                            d_out, 0)
                            : dgc_cuda_fused_confidence_f32((const float *)d_x, rows, vocab, vocab, temperature,
                                                            draws, excluded, d_out, 0);
        CUDA_OK(e);
    };
    launch();
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<dgc_conf_row> got(rows);
    CUDA_OK(cudaMemcpy(got.data(), d_out, rows * sizeof(dgc_conf_row), cudaMemcpyDeviceToHost));

    ConfCheck k;
    double t_ref0 = now_us();
    std::vector<double> cdf;
    for (int64_t r = 0; r < rows; ++r) {
        ConfRef c = confidence_ref(&x[r * vocab], vocab, temperature, sampling ? &u[r] : nullptr, excluded, &cdf);
        check_conf_row(got[r], c, cdf, &x[r * vocab], temperature, u[r], sampling, excluded, k);
    }
    double t_ref = now_us() - t_ref0;
    bool ok = k.bad == 0;
    g_all_ok = g_all_ok && ok;
    printf("{\"kind\":\"check\",\"kernel\":\"fused_confidence\",\"dtype\":\"%s\",\"rows\":%lld,\"vocab\":%lld,"
           "\"temperature\":%g,\"sampling\":%s,\"bad_rows\":%lld,\"token_exact\":%lld,\"max_rel_p\":%.3g,"
           "\"max_abs_neg_entropy\":%.3g,\"pass\":%s}\n",
           f16 ? "f16" : "f32", (long long)rows, (long long)vocab, temperature, sampling ? "true" : "false",
           (long long)k.bad, (long long)k.token_exact, k.max_rel_p, k.max_abs_negent, ok ? "true" : "false");

    if (timing) {
        double kernel_us = timer.median_us(iters, launch);
        size_t bytes = rows * vocab * (f16 ? 2 : 4);
        void *h_pinned = nullptr;
        CUDA_OK(cudaMallocHost(&h_pinned, bytes));
        std::vector<char> h_pageable(bytes);
        double pinned_us = timer.median_us(iters, [&]() {
            CUDA_OK(cudaMemcpyAsync(h_pinned, d_x, bytes, cudaMemcpyDeviceToHost, 0));
        });
        double pageable_us = timer.median_us(std::max(3, iters / 4), [&]() {
            CUDA_OK(cudaMemcpy(h_pageable.data(), d_x, bytes, cudaMemcpyDeviceToHost));
        });
        CUDA_OK(cudaFreeHost(h_pinned));
        // The CPU side of the baseline is this file's naive double reference on
        // one thread (timed above, over all rows, tolerance checks included);
        // dgcode's numpy / C kernels are faster and are measured by dgcode bench.
        printf("{\"kind\":\"bench\",\"kernel\":\"fused_confidence\",\"dtype\":\"%s\",\"rows\":%lld,\"vocab\":%lld,"
               "\"sampling\":%s,\"kernel_us\":%.2f,\"d2h_pinned_us\":%.2f,\"d2h_pageable_us\":%.2f,"
               "\"cpu_ref_1thread_us\":%.1f,\"bytes_to_host_kernel\":%lld,\"bytes_to_host_copy\":%lld,"
               "\"kernel_read_GBps\":%.1f}\n",
               f16 ? "f16" : "f32", (long long)rows, (long long)vocab, sampling ? "true" : "false", kernel_us,
               pinned_us, pageable_us, t_ref, (long long)(rows * sizeof(dgc_conf_row)), (long long)bytes,
               bytes / kernel_us / 1e3);
    }
    cudaFree(d_x);
    cudaFree(d_u);
    cudaFree(d_out);
}

// ------------------------------------------------- block attention: GPU run

template <typename T>
static void run_attention(const char *dtype, const AttnShape &s, float q_scale, int check_rows, bool timing,
                          int iters, Timer &timer, uint64_t seed) {
    AttnInputs<T> in = make_attn_inputs<T>(s, seed, q_scale);
    T *dq = to_device(in.q), *dkp = to_device(in.kp), *dvp = to_device(in.vp), *dkb = to_device(in.kb),
      *dvb = to_device(in.vb);
    float *dout = nullptr;
    CUDA_OK(cudaMalloc(&dout, s.q_elems() * sizeof(float)));
    CUDA_OK(cudaMemset(dout, 0xff, s.q_elems() * sizeof(float)));  // NaN: an unwritten row fails the check
    const float scale = 1.0f / std::sqrt((float)s.head_dim);
    const bool is_bf16 = std::strcmp(dtype, "bf16") == 0;
    auto launch = [&]() {
        cudaError_t e = is_bf16 ? dgc_cuda_block_attention_bf16(dq, dkp, dvp, dkb, dvb, dout, s.n_cand, s.n_q,
                                                                 s.n_prefix, s.n_head, s.n_kv_head, s.head_dim,
                                                                 scale, 0)
                                : dgc_cuda_block_attention_f16(dq, dkp, dvp, dkb, dvb, dout, s.n_cand, s.n_q,
                                                                s.n_prefix, s.n_head, s.n_kv_head, s.head_dim, scale,
                                                                0);
        CUDA_OK(e);
    };
    launch();
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> got(s.q_elems());
    CUDA_OK(cudaMemcpy(got.data(), dout, got.size() * sizeof(float), cudaMemcpyDeviceToHost));

    // Every row when check_rows <= 0, else the first and last rows and a
    // random sample (a full double reference at 8k prefix x 256 x 28 heads
    // would take minutes on one core).
    const long long total_rows = (long long)s.n_cand * s.n_q * s.n_head;
    std::vector<long long> rows;
    if (check_rows <= 0 || check_rows >= total_rows) {
        for (long long r = 0; r < total_rows; ++r) rows.push_back(r);
    } else {
        Rng pick(seed ^ 0xabcdefull);
        rows.push_back(0);
        rows.push_back(total_rows - 1);
        while ((int)rows.size() < check_rows) rows.push_back((long long)(pick.next() % (uint64_t)total_rows));
    }
    std::vector<double> ref(s.head_dim);
    double max_abs = 0.0;
    long long bad = 0;
    for (long long R : rows) {
        int h = (int)(R % s.n_head), i = (int)((R / s.n_head) % s.n_q), c = (int)(R / ((long long)s.n_head * s.n_q));
        attention_ref_row(s, in, scale, c, i, h, ref.data());
        const float *g = &got[(size_t)R * s.head_dim];
        for (int e = 0; e < s.head_dim; ++e) {
            double d = std::fabs((double)g[e] - ref[e]);
            if (!(d <= 1e-4 + 1e-3 * std::fabs(ref[e]))) {  // NaN counts as bad
                if (++bad <= 3)
                    printf("{\"kind\":\"mismatch\",\"kernel\":\"block_attention\",\"cand\":%d,\"query\":%d,"
                           "\"head\":%d,\"dim\":%d,\"gpu\":%.9g,\"ref\":%.9g}\n",
                           c, i, h, e, g[e], ref[e]);
            }
            if (d > max_abs || std::isnan(d)) max_abs = std::isnan(d) ? INFINITY : d;
        }
    }
    bool ok = bad == 0;
    g_all_ok = g_all_ok && ok;
    printf("{\"kind\":\"check\",\"kernel\":\"block_attention\",\"dtype\":\"%s\",\"n_cand\":%d,\"n_q\":%d,"
           "\"n_prefix\":%d,\"n_head\":%d,\"n_kv_head\":%d,\"head_dim\":%d,\"q_scale\":%g,\"rows_checked\":%zu,"
           "\"bad_elements\":%lld,\"max_abs_err\":%.3g,\"pass\":%s}\n",
           dtype, s.n_cand, s.n_q, s.n_prefix, s.n_head, s.n_kv_head, s.head_dim, q_scale, rows.size(), bad, max_abs,
           ok ? "true" : "false");

    if (timing) {
        double us = timer.median_us(iters, launch);
        const double n_kv = (double)s.n_prefix + s.n_q;
        const double flops = 4.0 * s.n_cand * s.n_q * s.n_head * n_kv * s.head_dim;
        // Minimum traffic: prefix KV once, each candidate's block KV and Q, f32 out.
        const double bytes = 2.0 * sizeof(T) * (s.prefix_elems() + s.block_elems()) + sizeof(T) * s.q_elems() +
                             4.0 * s.q_elems();
        printf("{\"kind\":\"bench\",\"kernel\":\"block_attention\",\"dtype\":\"%s\",\"n_cand\":%d,\"n_q\":%d,"
               "\"n_prefix\":%d,\"n_head\":%d,\"n_kv_head\":%d,\"head_dim\":%d,\"kernel_us\":%.2f,\"TFLOPs\":%.2f,"
               "\"min_bytes_GBps\":%.1f}\n",
               dtype, s.n_cand, s.n_q, s.n_prefix, s.n_head, s.n_kv_head, s.head_dim, us, flops / us / 1e6,
               bytes / us / 1e3);
    }
    cudaFree(dq); cudaFree(dkp); cudaFree(dvp); cudaFree(dkb); cudaFree(dvb); cudaFree(dout);
}

// ------------------------------------------------------------ --cpu-ref DIR

static int cpu_ref(const std::string &dir) {
    bool ok = true;
    // Fused confidence: two vocabularies (one takes the <= 32-entry path), greedy and sampled.
    const struct { int64_t rows, vocab; float temperature; } cases[] = {{8, 1000, 0.7f}, {6, 20, 1.0f}};
    for (int ci = 0; ci < 2; ++ci) {
        const auto &cs = cases[ci];
        std::vector<float> x;
        std::vector<double> u;
        int32_t excluded = make_confidence_inputs(cs.rows, cs.vocab, 1234 + ci, x, u);
        std::vector<dgc_conf_row> greedy(cs.rows), sampled(cs.rows);
        for (int64_t r = 0; r < cs.rows; ++r) {
            for (int mode = 0; mode < 2; ++mode) {
                ConfRef c = confidence_ref(&x[r * cs.vocab], cs.vocab, cs.temperature, mode ? &u[r] : nullptr,
                                           excluded);
                dgc_conf_row &o = mode ? sampled[r] : greedy[r];
                o = {c.top1, c.token, (float)c.p1, (float)c.p2, (float)c.neg_entropy, (float)c.prob};
            }
        }
        std::string p = dir + "/conf" + std::to_string(ci);
        ok = ok && write_file(p + "_logits.f32", x.data(), x.size() * 4) &&
             write_file(p + "_draws.f64", u.data(), u.size() * 8) &&
             write_file(p + "_greedy.bin", greedy.data(), greedy.size() * sizeof(dgc_conf_row)) &&
             write_file(p + "_sampled.bin", sampled.data(), sampled.size() * sizeof(dgc_conf_row));
        printf("{\"kind\":\"cpu_ref\",\"kernel\":\"fused_confidence\",\"prefix\":\"conf%d\",\"rows\":%lld,"
               "\"vocab\":%lld,\"temperature\":%.9g,\"excluded\":%d,\"row_bytes\":%zu}\n",
               ci, (long long)cs.rows, (long long)cs.vocab, cs.temperature, excluded, sizeof(dgc_conf_row));
    }
    // Block attention: odd sizes, GQA 7:1, three candidates sharing a prefix; f16 and bf16.
    AttnShape s{3, 5, 11, 14, 2, 64};
    const float scale = 1.0f / std::sqrt((float)s.head_dim);
    for (int bf = 0; bf < 2; ++bf) {
        std::vector<uint16_t> q, kp, vp, kb, vb;
        std::vector<float> out(s.q_elems());
        auto dump = [&](auto &in) {
            auto bits = [](const auto &v, std::vector<uint16_t> &dst) {
                dst.resize(v.size());
                std::memcpy(dst.data(), v.data(), v.size() * 2);
            };
            bits(in.q, q); bits(in.kp, kp); bits(in.vp, vp); bits(in.kb, kb); bits(in.vb, vb);
            std::vector<double> row(s.head_dim);
            for (int c = 0; c < s.n_cand; ++c)
                for (int i = 0; i < s.n_q; ++i)
                    for (int h = 0; h < s.n_head; ++h) {
                        attention_ref_row(s, in, scale, c, i, h, row.data());
                        for (int e = 0; e < s.head_dim; ++e)
                            out[(((size_t)c * s.n_q + i) * s.n_head + h) * s.head_dim + e] = (float)row[e];
                    }
        };
        if (bf) { auto in = make_attn_inputs<__nv_bfloat16>(s, 99, 3.0f); dump(in); }
        else { auto in = make_attn_inputs<__half>(s, 98, 3.0f); dump(in); }
        std::string p = dir + "/attn_" + (bf ? "bf16" : "f16");
        ok = ok && write_file(p + "_q.u16", q.data(), q.size() * 2) &&
             write_file(p + "_kp.u16", kp.data(), kp.size() * 2) &&
             write_file(p + "_vp.u16", vp.data(), vp.size() * 2) &&
             write_file(p + "_kb.u16", kb.data(), kb.size() * 2) &&
             write_file(p + "_vb.u16", vb.data(), vb.size() * 2) &&
             write_file(p + "_out.f32", out.data(), out.size() * 4);
        printf("{\"kind\":\"cpu_ref\",\"kernel\":\"block_attention\",\"prefix\":\"attn_%s\",\"n_cand\":%d,"
               "\"n_q\":%d,\"n_prefix\":%d,\"n_head\":%d,\"n_kv_head\":%d,\"head_dim\":%d,\"scale\":%.9g}\n",
               bf ? "bf16" : "f16", s.n_cand, s.n_q, s.n_prefix, s.n_head, s.n_kv_head, s.head_dim, scale);
    }
    return ok ? 0 : 3;
}

// -------------------------------------------------------------------- main

int main(int argc, char **argv) {
    bool quick = false, checks_only = false;
    for (int a = 1; a < argc; ++a) {
        if (!std::strcmp(argv[a], "--cpu-ref") && a + 1 < argc) return cpu_ref(argv[a + 1]);
        if (!std::strcmp(argv[a], "--quick")) quick = true;
        else if (!std::strcmp(argv[a], "--checks-only")) checks_only = true;
        else {
            fprintf(stderr, "usage: %s [--quick] [--checks-only] | --cpu-ref DIR\n", argv[0]);
            return 64;
        }
    }
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("{\"kind\":\"error\",\"error\":\"no CUDA device\"}\n");
        return 2;
    }
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    printf("{\"kind\":\"device\",\"name\":\"%s\",\"sm\":\"%d%d\",\"sms\":%d,\"l2_MB\":%.1f,\"mem_GB\":%.1f}\n",
           prop.name, prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0,
           prop.totalGlobalMem / 1073741824.0);
    fflush(stdout);
    Timer timer;
    const int iters = quick ? 5 : 20;

    // ---- correctness at awkward sizes (no timing) ----
    for (int f16 = 0; f16 < 2; ++f16)
        for (int samp = 0; samp < 2; ++samp) {
            run_confidence(f16, 3, 1, 1.0f, samp, false, 0, timer, 5 + samp);          // one entry
            run_confidence(f16, 9, 20, 1.0f, samp, false, 0, timer, 10 + samp);        // <= 32: single-warp path
            run_confidence(f16, 9, 33, 1.0f, samp, false, 0, timer, 15 + samp);        // one refinement level
            run_confidence(f16, 9, 1000, 0.7f, samp, false, 0, timer, 20 + samp);      // small-block kernel
            run_confidence(f16, 9, 32001, 1.3f, samp, false, 0, timer, 30 + samp);     // not a multiple of anything
            if (!quick)  // --quick: the CPU emulation's budget; 32,001 already takes three refinement levels
                run_confidence(f16, 7, 151936, 0.0f, samp, false, 0, timer, 40 + samp);  // greedy scaling (T=0)
        }
    const AttnShape small_shapes[] = {
        {1, 1, 0, 1, 1, 64},    {1, 7, 0, 4, 2, 64},     {3, 5, 11, 14, 2, 64},
        {2, 33, 77, 28, 4, 128}, {1, 32, 100, 16, 16, 128},
    };
    for (const AttnShape &s : small_shapes) {
        run_attention<__half>("f16", s, 1.0f, 0, false, 0, timer, 7);
        run_attention<__nv_bfloat16>("bf16", s, 1.0f, 0, false, 0, timer, 8);
        if (!quick || s.n_q < 32) run_attention<__half>("f16", s, 4.0f, 0, false, 0, timer, 9);  // peaked: rescaling
    }
    fflush(stdout);
    if (checks_only) {
        printf("{\"kind\":\"summary\",\"all_checks_pass\":%s}\n", g_all_ok ? "true" : "false");
        return g_all_ok ? 0 : 1;
    }

    // ---- Dream-7B-like shapes: check sampled rows, then time ----
    for (int samp = 0; samp < 2; ++samp)
        for (int64_t rows : {1, 33, 256}) {
            if (quick && rows == 1) continue;
            run_confidence(false, rows, 151936, 1.0f, samp, true, iters, timer, 100 + rows);
        }
    run_confidence(true, 33, 151936, 1.0f, true, true, iters, timer, 200);
    fflush(stdout);
    for (int prefix : {512, 2048, 8192})
        for (int block : {32, 256}) {
            AttnShape s{1, block, prefix, 28, 4, 128};
            run_attention<__half>("f16", s, 1.0f, quick ? 16 : 64, true, iters, timer, prefix + block);
            if (!quick || prefix == 2048) run_attention<__nv_bfloat16>("bf16", s, 1.0f, 16, true, iters, timer, 5);
            fflush(stdout);
        }
    for (int cand : {4, 8}) {  // K candidate blocks sharing one prefix
        AttnShape s{cand, 32, 2048, 28, 4, 128};
        run_attention<__half>("f16", s, 1.0f, 32, true, iters, timer, 300 + cand);
    }
    {  // Qwen2.5-0.5B's attention shape
        AttnShape s{1, 32, 2048, 14, 2, 64};
        run_attention<__half>("f16", s, 1.0f, 32, true, iters, timer, 400);
    }
    printf("{\"kind\":\"summary\",\"all_checks_pass\":%s}\n", g_all_ok ? "true" : "false");
    return g_all_ok ? 0 : 1;
}
