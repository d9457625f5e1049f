/* dgcode's fused confidence kernel for CPU builds (see confidence.h, docs/kernels.md).
 *
 * One idea: a denoising step needs a handful of numbers per row of logits
 * (top-1 token and probability, runner-up probability, entropy, a sampled
 * token), and all of them follow from two streaming passes over the row:
 *
 *   pass 1  max and runner-up value of y (= logits / temperature), per block
 *           of BLOCK entries, remembering the first block holding the max;
 *   pass 2  S = sum exp(y - max) and A = sum exp(y - max) * (y - max),
 *           with the block sums of exp kept for sampling.
 *
 * Then p1 = 1/S, p2 = exp(second - max)/S, sum p log p = A/S - log S; the
 * argmax is the first index of the max inside its block; a sampled token is
 * found by walking the block sums to the block where the cumulative mass
 * reaches draw * S and then that block entry by entry (inverse CDF).
 *
 * Numerics. No -ffast-math: every loop is written with an explicit LANES-wide
 * array of accumulators, so gcc -O3 vectorises it without being allowed to
 * reorder anything; results do not depend on the thread count. setup.py
 * builds with -ffp-contract=fast, so the AVX2 / AVX-512 clones fuse
 * multiply-adds in exp and the entropy sum (their probabilities may differ
 * from the baseline clone's in the last bit; the max, runner-up and argmax
 * never do). y and y - max are float32, exactly as numpy computes
 * them, so the max, runner-up and argmax are numpy's bit for bit. exp is a
 * float32 Cephes-style polynomial (about 1 ulp), exactly 0 below -87.3 and at
 * -inf. The sums of exp are float32 within a block of BLOCK entries (LANES
 * lanes of BLOCK/LANES terms each) and double across blocks; probabilities,
 * entropy and the sampling walk are double, rounded to float32 at the end.
 *
 * Top-k / top-p (filter_row) first write the row's filtered y into a scratch
 * row, excluded entries -inf, and the two passes then run on it: top-k finds
 * the k-th largest value with a min-heap of k (k <= 4096) or a quickselect on
 * a copy; top-p by collecting the
 * entries that can be in the nucleus (probability >= (1 - top_p) / vocab: the
 * last entry kept has at least that, since the mass from it on is >= 1 - top_p
 * over at most vocab entries), sorting only those, and walking their mass.
 */
#include "confidence.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16
#define BLOCK 2048 /* a multiple of LANES */
#define EXP_LO (-87.33654f)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(DGC_NO_CLONES)
#define DGC_CLONES __attribute__((target_clones("avx512f", "avx2", "default"))) /* -DDGC_NO_CLONES: baseline only */
#else
#define DGC_CLONES
#endif
#define DGC_INLINE static inline __attribute__((always_inline))

int dgc_abi_version(void) { return DGC_ABI_VERSION; }

const char *dgc_isa(void) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(DGC_NO_CLONES)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "baseline";
}

/* exp(x) for x <= 0 (x may be -inf): Cephes expf's range reduction and polynomial. */
DGC_INLINE float exp_nonpos(float x) {
    float xc = x < EXP_LO ? EXP_LO : x;
    float t = xc * 1.44269504088896341f + 12582912.0f; /* round to nearest by the 1.5 * 2^23 trick */
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23;
    float e = p * scale.f;
    return x < EXP_LO ? 0.0f : e;
}

DGC_INLINE float load(const float *x, int64_t i, int scaled, float temperature) {
    return scaled ? x[i] / temperature : x[i];
}

/* Largest and second largest value of y over [0, n) (a tie makes them equal). */
DGC_INLINE void block_top2(const float *x, int64_t n, int scaled, float temperature, float *out1, float *out2) {
    float m1[LANES], m2[LANES];
    for (int j = 0; j < LANES; j++) { m1[j] = -INFINITY; m2[j] = -INFINITY; }
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            float v = load(x, i + j, scaled, temperature);
            float lo = v < m1[j] ? v : m1[j];
            m2[j] = lo > m2[j] ? lo : m2[j];
            m1[j] = v > m1[j] ? v : m1[j];
        }
    }
    for (; i < n; i++) { /* tail: lane 0 */
        float v = load(x, i, scaled, temperature);
        float lo = v < m1[0] ? v : m1[0];
        m2[0] = lo > m2[0] ? lo : m2[0];
        m1[0] = v > m1[0] ? v : m1[0];
    }
    float a1 = m1[0], a2 = m2[0];
    for (int j = 1; j < LANES; j++) {
        float lo = a1 < m1[j] ? a1 : m1[j];
        float hi2 = a2 > m2[j] ? a2 : m2[j];
        a2 = lo > hi2 ? lo : hi2;
        a1 = a1 > m1[j] ? a1 : m1[j];
    }
    *out1 = a1;
    *out2 = a2;
}

