// Fused confidence for Apple GPUs: the Metal twin of kernels/cuda/fused_confidence.cu
// (same algorithm, same entry-point names, same 24-byte result record; see
// docs/kernels-gpu.md). NOT COMPILED OR RUN YET: no Metal toolchain on the Linux
// machine this was written on.
//
// Differences from the CUDA file, and why:
//  - Metal GPUs have no double: draws arrive as float and the inverse-CDF target
//    and running sums are float. The chosen token can differ from the CUDA one
//    only where the draw lies within ~1e-6 of a CDF boundary.
//  - Metal compiles with fast math by default, which may assume no infinities;
//    -inf is how excluded tokens are expressed, so the library must be built with
//    `xcrun metal -fno-fast-math` (and exp is precise::exp regardless).
//  - Indices are 32-bit (vocabularies are < 2^31); the row stride is 64-bit.
//
// One threadgroup per row; simdgroup reductions (simd_shuffle_down) replace warp
// shuffles, threadgroup memory the CUDA shared arrays.

#include <metal_stdlib>
using namespace metal;

#ifndef INT_MAX
#define INT_MAX 2147483647
#endif

struct dgc_conf_row {
    int top1;
    int token;
    float p1;
    float p2;
    float neg_entropy;
    float prob;
};

struct dgc_conf_params {
    ulong row_stride;    // elements between rows
    uint vocab;
    float temperature;   // <= 0: logits as they are
    int excluded;        // -1: none
    uint has_draws;      // 0: greedy
};

constant constexpr uint SIMD = 32;

struct SoftmaxState { float m; float s; float a; };
struct Top2 { float v1; int i1; float v2; };

static inline SoftmaxState merge(SoftmaxState x, SoftmaxState y) {
    // An empty side must not be rescaled: (-inf) - (-inf) is NaN.
    if (y.s == 0.0f) return x;
    if (x.s == 0.0f) return y;
    float m = max(x.m, y.m);
    float fx = precise::exp(x.m - m), fy = precise::exp(y.m - m);
    SoftmaxState r;
    r.m = m;
    r.s = fx * x.s + fy * y.s;
    r.a = fx * (x.a + (x.m - m) * x.s) + fy * (y.a + (y.m - m) * y.s);
    return r;
}

static inline Top2 merge(Top2 x, Top2 y) {
    Top2 r;
    if (y.v1 > x.v1 || (y.v1 == x.v1 && y.i1 < x.i1)) { r.v1 = y.v1; r.i1 = y.i1; r.v2 = max(x.v1, y.v2); }
    else { r.v1 = x.v1; r.i1 = x.i1; r.v2 = max(x.v2, y.v1); }
    return r;
}

static inline SoftmaxState simd_reduce(SoftmaxState x) {
    for (ushort o = SIMD / 2; o > 0; o >>= 1) {
        SoftmaxState y = {simd_shuffle_down(x.m, o), simd_shuffle_down(x.s, o), simd_shuffle_down(x.a, o)};
        x = merge(x, y);
    }
    return x;  // valid in lane 0
}

static inline Top2 simd_reduce(Top2 x) {
    for (ushort o = SIMD / 2; o > 0; o >>= 1) {
        Top2 y = {simd_shuffle_down(x.v1, o), simd_shuffle_down(x.i1, o), simd_shuffle_down(x.v2, o)};
        x = merge(x, y);
    }
    return x;
}

template <typename T>
static inline float load_y(device const T *row, uint i, constant dgc_conf_params &p) {
    if ((int)i == p.excluded) return -INFINITY;
    float v = float(row[i]);
    return p.temperature > 0.0f ? v / p.temperature : v;  // a division, as numpy (see the CUDA file)
}

