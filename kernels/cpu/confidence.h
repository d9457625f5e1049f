/* dgcode's fused confidence kernel for CPU builds: per row of a (rows x vocab)
 * float32 logits matrix, optionally filtered by top-k and top-p, the top-1
 * token and probability, the runner-up's probability, the negative entropy
 * and, given a uniform draw per row, a token sampled from
 * softmax(logits / temperature). Plain C ABI, loaded with ctypes
 * by dgcode/engine/confidence_kernel.py. See docs/kernels.md. */
#ifndef DGCODE_CONFIDENCE_H
#define DGCODE_CONFIDENCE_H

#include <stdint.h>

#ifdef _WIN32
#define DGC_API __declspec(dllexport)
#else
#define DGC_API __attribute__((visibility("default")))
#endif

#define DGC_ABI_VERSION 2 /* 2: top_k and top_p */

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version above; the loader refuses a library that returns another. */
DGC_API int dgc_abi_version(void);

/* The instruction set the running CPU's clone uses ("avx512f", "avx2", "baseline"). */
DGC_API const char *dgc_isa(void);

/* For each row r of `logits` (row-major, rows x vocab, contiguous):
 *   y = logits[r] / temperature when temperature > 0, else logits[r] (float32 division, as numpy);
 *   when 0 < top_k < vocab: entries below the top_k-th largest y become -inf (ties with it stay);
 *   when top_p < 1: of what remains, ordered by y descending (ties: lower index first), an entry
 *     stays while the probability mass before it is <= top_p (the smallest set reaching top_p);
 *     the others become -inf. Everything below is computed on that filtered y;
 *   top1[r]     = the first index of max(y)                (greedy token)
 *   p1[r]       = softmax(y)[top1]
 *   p2[r]       = the runner-up's probability (ties: equal to p1; vocab 1: equal to p1)
 *   negent[r]   = sum_i p_i log p_i                          (minus the entropy)
 *   when draws != NULL (sampling): token[r] = the first k with cdf_k >= draws[r]
 *                 (cdf over softmax(y); vocab-1 if none), prob[r] = softmax(y)[token];
 *   else token[r] = top1[r], prob[r] = p1[r].
 * Entries may be -inf (excluded tokens, e.g. the mask token); a row of only
 * -inf gives token 0 and NaN probabilities, as numpy's softmax does.
 * n_threads <= 1 runs on the calling thread. Returns 0, or -1 on bad arguments (top_k < 0,
 * top_p outside (0, 1])
 * or a failed allocation (outputs then undefined). */
DGC_API int dgc_confidence(const float *logits, int64_t rows, int64_t vocab, float temperature,
                           int64_t top_k, float top_p, const double *draws, int n_threads,
                           int64_t *token, float *prob, int64_t *top1, float *p1, float *p2,
                           float *negent);

#ifdef __cplusplus
}
#endif

#endif
