/* Block attention for diffusion decoding: the active block's queries against
 * [cached prefix KV + the block's own KV], with no mask at all (inside the
 * block every query sees every block key, unlike AR's causal kernels), GQA,
 * f16/bf16 inputs, f32 accumulation and output. Optionally n_cand candidate
 * blocks share one prefix: the prefix pointer is the same for all of them,
 * so it is read from HBM once and served to the other candidates from L2.
 * Contract in dgc_kernels.h; design and numerics in docs/kernels-gpu.md.
 *
 * Launch: grid (ceil(n_q*G / RB), n_kv_head, n_cand), G = n_head / n_kv_head,
 * NWARPS*32 threads. A thread block owns RB "rows" = (query token, query head)
 * pairs that all map to ONE kv head, flattened token-major, so every K/V tile
 * it stages in shared memory is used by all of them (GQA's point: Dream-7B's 7
 * query heads per kv head share each tile). Flattening avoids requiring
 * RB % G == 0 (G = 7 divides nothing convenient).
 *
 * Per tile of 32 keys, lane j of a warp scores key j against each of the
 * warp's rows (a full dot product from shared memory: K rows are padded by one
 * word so the 32 lanes reading the same dimension of 32 different keys hit 32
 * different banks), the warp does the online-softmax rescale with two
 * shuffles, and then each lane accumulates its own D/32 output dimensions over
 * the 32 keys with p_j broadcast by shuffle. Scores live in the log2 domain
 * (q pre-scaled by scale*log2(e)) so the exponentials are exp2f.
 *
 * This is the SIMT version: correct, no tensor cores yet (see the docs for
 * what an mma.sync / wgmma version would change). */
#include "dgc_kernels.h"
#include "dgc_launch.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

namespace {

constexpr int WARP = 32;
constexpr int BT = 32;  // keys per tile: one per lane

__device__ __forceinline__ float2 unpack(uint32_t w, __half) {
    __half2 h = *reinterpret_cast<__half2 *>(&w);
    return __half22float2(h);
}
__device__ __forceinline__ float2 unpack(uint32_t w, __nv_bfloat16) {
    __nv_bfloat162 h = *reinterpret_cast<__nv_bfloat162 *>(&w);
    return __bfloat1622float2(h);
}
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T, int D, int RPW, int NWARPS>
__device__ void block_attention_tile_loop(const T *__restrict__ q, const T *__restrict__ k_prefix,
                                          const T *__restrict__ v_prefix, const T *__restrict__ k_block,
                                          const T *__restrict__ v_block, float *__restrict__ out, int n_q,
                                          int n_prefix, int n_head, int n_kv_head, float scale) {
    static_assert(D % 64 == 0, "each lane owns D/32 output dims as D/64 pairs");
    constexpr int NT = NWARPS * WARP;
    constexpr int RB = NWARPS * RPW;
    constexpr int PAIRS = D / 2;       // 32-bit words per K/V row
    constexpr int KSTRIDE = PAIRS + 1;  // padding: conflict-free column reads
    constexpr int PPL = D / 64;         // output pairs per lane

    __shared__ float2 sQ[RB][PAIRS];
    __shared__ uint32_t sK[BT][KSTRIDE];
    __shared__ uint32_t sV[BT][PAIRS];

    const int tid = threadIdx.x, lane = tid % WARP, warp = tid / WARP;
    const int kvh = blockIdx.y, cand = blockIdx.z;
    const int G = n_head / n_kv_head;
    const int rows_total = n_q * G;
    const int row0 = blockIdx.x * RB;
    const int n_kv = n_prefix + n_q;
    const float qscale = scale * 1.4426950408889634f;  // log2(e)

    const T *qc = q + (size_t)cand * n_q * n_head * D;
    const T *kb = k_block + (size_t)cand * n_q * n_kv_head * D;
    const T *vb = v_block + (size_t)cand * n_q * n_kv_head * D;

    for (int idx = tid; idx < RB * PAIRS; idx += NT) {
        int r = idx / PAIRS, w = idx % PAIRS;
        int R = row0 + r;
        float2 v = make_float2(0.0f, 0.0f);
        if (R < rows_total) {
            int i = R / G, h = kvh * G + R % G;
            const T *src = qc + ((size_t)i * n_head + h) * D + 2 * w;
            v = make_float2(to_float(src[0]) * qscale, to_float(src[1]) * qscale);
        }
        sQ[r][w] = v;
    }

    float m[RPW], l[RPW];
    float2 o[RPW][PPL];
#pragma unroll
    for (int rr = 0; rr < RPW; ++rr) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int c = 0; c < PPL; ++c) o[rr][c] = make_float2(0.0f, 0.0f);
    }

    for (int t0 = 0; t0 < n_kv; t0 += BT) {
        __syncthreads();  // the previous tile is consumed (and sQ written, first time)
        for (int idx = tid; idx < BT * PAIRS; idx += NT) {
            int j = idx / PAIRS, w = idx % PAIRS;
            int key = t0 + j;
            uint32_t kw = 0, vw = 0;
            if (key < n_prefix) {
                size_t off = ((size_t)key * n_kv_head + kvh) * D;
                kw = reinterpret_cast<const uint32_t *>(k_prefix + off)[w];
                vw = reinterpret_cast<const uint32_t *>(v_prefix + off)[w];
            } else if (key < n_kv) {
                size_t off = ((size_t)(key - n_prefix) * n_kv_head + kvh) * D;
                kw = reinterpret_cast<const uint32_t *>(kb + off)[w];
                vw = reinterpret_cast<const uint32_t *>(vb + off)[w];
            }
            sK[j][w] = kw;
            sV[j][w] = vw;
        }
        __syncthreads();

        // Scores: lane = key. One K word read serves all RPW rows.
        float s[RPW];
#pragma unroll
        for (int rr = 0; rr < RPW; ++rr) s[rr] = 0.0f;
        const int rbase = warp * RPW;
#pragma unroll 8
        for (int w = 0; w < PAIRS; ++w) {
            float2 k2 = unpack(sK[lane][w], T());
#pragma unroll
            for (int rr = 0; rr < RPW; ++rr) {
                float2 q2 = sQ[rbase + rr][w];  // same address in every lane: a broadcast
                s[rr] = fmaf(q2.x, k2.x, fmaf(q2.y, k2.y, s[rr]));
            }
        }
        const bool valid = t0 + lane < n_kv;
        float p[RPW];
#pragma unroll
        for (int rr = 0; rr < RPW; ++rr) {
            float x = valid ? s[rr] : -INFINITY;
            float mt = x;
            for (int off = WARP / 2; off > 0; off >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, off));
            // mt is finite: every tile holds at least one valid key.
            float mnew = fmaxf(m[rr], mt);
            float corr = exp2f(m[rr] - mnew);  // exp2(-inf) = 0 on the first tile
            p[rr] = exp2f(x - mnew);
            float ps = p[rr];
            for (int off = WARP / 2; off > 0; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
            l[rr] = l[rr] * corr + ps;
            m[rr] = mnew;
#pragma unroll
            for (int c = 0; c < PPL; ++c) { o[rr][c].x *= corr; o[rr][c].y *= corr; }
        }
        // P V: lane owns pairs lane, lane+32, ...; one V word read serves all rows.
#pragma unroll 4
        for (int j = 0; j < BT; ++j) {
            float pj[RPW];
#pragma unroll
            for (int rr = 0; rr < RPW; ++rr) pj[rr] = __shfl_sync(0xffffffffu, p[rr], j);
#pragma unroll
            for (int c = 0; c < PPL; ++c) {
                float2 v2 = unpack(sV[j][lane + WARP * c], T());
#pragma unroll
                for (int rr = 0; rr < RPW; ++rr) {
                    o[rr][c].x = fmaf(pj[rr], v2.x, o[rr][c].x);
                    o[rr][c].y = fmaf(pj[rr], v2.y, o[rr][c].y);
                }
            }
        }
    }

