/* dgcode's GPU kernels (issue #12): the host-side ABI of kernels/cuda/*.cu.
 * See docs/kernels-gpu.md for what each computes, its launch shape and numerics.
 *
 * Plain C types only (plus cudaStream_t), so a future ggml/llama.cpp backend
 * patch or a ctypes loader can call these without C++ name mangling. The
 * __global__ kernels themselves are extern "C" too, under the same names the
 * Metal sources use (kernels/metal/), so cuModuleGetFunction can find them. */
#ifndef DGC_KERNELS_H
#define DGC_KERNELS_H

#include <stdint.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fused confidence ------------------------------------------------- */

/* One row's result: 24 bytes leave the device per row instead of vocab*4.
 * Field meanings match kernels/cpu/confidence.h (top1/p1/p2/negent/token/prob),
 * packed so one cudaMemcpy of rows*24 bytes returns everything. */
typedef struct dgc_conf_row {
    int32_t top1;        /* lowest index of max(y); -1 when the row has no finite entry */
    int32_t token;       /* sampled token (draws given) or top1 */
    float p1;            /* softmax(y)[top1] */
    float p2;            /* runner-up probability; equal to p1 on a tie for the max */
    float neg_entropy;   /* sum_i p_i log p_i  (= minus the entropy, dgcode's "entropy" score) */
    float prob;          /* softmax(y)[token] */
} dgc_conf_row;

/* y = logits[r] / temperature (IEEE f32 division, as numpy) when temperature > 0,
 * else logits[r]; y[excluded] = -inf when 0 <= excluded < vocab.
 * draws: device array of `rows` uniforms in [0,1), or NULL for greedy. With draws,
 * token = the first k whose cumulative mass sum_{i<=k} exp(y_i - max) exceeds
 * draws[r] * sum_i exp(y_i - max) (strictly), so a zero-probability token (the
 * excluded one, any -inf) is never drawn; rounding overshoot falls back to the
 * last token with non-zero mass.
 * row_stride: elements between consecutive rows (>= vocab).
 * Rows with no finite entry: top1 = token = -1, probabilities NaN. */
cudaError_t dgc_cuda_fused_confidence_f32(const float *logits, int64_t rows, int64_t vocab,
                                          int64_t row_stride, float temperature,
                                          const double *draws, int32_t excluded,
                                          dgc_conf_row *out, cudaStream_t stream);
/* Same, logits stored as IEEE half (__half); all arithmetic in f32. */
cudaError_t dgc_cuda_fused_confidence_f16(const void *logits, int64_t rows, int64_t vocab,
                                          int64_t row_stride, float temperature,
                                          const double *draws, int32_t excluded,
                                          dgc_conf_row *out, cudaStream_t stream);

/* ---- block attention -------------------------------------------------- */

/* Layouts (all contiguous, element type f16 or bf16 per the entry point):
 *   q        [n_cand][n_q][n_head][head_dim]
 *   k_prefix [n_prefix][n_kv_head][head_dim]       shared by every candidate
 *   v_prefix [n_prefix][n_kv_head][head_dim]
 *   k_block  [n_cand][n_q][n_kv_head][head_dim]    each candidate's own block
 *   v_block  [n_cand][n_q][n_kv_head][head_dim]
 *   out      [n_cand][n_q][n_head][head_dim]       float32
 * out[c,i,h] = softmax_j(scale * q[c,i,h] . k_j) v_j over j in
 * [prefix 0..n_prefix) + [block c 0..n_q), kv head = h / (n_head / n_kv_head).
 * No mask: every block query sees every prefix and block key.
 * head_dim: 64 or 128. n_head % n_kv_head == 0. Returns cudaErrorInvalidValue
 * for an unsupported shape. */
cudaError_t dgc_cuda_block_attention_f16(const void *q, const void *k_prefix, const void *v_prefix,
                                         const void *k_block, const void *v_block, float *out,
                                         int n_cand, int n_q, int n_prefix, int n_head, int n_kv_head,
                                         int head_dim, float scale, cudaStream_t stream);
cudaError_t dgc_cuda_block_attention_bf16(const void *q, const void *k_prefix, const void *v_prefix,
                                          const void *k_block, const void *v_block, float *out,
                                          int n_cand, int n_q, int n_prefix, int n_head, int n_kv_head,
                                          int head_dim, float scale, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