/* sum exp(y - m) and sum exp(y - m) * (y - m) over [0, n), float32 lanes. */
DGC_INLINE void block_sums(const float *x, int64_t n, int scaled, float temperature, float m,
                           double *out_s, double *out_a) {
    float s[LANES], a[LANES];
    for (int j = 0; j < LANES; j++) { s[j] = 0.0f; a[j] = 0.0f; }
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            float d = load(x, i + j, scaled, temperature) - m;
            float e = exp_nonpos(d);
            float dc = d < EXP_LO ? EXP_LO : d; /* e is 0 there: keeps 0 * -inf out of the sum */
            s[j] += e;
            a[j] += e * dc;
        }
    }
    for (; i < n; i++) {
        float d = load(x, i, scaled, temperature) - m;
        float e = exp_nonpos(d);
        float dc = d < EXP_LO ? EXP_LO : d;
        s[0] += e;
        a[0] += e * dc;
    }
    double ts = 0.0, ta = 0.0;
    for (int j = 0; j < LANES; j++) { ts += s[j]; ta += a[j]; }
    *out_s = ts;
    *out_a = ta;
}

typedef struct {
    const float *logits;
    int64_t vocab;
    float temperature;
    int64_t top_k;  /* 0 or >= vocab: none */
    float top_p;    /* 1: none */
    const double *draws;
    int64_t *token, *top1;
    float *prob, *p1, *p2, *negent;
    int64_t rows;
    int64_t *next_row; /* shared: each thread takes the next row not yet taken (balances a busy machine) */
    int status;
} job_t;

/* Row r's outputs from its y: logits x (scaled by the temperature when `scaled`) or an already filtered row. */
DGC_INLINE void row_facts(const job_t *job, int64_t r, const float *x, double *bsum, int scaled) {
    const int64_t V = job->vocab;
    const float T = job->temperature;
    const int64_t nblocks = (V + BLOCK - 1) / BLOCK;

    float g1 = -INFINITY, g2 = -INFINITY;
    int64_t best = 0;
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t lo = b * BLOCK, n = V - lo < BLOCK ? V - lo : BLOCK;
        float b1, b2;
        block_top2(x + lo, n, scaled, T, &b1, &b2);
        float mn = g1 < b1 ? g1 : b1;
        float mx2 = g2 > b2 ? g2 : b2;
        g2 = mn > mx2 ? mn : mx2;
        if (b1 > g1) { g1 = b1; best = b; }
    }
    int64_t arg = best * BLOCK;
    {
        int64_t hi = arg + BLOCK < V ? arg + BLOCK : V;
        for (int64_t i = arg; i < hi; i++) {
            if (load(x, i, scaled, T) == g1) { arg = i; break; }
        }
    }
    job->top1[r] = arg;
    if (g1 == -INFINITY || g1 != g1) { /* nothing to choose from: numpy's softmax is NaN here */
        job->token[r] = 0;
        job->top1[r] = 0;
        job->prob[r] = job->p1[r] = job->p2[r] = job->negent[r] = NAN;
        return;
    }

    double S = 0.0, A = 0.0;
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t lo = b * BLOCK, n = V - lo < BLOCK ? V - lo : BLOCK;
        double s, a;
        block_sums(x + lo, n, scaled, T, g1, &s, &a);
        bsum[b] = s;
        S += s;
        A += a;
    }
    float p1 = (float)(1.0 / S);
    float p2 = V > 1 ? (float)(exp((double)(g2 - g1)) / S) : p1;
    job->p1[r] = p1;
    job->p2[r] = p2;
    job->negent[r] = (float)(A / S - log(S));

    if (!job->draws) {
        job->token[r] = arg;
        job->prob[r] = p1;
        return;
    }
    /* Inverse CDF: the first k whose cumulative mass reaches draw * S. */
    const double target = job->draws[r] * S;
    double c = 0.0;
    int64_t k = -1;
    int64_t b = 0;
    for (; b < nblocks; b++) {
        if (c + bsum[b] >= target) break;
        c += bsum[b];
    }
    for (int64_t i = b * BLOCK; i < V; i++) { /* entry by entry from that block on */
        c += (double)exp_nonpos(load(x, i, scaled, T) - g1);
        if (c >= target) { k = i; break; }
    }
    if (k < 0) k = V - 1; /* numpy's clamp when rounding leaves the draw above the total */
    job->token[r] = k;
    job->prob[r] = (float)((double)exp_nonpos(load(x, k, scaled, T) - g1) / S);
}