template <typename T, uint NT>
kernel void fused_confidence(device const T *logits [[buffer(0)]],
                             constant dgc_conf_params &p [[buffer(1)]],
                             device const float *draws [[buffer(2)]],
                             device dgc_conf_row *out [[buffer(3)]],
                             uint row [[threadgroup_position_in_grid]],
                             uint tid [[thread_index_in_threadgroup]],
                             uint lane [[thread_index_in_simdgroup]],
                             uint sg [[simdgroup_index_in_threadgroup]]) {
    constexpr uint NW = NT / SIMD;
    threadgroup SoftmaxState tg_soft[NW];
    threadgroup Top2 tg_top[NW];
    threadgroup float tg_slice[NW];
    threadgroup uint tg_lo, tg_hi;
    threadgroup float tg_target;

    device const T *x = logits + (ulong)row * p.row_stride;
    const uint vocab = p.vocab;

    // ---- pass 1: online softmax statistics and top-2 ----
    SoftmaxState st = {-INFINITY, 0.0f, 0.0f};
    Top2 top = {-INFINITY, INT_MAX, -INFINITY};
    for (uint i = tid; i < vocab; i += NT) {
        float y = load_y(x, i, p);
        if (y > top.v1) { top.v2 = top.v1; top.v1 = y; top.i1 = (int)i; }
        else top.v2 = max(top.v2, y);
        if (y > -INFINITY) {
            if (y > st.m) {
                if (st.s > 0.0f) {
                    float f = precise::exp(st.m - y);
                    st.a = f * (st.a + (st.m - y) * st.s);
                    st.s *= f;
                }
                st.m = y;
            }
            float d = y - st.m;
            float e = precise::exp(d);
            st.s += e;
            st.a += e * d;
        }
    }
    st = simd_reduce(st);
    top = simd_reduce(top);
    if (lane == 0) { tg_soft[sg] = st; tg_top[sg] = top; }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (sg == 0) {
        st = lane < NW ? tg_soft[lane] : SoftmaxState{-INFINITY, 0.0f, 0.0f};
        top = lane < NW ? tg_top[lane] : Top2{-INFINITY, INT_MAX, -INFINITY};
        st = simd_reduce(st);
        top = simd_reduce(top);
        if (lane == 0) { tg_soft[0] = st; tg_top[0] = top; }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    st = tg_soft[0];
    top = tg_top[0];

    if (st.s == 0.0f) {
        if (tid == 0) out[row] = dgc_conf_row{-1, -1, NAN, NAN, NAN, NAN};
        return;
    }
    const float m = st.m;
    const float inv_s = 1.0f / st.s;
    int token = top.i1;
    float prob = inv_s;

    // ---- sampling: hierarchical inverse CDF, as in the CUDA file ----
    if (p.has_draws != 0) {
        if (tid == 0) { tg_lo = 0; tg_hi = vocab; tg_target = -1.0f; }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        bool first_level = true;
        for (;;) {
            const uint lo = tg_lo, hi = tg_hi;
            const uint len = hi - lo;
            if (len <= SIMD) break;
            const uint slice = (len + NW - 1) / NW;
            const uint a = lo + sg * slice;
            const uint b = min(a + slice, hi);
            float part = 0.0f;
            for (uint i = a + lane; i < b; i += SIMD) part += precise::exp(load_y(x, i, p) - m);
            part = simd_sum(part);
            if (lane == 0) tg_slice[sg] = part;
            threadgroup_barrier(mem_flags::mem_threadgroup);
            if (tid == 0) {
                float target = tg_target;
                if (first_level) {
                    float total = 0.0f;
                    for (uint w = 0; w < NW; ++w) total += tg_slice[w];
                    target = draws[row] * total;
                }
                float cum = 0.0f;
                int pick = -1, last_nonzero = -1;
                for (uint w = 0; w < NW; ++w) {
                    float sw = tg_slice[w];
                    if (sw > 0.0f) last_nonzero = (int)w;
                    if (pick < 0 && sw > 0.0f && cum + sw > target) pick = (int)w;
                    if (pick < 0) cum += sw;
                }
                float local;
                if (pick >= 0) local = max(target - cum, 0.0f);
                else { pick = last_nonzero; local = tg_slice[pick]; }
                uint na = lo + (uint)pick * slice;
                tg_lo = na; tg_hi = min(na + slice, hi); tg_target = local;
            }
            first_level = false;
            threadgroup_barrier(mem_flags::mem_threadgroup);
        }
        if (sg == 0) {
            const uint lo = tg_lo, hi = tg_hi;
            float target = tg_target;
            float e = lo + lane < hi ? precise::exp(load_y(x, lo + lane, p) - m) : 0.0f;
            if (first_level) target = draws[row] * simd_sum(e);
            float pre = simd_prefix_inclusive_sum(e);
            // First lane past the target, else the last lane with mass (rounding overshoot).
            uint hit = simd_min((e > 0.0f && pre > target) ? lane : SIMD);
            int last = simd_max((e > 0.0f) ? (int)lane : -1);
            uint k = hit < SIMD ? hit : (uint)last;
            if (lane == 0) {
                token = (int)(lo + k);
                prob = precise::exp(load_y(x, (uint)token, p) - m) * inv_s;
            }
        }
    }
    if (tid == 0) {
        out[row] = dgc_conf_row{top.i1, token, inv_s, vocab == 1 ? inv_s : precise::exp(top.v2 - m) * inv_s,
                                st.a * inv_s - precise::log(st.s), prob};
    }
}

// Entry points: the CUDA file's names. The host picks *_small below 8192 entries.
template [[host_name("dgc_fused_confidence_f32")]] kernel void fused_confidence<float, 1024>(
    device const float *, constant dgc_conf_params &, device const float *, device dgc_conf_row *, uint, uint, uint,
    uint);
template [[host_name("dgc_fused_confidence_f16")]] kernel void fused_confidence<half, 1024>(
    device const half *, constant dgc_conf_params &, device const float *, device dgc_conf_row *, uint, uint, uint,
    uint);
template [[host_name("dgc_fused_confidence_f32_small")]] kernel void fused_confidence<float, 256>(
    device const float *, constant dgc_conf_params &, device const float *, device dgc_conf_row *, uint, uint, uint,
    uint);
template [[host_name("dgc_fused_confidence_f16_small")]] kernel void fused_confidence<half, 256>(
    device const half *, constant dgc_conf_params &, device const float *, device dgc_conf_row *, uint, uint, uint,
    uint);
