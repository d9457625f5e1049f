/* Fused confidence: per row of device-resident logits, the handful of numbers a
 * denoising step needs, in one launch, so rows*24 bytes cross PCIe instead of
 * rows*vocab*4 (33 x 151,936 f32 logits are 20 MB; their results 792 bytes).
 * Contract in dgc_kernels.h; numerics and launch shape in docs/kernels-gpu.md.
 *
 * One thread block per row. Pass 1 streams the row once, each thread keeping
 * an online (max, sum exp, sum exp*(y-max)) triple and a (top value, its
 * index, runner-up value) triple; block reductions combine them. The triple
 * gives the entropy without a second pass: with S = sum e^(y-m) and
 * A = sum e^(y-m)(y-m), sum p log p = A/S - log S.
 * Sampling (draws != NULL) then locates the inverse-CDF crossing by
 * hierarchical refinement instead of a full-row scan: the block splits the
 * current range into one slice per warp, sums exp per slice, picks the slice
 * holding the crossing, and repeats on it until <= 32 entries remain, which
 * one warp scans. Each level re-reads only its range, so the whole search
 * reads about 1.03x the row (152k -> 4.7k -> 149 -> 5 with 32 warps), mostly
 * from L2 right after pass 1, and needs no per-row scratch in global memory. */
#include "dgc_kernels.h"
#include "dgc_launch.h"

#include <cuda_fp16.h>
#include <climits>
#include <math.h>