typedef struct { float y; int32_t i; } entry_t;

/* Order for the nucleus: y descending, then index ascending. */
static int by_y_then_index(const void *a, const void *b) {
    const entry_t *u = (const entry_t *)a, *v = (const entry_t *)b;
    if (u->y != v->y) return u->y > v->y ? -1 : 1;
    return (u->i > v->i) - (u->i < v->i);
}

/* The value at ascending position t of a[0..n) (a is reordered): Hoare quickselect. */
static float select_nth(float *a, int64_t n, int64_t t) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) { float tmp = a[i]; a[i] = a[j]; a[j] = tmp; i++; j--; }
        }
        if (t <= j) hi = j;
        else if (t >= i) lo = i;
        else return a[t];
    }
    return a[t];
}

/* The k-th largest of y[0..n) (k <= n) by a min-heap of the k largest so far (heap: k floats): one pass in
 * which, after the first few thousand entries, almost every entry is rejected by one comparison. */
static float kth_largest_small(const float *y, int64_t n, int64_t k, float *heap) {
    for (int64_t i = 0; i < k; i++) heap[i] = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        if (!(v > heap[0])) continue;
        int64_t j = 0; /* replace the root, sift down */
        for (;;) {
            int64_t c = 2 * j + 1;
            if (c >= k) break;
            if (c + 1 < k && heap[c + 1] < heap[c]) c++;
            if (!(heap[c] < v)) break;
            heap[j] = heap[c];
            j = c;
        }
        heap[j] = v;
    }
    return heap[0];
}

#define SMALL_K 4096 /* up to here the heap; above, quickselect */

typedef struct {
    float *row;       /* the filtered y */
    float *copy;      /* top-k's heap or quickselect's working copy */
    entry_t *cand;    /* top-p's candidates */
} scratch_t;

/* Writes row r's y, filtered by top-k then top-p (as unmasking.filter_logits), into sc->row. */
DGC_INLINE void filter_row(const job_t *job, int64_t r, scratch_t *sc, double *bsum, int scaled) {
    const int64_t V = job->vocab;
    const float T = job->temperature;
    const float *x = job->logits + r * V;
    float *y = sc->row;
    for (int64_t i = 0; i < V; i++) y[i] = load(x, i, scaled, T);
    if (job->top_k > 0 && job->top_k < V) {
        float kth;
        if (job->top_k <= SMALL_K) {
            kth = kth_largest_small(y, V, job->top_k, sc->copy);
        } else {
            memcpy(sc->copy, y, (size_t)V * sizeof(float));
            kth = select_nth(sc->copy, V, V - job->top_k);
        }
        for (int64_t i = 0; i < V; i++) y[i] = y[i] < kth ? -INFINITY : y[i];
    }
    if (job->top_p >= 1.0f) return;
    float g1 = -INFINITY;
    for (int64_t i = 0; i < V; i++) g1 = y[i] > g1 ? y[i] : g1;
    if (g1 == -INFINITY || g1 != g1) return; /* nothing to keep: row_facts gives NaN, as numpy */
    const int64_t nblocks = (V + BLOCK - 1) / BLOCK;
    double S = 0.0;
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t lo = b * BLOCK, n = V - lo < BLOCK ? V - lo : BLOCK;
        double s, a;
        block_sums(y + lo, n, 0, T, g1, &s, &a);
        bsum[b] = s;
        S += s;
    }
    /* candidates: probability >= half of (1 - top_p) / V (the half: room for rounding) */
    const double floor_p = 0.5 * (1.0 - (double)job->top_p) / (double)V;
    const float cut = (float)((double)g1 + log(floor_p * S)) - 1e-3f;
    int64_t m = 0;
    for (int64_t i = 0; i < V; i++) {
        if (y[i] >= cut) { sc->cand[m].y = y[i]; sc->cand[m].i = (int32_t)i; m++; }
    }
    qsort(sc->cand, (size_t)m, sizeof(entry_t), by_y_then_index);
    double before = 0.0;
    int64_t kept = 0;
    while (kept < m && before <= (double)job->top_p) {
        before += (double)exp_nonpos(sc->cand[kept].y - g1) / S;
        kept++;
    }
    const float yb = sc->cand[kept - 1].y;
    const int32_t ib = sc->cand[kept - 1].i;
    for (int64_t i = 0; i < V; i++) {
        if (!(y[i] > yb || (y[i] == yb && i <= ib))) y[i] = -INFINITY;
    }
}