#pragma unroll
    for (int rr = 0; rr < RPW; ++rr) {
        int R = row0 + warp * RPW + rr;
        if (R >= rows_total) continue;
        int i = R / G, h = kvh * G + R % G;
        float inv = 1.0f / l[rr];
        float2 *dst = reinterpret_cast<float2 *>(out + (((size_t)cand * n_q + i) * n_head + h) * D);
#pragma unroll
        for (int c = 0; c < PPL; ++c) dst[lane + WARP * c] = make_float2(o[rr][c].x * inv, o[rr][c].y * inv);
    }
}

constexpr int NWARPS = 4;

}  // namespace

// Entry points named as in kernels/metal/block_attention.metal; the suffix
// _d<D>_r<RPW> is the head dim and rows per warp (RB = 4*RPW rows per block).
#define DGC_BA_KERNEL(NAME, T, D, RPW)                                                                      \
    extern "C" __global__ void __launch_bounds__(NWARPS * WARP)                                            \
    NAME(const T *q, const T *kp, const T *vp, const T *kb, const T *vb, float *out, int n_q, int n_prefix, \
         int n_head, int n_kv_head, float scale) {                                                          \
        block_attention_tile_loop<T, D, RPW, NWARPS>(q, kp, vp, kb, vb, out, n_q, n_prefix, n_head,         \
                                                     n_kv_head, scale);                                     \
    }

DGC_BA_KERNEL(dgc_block_attention_f16_d64_r2, __half, 64, 2)
DGC_BA_KERNEL(dgc_block_attention_f16_d64_r4, __half, 64, 4)
DGC_BA_KERNEL(dgc_block_attention_f16_d128_r2, __half, 128, 2)
DGC_BA_KERNEL(dgc_block_attention_f16_d128_r4, __half, 128, 4)
DGC_BA_KERNEL(dgc_block_attention_bf16_d64_r2, __nv_bfloat16, 64, 2)
DGC_BA_KERNEL(dgc_block_attention_bf16_d64_r4, __nv_bfloat16, 64, 4)
DGC_BA_KERNEL(dgc_block_attention_bf16_d128_r2, __nv_bfloat16, 128, 2)
DGC_BA_KERNEL(dgc_block_attention_bf16_d128_r4, __nv_bfloat16, 128, 4)