namespace {

constexpr int WARP = 32;

__device__ __forceinline__ float load_logit(const float *p) { return __ldg(p); }
__device__ __forceinline__ float load_logit(const __half *p) { return __half2float(__ldg(p)); }

struct SoftmaxState {
    float m;  // running max of finite y
    float s;  // sum exp(y - m)
    float a;  // sum exp(y - m) * (y - m)
};

struct Top2 {
    float v1;  // best value
    int i1;    // its lowest index (INT_MAX while none seen: loses every tie)
    float v2;  // runner-up value (a tie for the best counts as a runner-up)
};

// Merging an empty state must not touch the other: (-inf) - (-inf) is NaN.
__device__ __forceinline__ SoftmaxState merge(SoftmaxState x, SoftmaxState y) {
    if (y.s == 0.0f) return x;
    if (x.s == 0.0f) return y;
    float m = fmaxf(x.m, y.m);
    float fx = expf(x.m - m), fy = expf(y.m - m);
    SoftmaxState r;
    r.m = m;
    r.s = fx * x.s + fy * y.s;
    r.a = fx * (x.a + (x.m - m) * x.s) + fy * (y.a + (y.m - m) * y.s);
    return r;
}

__device__ __forceinline__ Top2 merge(Top2 x, Top2 y) {
    Top2 r;
    if (y.v1 > x.v1 || (y.v1 == x.v1 && y.i1 < x.i1)) {
        r.v1 = y.v1; r.i1 = y.i1; r.v2 = fmaxf(x.v1, y.v2);
    } else {
        r.v1 = x.v1; r.i1 = x.i1; r.v2 = fmaxf(x.v2, y.v1);
    }
    return r;
}

__device__ __forceinline__ SoftmaxState shfl_down(SoftmaxState x, int o) {
    return {__shfl_down_sync(0xffffffffu, x.m, o), __shfl_down_sync(0xffffffffu, x.s, o),
            __shfl_down_sync(0xffffffffu, x.a, o)};
}
__device__ __forceinline__ Top2 shfl_down(Top2 x, int o) {
    return {__shfl_down_sync(0xffffffffu, x.v1, o), __shfl_down_sync(0xffffffffu, x.i1, o),
            __shfl_down_sync(0xffffffffu, x.v2, o)};
}

template <typename S>
__device__ __forceinline__ S warp_reduce(S x) {
    for (int o = WARP / 2; o > 0; o >>= 1) x = merge(x, shfl_down(x, o));
    return x;  // valid in lane 0
}

__device__ __forceinline__ float warp_sum(float x) {
    for (int o = WARP / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;  // valid in every lane
}

template <typename T>
__device__ __forceinline__ float load_y(const T *row, int64_t i, float temperature, int32_t excluded) {
    if (i == excluded) return -INFINITY;
    float v = load_logit(row + i);
    // A true division, not a multiply by 1/T: numpy divides, and y's ties and
    // argmax must be numpy's bit for bit.
    return temperature > 0.0f ? __fdiv_rn(v, temperature) : v;
}

template <typename T, int NT>
__device__ void fused_confidence_row(const T *__restrict__ logits, int64_t vocab, int64_t row_stride,
                                     float temperature, const double *__restrict__ draws,
                                     int32_t excluded, dgc_conf_row *__restrict__ out) {
    static_assert(NT % WARP == 0 && NT <= 1024, "block size");
    constexpr int NW = NT / WARP;
    __shared__ SoftmaxState sm_soft[NW];
    __shared__ Top2 sm_top[NW];
    __shared__ float sm_slice[NW];
    __shared__ int64_t sm_lo, sm_hi;
    __shared__ double sm_target;

    const int64_t r = blockIdx.x;
    const T *row = logits + r * row_stride;
    const int tid = threadIdx.x, lane = tid % WARP, warp = tid / WARP;

    // ---- pass 1: online softmax statistics and top-2 ----
    SoftmaxState st = {-INFINITY, 0.0f, 0.0f};
    Top2 top = {-INFINITY, INT_MAX, -INFINITY};
    for (int64_t i = tid; i < vocab; i += NT) {
        float y = load_y(row, i, temperature, excluded);
        // Per thread, indices only grow, so strict > keeps the lowest index of a tie.
        if (y > top.v1) { top.v2 = top.v1; top.v1 = y; top.i1 = (int)i; }
        else top.v2 = fmaxf(top.v2, y);
        if (y > -INFINITY) {
            if (y > st.m) {
                // Rebase onto the new max; skipped for the first finite entry
                // because (-inf - y) * 0 would be NaN.
                if (st.s > 0.0f) {
                    float f = expf(st.m - y);
                    st.a = f * (st.a + (st.m - y) * st.s);
                    st.s *= f;
                }
                st.m = y;
            }
            float d = y - st.m;
            float e = expf(d);
            st.s += e;
            st.a += e * d;
        }
    }
    st = warp_reduce(st);
    top = warp_reduce(top);
    if (lane == 0) { sm_soft[warp] = st; sm_top[warp] = top; }
    __syncthreads();
    if (warp == 0) {
        st = lane < NW ? sm_soft[lane] : SoftmaxState{-INFINITY, 0.0f, 0.0f};
        top = lane < NW ? sm_top[lane] : Top2{-INFINITY, INT_MAX, -INFINITY};
        st = warp_reduce(st);
        top = warp_reduce(top);
        if (lane == 0) { sm_soft[0] = st; sm_top[0] = top; }
    }
    __syncthreads();
    st = sm_soft[0];
    top = sm_top[0];

    if (st.s == 0.0f) {  // no finite entry: nothing can be chosen
        if (tid == 0) {
            dgc_conf_row o;
            o.top1 = -1; o.token = -1;
            o.p1 = o.p2 = o.neg_entropy = o.prob = NAN;
            out[r] = o;
        }
        return;
    }
    const float m = st.m;
    const float inv_s = 1.0f / st.s;
    const float p1 = inv_s;  // top.v1 == m
    int32_t token = top.i1;
    float prob = p1;

    // ---- sampling: hierarchical inverse CDF ----
    if (draws != nullptr) {
        if (tid == 0) { sm_lo = 0; sm_hi = vocab; sm_target = -1.0; }
        __syncthreads();
        bool first_level = true;
        for (;;) {
            const int64_t lo = sm_lo, hi = sm_hi;
            const int64_t len = hi - lo;
            if (len <= WARP) break;
            const int64_t slice = (len + NW - 1) / NW;
            const int64_t a = lo + warp * slice;
            const int64_t b = a + slice < hi ? a + slice : hi;
            float part = 0.0f;
            for (int64_t i = a + lane; i < b; i += WARP) part += expf(load_y(row, i, temperature, excluded) - m);
            part = warp_sum(part);
            if (lane == 0) sm_slice[warp] = part;
            __syncthreads();
            if (tid == 0) {
                double target = sm_target;
                if (first_level) {
                    // The target uses this level's own total, so the first
                    // choice is consistent with the sums it is compared to.
                    double total = 0.0;
                    for (int w = 0; w < NW; ++w) total += sm_slice[w];
                    target = draws[r] * total;
                }
                double cum = 0.0;
                int pick = -1, last_nonzero = -1;
                for (int w = 0; w < NW; ++w) {
                    double sw = sm_slice[w];
                    if (sw > 0.0) last_nonzero = w;
                    if (pick < 0 && sw > 0.0 && cum + sw > target) pick = w;
                    if (pick < 0) cum += sw;
                }
                double local;
                if (pick >= 0) {
                    local = target - cum;
                    if (local < 0.0) local = 0.0;
                } else {
                    // Rounding put the target past every slice: take the last
                    // slice with mass, aiming at its end.
                    pick = last_nonzero;
                    local = (double)sm_slice[pick];
                }
                // A refined slice re-sums in another order and may come out a
                // hair smaller than `local`; the final warp scan's fallback
                // (last non-zero entry) covers that case.
                int64_t na = lo + pick * slice;
                int64_t nb = na + slice < hi ? na + slice : hi;
                sm_lo = na; sm_hi = nb; sm_target = local;
            }
            first_level = false;
            __syncthreads();
        }
        if (warp == 0) {
            const int64_t lo = sm_lo, hi = sm_hi;
            double target = sm_target;
            if (first_level) {
                // vocab <= 32: no level ran, the total is this warp's sum.
                float e0 = lo + lane < hi ? expf(load_y(row, lo + lane, temperature, excluded) - m) : 0.0f;
                target = draws[r] * (double)warp_sum(e0);
            }
            float e = lo + lane < hi ? expf(load_y(row, lo + lane, temperature, excluded) - m) : 0.0f;
            float pre = e;  // inclusive scan across the warp
            for (int o = 1; o < WARP; o <<= 1) {
                float t = __shfl_up_sync(0xffffffffu, pre, o);
                if (lane >= o) pre += t;
            }
            unsigned hit = __ballot_sync(0xffffffffu, e > 0.0f && (double)pre > target);
            unsigned nonzero = __ballot_sync(0xffffffffu, e > 0.0f);
            int k;
            if (hit) k = __ffs(hit) - 1;
            else k = 31 - __clz(nonzero);  // nonzero is never empty: the range was picked for its mass
            if (lane == 0) {
                token = (int32_t)(lo + k);
                prob = expf(load_y(row, token, temperature, excluded) - m) * inv_s;
            }
        }
    }
    if (tid == 0) {
        dgc_conf_row o;
        o.top1 = top.i1;
        o.token = token;
        o.p1 = p1;
        // -inf runner-up gives 0; a one-entry vocabulary is its own runner-up
        // (numpy's partition, and the CPU kernel, give p2 == p1 there).
        o.p2 = vocab == 1 ? p1 : expf(top.v2 - m) * inv_s;
        o.neg_entropy = st.a * inv_s - logf(st.s);
        o.prob = prob;
        out[r] = o;
    }
}

constexpr int NT_LARGE = 1024;  // vocabularies of 32k-256k: enough loads in flight per SM
constexpr int NT_SMALL = 256;

}  // namespace

extern "C" {

// Entry points named as in kernels/metal/fused_confidence.metal.
__global__ void __launch_bounds__(NT_LARGE)
dgc_fused_confidence_f32(const float *logits, int64_t vocab, int64_t row_stride, float temperature,
                         const double *draws, int32_t excluded, dgc_conf_row *out) {
    fused_confidence_row<float, NT_LARGE>(logits, vocab, row_stride, temperature, draws, excluded, out);
}

__global__ void __launch_bounds__(NT_LARGE)
dgc_fused_confidence_f16(const __half *logits, int64_t vocab, int64_t row_stride, float temperature,
                         const double *draws, int32_t excluded, dgc_conf_row *out) {
    fused_confidence_row<__half, NT_LARGE>(logits, vocab, row_stride, temperature, draws, excluded, out);
}

__global__ void __launch_bounds__(NT_SMALL)
dgc_fused_confidence_f32_small(const float *logits, int64_t vocab, int64_t row_stride, float temperature,
                               const double *draws, int32_t excluded, dgc_conf_row *out) {
    fused_confidence_row<float, NT_SMALL>(logits, vocab, row_stride, temperature, draws, excluded, out);
}

__global__ void __launch_bounds__(NT_SMALL)
dgc_fused_confidence_f16_small(const __half *logits, int64_t vocab, int64_t row_stride, float temperature,
                               const double *draws, int32_t excluded, dgc_conf_row *out) {
    fused_confidence_row<__half, NT_SMALL>(logits, vocab, row_stride, temperature, draws, excluded, out);
}

static cudaError_t check_args(int64_t rows, int64_t vocab, int64_t row_stride, dgc_conf_row *out) {
    // Indices travel as int32 in the result; grid.x caps rows.
    if (rows < 0 || vocab < 1 || vocab > INT32_MAX || row_stride < vocab || rows > INT32_MAX || !out)
        return cudaErrorInvalidValue;
    return cudaSuccess;
}

cudaError_t dgc_cuda_fused_confidence_f32(const float *logits, int64_t rows, int64_t vocab,
                                          int64_t row_stride, float temperature,
                                          const double *draws, int32_t excluded,
                                          dgc_conf_row *out, cudaStream_t stream) {
    cudaError_t err = check_args(rows, vocab, row_stride, out);
    if (err != cudaSuccess || rows == 0) return err;
    if (vocab >= 8192)
        DGC_LAUNCH(dgc_fused_confidence_f32, (unsigned)rows, NT_LARGE, stream)(logits, vocab, row_stride, temperature,
                                                                          draws, excluded, out);
    else
        DGC_LAUNCH(dgc_fused_confidence_f32_small, (unsigned)rows, NT_SMALL, stream)(logits, vocab, row_stride,
                                                                                temperature, draws, excluded, out);
    return cudaGetLastError();
}

cudaError_t dgc_cuda_fused_confidence_f16(const void *logits, int64_t rows, int64_t vocab,
                                          int64_t row_stride, float temperature,
                                          const double *draws, int32_t excluded,
                                          dgc_conf_row *out, cudaStream_t stream) {
    cudaError_t err = check_args(rows, vocab, row_stride, out);
    if (err != cudaSuccess || rows == 0) return err;
    const __half *x = static_cast<const __half *>(logits);
    if (vocab >= 8192)
        DGC_LAUNCH(dgc_fused_confidence_f16, (unsigned)rows, NT_LARGE, stream)(x, vocab, row_stride, temperature, draws,
                                                                          excluded, out);
    else
        DGC_LAUNCH(dgc_fused_confidence_f16_small, (unsigned)rows, NT_SMALL, stream)(x, vocab, row_stride, temperature,
                                                                                draws, excluded, out);
    return cudaGetLastError();
}

}  // extern "C"
