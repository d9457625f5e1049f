// Block attention for Apple GPUs: the Metal twin of kernels/cuda/block_attention.cu
// (same layouts, same tiling, same entry-point names; see docs/kernels-gpu.md).
// NOT COMPILED OR RUN YET: no Metal toolchain on the Linux machine this was
// written on. bfloat needs Metal 3.1 (macOS 14 / iOS 17); build with
// `xcrun metal -std=metal3.1 -fno-fast-math` (-inf marks out-of-range keys).
//
// Threadgroup (x = chunk of RB rows, y = kv head, z = candidate), 4 simdgroups
// of 32. A row is a (query token, query head) pair of one kv head, flattened
// token-major, so every staged K/V tile serves all of the group's query heads.
// Per tile of 32 keys, lane j scores key j against the simdgroup's rows, the
// online-softmax rescale uses simd_max / simd_sum, and each lane accumulates
// its own D/32 output dimensions with p_j broadcast by simd_shuffle.
// No simdgroup_matrix (the Metal counterpart of tensor cores) yet, as the CUDA
// file uses no mma yet.

#include <metal_stdlib>
using namespace metal;

struct dgc_attn_params {
    int n_q;
    int n_prefix;
    int n_head;
    int n_kv_head;
    float scale;
};

constant constexpr int SIMD = 32;
constant constexpr int BT = 32;      // keys per tile: one per lane
constant constexpr int NWARPS = 4;   // simdgroups per threadgroup

template <typename T, int D, int RPW>
kernel void block_attention(device const T *q [[buffer(0)]],
                            device const T *k_prefix [[buffer(1)]],
                            device const T *v_prefix [[buffer(2)]],
                            device const T *k_block [[buffer(3)]],
                            device const T *v_block [[buffer(4)]],
                            device float *out [[buffer(5)]],
                            constant dgc_attn_params &p [[buffer(6)]],
                            uint3 tgp [[threadgroup_position_in_grid]],
                            uint tid [[thread_index_in_threadgroup]],
                            uint lane [[thread_index_in_simdgroup]],
                            uint sg [[simdgroup_index_in_threadgroup]]) {
    constexpr int NT = NWARPS * SIMD;
    constexpr int RB = NWARPS * RPW;
    constexpr int PAIRS = D / 2;
    constexpr int KSTRIDE = PAIRS + 1;  // padding: the 32 lanes reading one dim of 32 keys hit 32 banks
    constexpr int PPL = D / 64;

    threadgroup float2 sQ[RB][PAIRS];
    // K/V stay in their 16-bit type: as float2 a D=128, RPW=4 group would need
    // 41 KB, over the 32 KB of threadgroup memory Apple GPUs give a threadgroup.
    threadgroup vec<T, 2> sK[BT][KSTRIDE];
    threadgroup vec<T, 2> sV[BT][PAIRS];

    const int kvh = (int)tgp.y, cand = (int)tgp.z;
    const int G = p.n_head / p.n_kv_head;
    const int rows_total = p.n_q * G;
    const int row0 = (int)tgp.x * RB;
    const int n_kv = p.n_prefix + p.n_q;
    const float qscale = p.scale * M_LOG2E_F;

    device const T *qc = q + (ulong)cand * p.n_q * p.n_head * D;
    device const T *kb = k_block + (ulong)cand * p.n_q * p.n_kv_head * D;
    device const T *vb = v_block + (ulong)cand * p.n_q * p.n_kv_head * D;

    for (int idx = (int)tid; idx < RB * PAIRS; idx += NT) {
        int r = idx / PAIRS, w = idx % PAIRS;
        int R = row0 + r;
        float2 v = float2(0.0f);
        if (R < rows_total) {
            int i = R / G, h = kvh * G + R % G;
            device const T *src = qc + ((ulong)i * p.n_head + h) * D + 2 * w;
            v = float2(float(src[0]), float(src[1])) * qscale;
        }
        sQ[r][w] = v;
    }

    float m[RPW], l[RPW];
    float2 o[RPW][PPL];
    for (int rr = 0; rr < RPW; ++rr) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
        for (int c = 0; c < PPL; ++c) o[rr][c] = float2(0.0f);
    }

    for (int t0 = 0; t0 < n_kv; t0 += BT) {
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (int idx = (int)tid; idx < BT * PAIRS; idx += NT) {
            int j = idx / PAIRS, w = idx % PAIRS;
            int key = t0 + j;
            vec<T, 2> kv = vec<T, 2>(T(0.0f)), vv = vec<T, 2>(T(0.0f));
            if (key < p.n_prefix) {
                ulong off = ((ulong)key * p.n_kv_head + kvh) * D + 2 * w;
                kv = vec<T, 2>(k_prefix[off], k_prefix[off + 1]);
                vv = vec<T, 2>(v_prefix[off], v_prefix[off + 1]);
            } else if (key < n_kv) {
                ulong off = ((ulong)(key - p.n_prefix) * p.n_kv_head + kvh) * D + 2 * w;
                kv = vec<T, 2>(kb[off], kb[off + 1]);
                vv = vec<T, 2>(vb[off], vb[off + 1]);
            }
            sK[j][w] = kv;
            sV[j][w] = vv;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);

        float s[RPW];
        for (int rr = 0; rr < RPW; ++rr) s[rr] = 0.0f;
        const int rbase = (int)sg * RPW;
        for (int w = 0; w < PAIRS; ++w) {
            float2 k2 = float2(sK[lane][w]);
            for (int rr = 0; rr < RPW; ++rr) {
                float2 q2 = sQ[rbase + rr][w];
                s[rr] = fma(q2.x, k2.x, fma(q2.y, k2.y, s[rr]));
            }
        }
        const bool valid = t0 + (int)lane < n_kv;
        float pr[RPW];
        for (int rr = 0; rr < RPW; ++rr) {
            float xv = valid ? s[rr] : -INFINITY;
            float mnew = max(m[rr], simd_max(xv));  // finite: a tile holds at least one valid key
            float corr = exp2(m[rr] - mnew);
            pr[rr] = exp2(xv - mnew);
            l[rr] = l[rr] * corr + simd_sum(pr[rr]);
            m[rr] = mnew;
            for (int c = 0; c < PPL; ++c) o[rr][c] *= corr;
        }
        for (int j = 0; j < BT; ++j) {
            for (int c = 0; c < PPL; ++c) {
                float2 v2 = float2(sV[j][(int)lane + SIMD * c]);
                for (int rr = 0; rr < RPW; ++rr) o[rr][c] = fma(float2(simd_shuffle(pr[rr], (ushort)j)), v2, o[rr][c]);
            }
        }
    }

    for (int rr = 0; rr < RPW; ++rr) {
        int R = row0 + (int)sg * RPW + rr;
        if (R >= rows_total) continue;
        int i = R / G, h = kvh * G + R % G;
        float inv = 1.0f / l[rr];
        device float2 *dst = (device float2 *)(out + (((ulong)cand * p.n_q + i) * p.n_head + h) * D);
        for (int c = 0; c < PPL; ++c) dst[(int)lane + SIMD * c] = o[rr][c] * inv;
    }
}