namespace {

typedef void (*ba_kernel_f16)(const __half *, const __half *, const __half *, const __half *, const __half *,
                              float *, int, int, int, int, float);
typedef void (*ba_kernel_bf16)(const __nv_bfloat16 *, const __nv_bfloat16 *, const __nv_bfloat16 *,
                               const __nv_bfloat16 *, const __nv_bfloat16 *, float *, int, int, int, int, float);

template <typename K, typename T>
cudaError_t launch(K kernel, int rpw, const void *q, const void *kp, const void *vp, const void *kb,
                   const void *vb, float *out, int n_cand, int n_q, int n_prefix, int n_head, int n_kv_head,
                   float scale, cudaStream_t stream) {
    const int G = n_head / n_kv_head;
    const int rb = NWARPS * rpw;
    dim3 grid((unsigned)((n_q * G + rb - 1) / rb), (unsigned)n_kv_head, (unsigned)n_cand);
    DGC_LAUNCH(kernel, grid, NWARPS * WARP, stream)(static_cast<const T *>(q), static_cast<const T *>(kp),
                                               static_cast<const T *>(vp), static_cast<const T *>(kb),
                                               static_cast<const T *>(vb), out, n_q, n_prefix, n_head, n_kv_head,
                                               scale);
    return cudaGetLastError();
}

bool bad_shape(const void *q, const void *kp, const void *vp, const void *kb, const void *vb, const float *out,
               int n_cand, int n_q, int n_prefix, int n_head, int n_kv_head, int head_dim) {
    if (!q || !kb || !vb || !out) return true;
    if (n_prefix > 0 && (!kp || !vp)) return true;
    if (n_cand < 1 || n_cand > 65535 || n_q < 1 || n_prefix < 0 || n_kv_head < 1 || n_kv_head > 65535) return true;
    if (n_head < n_kv_head || n_head % n_kv_head != 0) return true;
    if (head_dim != 64 && head_dim != 128) return true;
    // Rows of K/V are read as 32-bit words.
    if (((uintptr_t)q | (uintptr_t)kp | (uintptr_t)vp | (uintptr_t)kb | (uintptr_t)vb) & 3u) return true;
    if (((uintptr_t)out) & 7u) return true;
    return false;
}

// 16-row blocks halve the K/V tile traffic per row but quarter the grid;
// below this many rows the smaller blocks keep more SMs busy.
constexpr long long BIG_GRID_ROWS = 8192;

}  // namespace

extern "C" cudaError_t dgc_cuda_block_attention_f16(const void *q, const void *k_prefix, const void *v_prefix,
                                                    const void *k_block, const void *v_block, float *out,
                                                    int n_cand, int n_q, int n_prefix, int n_head, int n_kv_head,
                                                    int head_dim, float scale, cudaStream_t stream) {
    if (bad_shape(q, k_prefix, v_prefix, k_block, v_block, out, n_cand, n_q, n_prefix, n_head, n_kv_head, head_dim))
        return cudaErrorInvalidValue;
    bool big = (long long)n_cand * n_q * n_head >= BIG_GRID_ROWS;
    ba_kernel_f16 k = head_dim == 64 ? (big ? dgc_block_attention_f16_d64_r4 : dgc_block_attention_f16_d64_r2)
                                     : (big ? dgc_block_attention_f16_d128_r4 : dgc_block_attention_f16_d128_r2);
    return launch<ba_kernel_f16, __half>(k, big ? 4 : 2, q, k_prefix, v_prefix, k_block, v_block, out, n_cand, n_q,
                                         n_prefix, n_head, n_kv_head, scale, stream);
}

extern "C" cudaError_t dgc_cuda_block_attention_bf16(const void *q, const void *k_prefix, const void *v_prefix,
                                                     const void *k_block, const void *v_block, float *out,
                                                     int n_cand, int n_q, int n_prefix, int n_head, int n_kv_head,
                                                     int head_dim, float scale, cudaStream_t stream) {
    if (bad_shape(q, k_prefix, v_prefix, k_block, v_block, out, n_cand, n_q, n_prefix, n_head, n_kv_head, head_dim))
        return cudaErrorInvalidValue;
    bool big = (long long)n_cand * n_q * n_head >= BIG_GRID_ROWS;
    ba_kernel_bf16 k = head_dim == 64 ? (big ? dgc_block_attention_bf16_d64_r4 : dgc_block_attention_bf16_d64_r2)
                                      : (big ? dgc_block_attention_bf16_d128_r4 : dgc_block_attention_bf16_d128_r2);
    return launch<ba_kernel_bf16, __nv_bfloat16>(k, big ? 4 : 2, q, k_prefix, v_prefix, k_block, v_block, out,
                                                 n_cand, n_q, n_prefix, n_head, n_kv_head, scale, stream);
}