DGC_INLINE int64_t take_row(job_t *job) { return __atomic_fetch_add(job->next_row, 1, __ATOMIC_RELAXED); }

DGC_CLONES static void run_rows_scaled(job_t *job, double *bsum) {
    for (int64_t r = take_row(job); r < job->rows; r = take_row(job))
        row_facts(job, r, job->logits + r * job->vocab, bsum, 1);
}

DGC_CLONES static void run_rows_plain(job_t *job, double *bsum) {
    for (int64_t r = take_row(job); r < job->rows; r = take_row(job))
        row_facts(job, r, job->logits + r * job->vocab, bsum, 0);
}

DGC_CLONES static void run_rows_filtered(job_t *job, double *bsum, scratch_t *sc) {
    const int scaled = job->temperature > 0.0f;
    for (int64_t r = take_row(job); r < job->rows; r = take_row(job)) {
        filter_row(job, r, sc, bsum, scaled);
        row_facts(job, r, sc->row, bsum, 0);
    }
}

DGC_INLINE int filtering(const job_t *job) {
    return (job->top_k > 0 && job->top_k < job->vocab) || job->top_p < 1.0f;
}

static void *run_job(void *arg) {
    job_t *job = (job_t *)arg;
    int64_t nblocks = (job->vocab + BLOCK - 1) / BLOCK;
    double *bsum = (double *)malloc((size_t)nblocks * sizeof(double));
    if (!bsum) { job->status = -1; return NULL; }
    job->status = 0;
    if (filtering(job)) {
        size_t V = (size_t)job->vocab;
        scratch_t sc = {(float *)malloc(V * sizeof(float)), (float *)malloc(V * sizeof(float)),
                        (entry_t *)malloc(V * sizeof(entry_t))};
        if (sc.row && sc.copy && sc.cand) run_rows_filtered(job, bsum, &sc);
        else job->status = -1;
        free(sc.row);
        free(sc.copy);
        free(sc.cand);
    } else if (job->temperature > 0.0f) {
        run_rows_scaled(job, bsum);
    } else {
        run_rows_plain(job, bsum);
    }
    free(bsum);
    return NULL;
}

#define MAX_THREADS 256

int dgc_confidence(const float *logits, int64_t rows, int64_t vocab, float temperature,
                   int64_t top_k, float top_p, const double *draws, int n_threads,
                   int64_t *token, float *prob, int64_t *top1, float *p1, float *p2, float *negent) {
    if (!logits || rows < 0 || vocab < 1 || !token || !prob || !top1 || !p1 || !p2 || !negent) return -1;
    if (!(temperature >= 0.0f) || top_k < 0 || !(top_p > 0.0f && top_p <= 1.0f)) return -1;
    if (top_p < 1.0f && vocab > INT32_MAX) return -1; /* top-p's candidates hold 32-bit indices */
    if (rows == 0) return 0;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt > rows) nt = (int)rows;
    if (rows * vocab < 65536) nt = 1; /* not worth a thread */

    job_t jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS];
    int64_t next_row = 0;
    for (int t = 0; t < nt; t++) {
        job_t j = {logits, vocab, temperature, top_k, top_p, draws, token, top1, prob, p1, p2, negent, rows,
                   &next_row, -1};
        jobs[t] = j;
        started[t] = 0;
    }
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    int status = jobs[0].status;
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tids[t], NULL);
        else run_job(&jobs[t]); /* no thread to be had: do its rows here */
        if (jobs[t].status != 0) status = -1;
    }
    return status;
}