// The CUDA file's entry points; host_name strings are what the test compares.
template [[host_name("dgc_block_attention_f16_d64_r2")]] kernel void block_attention<half, 64, 2>(
    device const half *, device const half *, device const half *, device const half *, device const half *,
    device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_f16_d64_r4")]] kernel void block_attention<half, 64, 4>(
    device const half *, device const half *, device const half *, device const half *, device const half *,
    device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_f16_d128_r2")]] kernel void block_attention<half, 128, 2>(
    device const half *, device const half *, device const half *, device const half *, device const half *,
    device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_f16_d128_r4")]] kernel void block_attention<half, 128, 4>(
    device const half *, device const half *, device const half *, device const half *, device const half *,
    device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_bf16_d64_r2")]] kernel void block_attention<bfloat, 64, 2>(
    device const bfloat *, device const bfloat *, device const bfloat *, device const bfloat *,
    device const bfloat *, device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_bf16_d64_r4")]] kernel void block_attention<bfloat, 64, 4>(
    device const bfloat *, device const bfloat *, device const bfloat *, device const bfloat *,
    device const bfloat *, device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_bf16_d128_r2")]] kernel void block_attention<bfloat, 128, 2>(
    device const bfloat *, device const bfloat *, device const bfloat *, device const bfloat *,
    device const bfloat *, device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
template [[host_name("dgc_block_attention_bf16_d128_r4")]] kernel void block_attention<bfloat, 128, 4>(
    device const bfloat *, device const bfloat *, device const bfloat *, device const bfloat *,
    device const bfloat *, device float *, constant dgc_attn_params &, uint3, uint, uint, uint);
