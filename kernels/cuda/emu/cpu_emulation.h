/* A CPU emulation of exactly the CUDA features kernels/cuda uses, so the real
 * kernel sources (and the harness) can be compiled with g++ and RUN on a
 * machine without a GPU:
 *
 *   g++ -std=c++17 -O2 -U_FORTIFY_SOURCE -DDGC_CPU_EMULATION -I kernels/cuda/emu -x c++ \
 *       kernels/cuda/harness.cu kernels/cuda/fused_confidence.cu kernels/cuda/block_attention.cu -o emu_harness
 *   ./emu_harness --checks-only
 *
 * Why: no GPU was available when these kernels were written; this catches
 * indexing, reduction, shuffle and barrier-placement bugs before a GPU session
 * pays for them. What it cannot catch: data races and memory-ordering bugs
 * (threads run one at a time), anything about performance, occupancy or
 * register limits, and differences between the GPU's and glibc's expf/exp2f/logf
 * (the harness's tolerances allow for those).
 *
 * Model: a thread block's threads are fibers on one OS thread (started with
 * makecontext, switched with _setjmp/_longjmp, hence -U_FORTIFY_SOURCE: the
 * checked longjmp refuses to change stacks), run in
 * turn until each reaches a barrier. __syncthreads releases when every live
 * thread of the block waits at it; warp primitives are a warp barrier around a
 * slot exchange and release when every live lane of that warp waits. Anything
 * else (a barrier some threads can never reach) is reported as a deadlock and
 * aborts: on a GPU it would hang or be undefined. Blocks run one after another,
 * so __shared__ variables are function-level statics. */
#ifndef DGC_CPU_EMULATION_H
#define DGC_CPU_EMULATION_H

#include <setjmp.h>
#include <ucontext.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

// ---- language -------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct float2 { float x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }

namespace dgc_emu {

enum State { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct Fiber {
    ucontext_t ctx;   // only to start the fiber on its own stack
    jmp_buf jb;       // every later switch: _setjmp/_longjmp make no system call, swapcontext does two
    bool started = false;
    dim3 tid;
    int linear = 0;
    State state = RUNNABLE;
    unsigned char slot[8];
};

struct Grid {
    dim3 block_idx, block_dim, grid_dim;
    std::vector<Fiber> fibers;
    std::vector<std::vector<char>> stacks;
    ucontext_t sched;
    jmp_buf sched_jb;
    Fiber *current = nullptr;
    std::function<void()> body;
};

inline Grid &grid() { static Grid g; return g; }

inline void trampoline() {
    Grid &g = grid();
    g.body();
    g.current->state = DONE;
    _longjmp(g.sched_jb, 1);  // never return through uc_link: that context is stale by now
}

inline void wait(State s) {
    Grid &g = grid();
    if (!g.current) { fprintf(stderr, "emulation: barrier outside a kernel\n"); abort(); }
    g.current->state = s;
    if (_setjmp(g.current->jb) == 0) _longjmp(g.sched_jb, 1);
}

inline void run_block() {
    Grid &g = grid();
    const int n = (int)g.fibers.size();
    for (;;) {
        bool ran = false;
        for (int i = 0; i < n; ++i) {
            if (g.fibers[i].state != RUNNABLE) continue;
            g.current = &g.fibers[i];
            if (_setjmp(g.sched_jb) == 0) {
                if (g.current->started) _longjmp(g.current->jb, 1);
                g.current->started = true;
                swapcontext(&g.sched, &g.current->ctx);
            }
            ran = true;
        }
        g.current = nullptr;
        int live = 0, at_block = 0;
        for (auto &f : g.fibers) {
            if (f.state != DONE) ++live;
            if (f.state == WAIT_BLOCK) ++at_block;
        }
        if (live == 0) return;
        bool released = false;
        if (at_block == live) {
            for (auto &f : g.fibers) if (f.state == WAIT_BLOCK) f.state = RUNNABLE;
            released = true;
        } else {
            for (int w = 0; w * 32 < n; ++w) {
                int lanes_live = 0, lanes_waiting = 0;
                for (int l = w * 32; l < n && l < w * 32 + 32; ++l) {
                    if (g.fibers[l].state != DONE) ++lanes_live;
                    if (g.fibers[l].state == WAIT_WARP) ++lanes_waiting;
                }
                if (lanes_waiting > 0 && lanes_waiting == lanes_live) {
                    for (int l = w * 32; l < n && l < w * 32 + 32; ++l)
                        if (g.fibers[l].state == WAIT_WARP) g.fibers[l].state = RUNNABLE;
                    released = true;
                }
            }
        }
        if (!released && !ran) {
            fprintf(stderr, "emulation: deadlock in block (%u,%u,%u): %d live threads, %d at __syncthreads\n",
                    g.block_idx.x, g.block_idx.y, g.block_idx.z, live, at_block);
            abort();
        }
    }
}

template <typename K>
struct Launcher {
    K kernel;
    dim3 grid_dim, block_dim;
    template <typename... A>
    void operator()(A... args) {
        Grid &g = grid();
        const int n = (int)(block_dim.x * block_dim.y * block_dim.z);
        if (n % 32 != 0) { fprintf(stderr, "emulation: block size must be a multiple of 32\n"); abort(); }
        g.grid_dim = grid_dim;
        g.block_dim = block_dim;
        g.fibers.assign(n, Fiber());
        g.stacks.resize(n);
        for (auto &s : g.stacks) s.resize(64 * 1024);  // the kernels are shallow: no recursion, small local arrays
        g.body = [&]() { kernel(args...); };
        for (unsigned z = 0; z < grid_dim.z; ++z)
            for (unsigned y = 0; y < grid_dim.y; ++y)
                for (unsigned x = 0; x < grid_dim.x; ++x) {
                    g.block_idx = dim3(x, y, z);
                    for (int i = 0; i < n; ++i) {
                        Fiber &f = g.fibers[i];
                        f.state = RUNNABLE;
                        f.started = false;
                        f.linear = i;
                        f.tid = dim3(i % block_dim.x, (i / block_dim.x) % block_dim.y,
                                     i / (block_dim.x * block_dim.y));
                        getcontext(&f.ctx);
                        f.ctx.uc_stack.ss_sp = g.stacks[i].data();
                        f.ctx.uc_stack.ss_size = g.stacks[i].size();
                        f.ctx.uc_link = &g.sched;
                        makecontext(&f.ctx, trampoline, 0);
                    }
                    run_block();
                }
        g.body = nullptr;
    }
};

template <typename K>
Launcher<K> launch(K kernel, dim3 g, dim3 b) { return Launcher<K>{kernel, g, b}; }

inline Fiber &me() { return *grid().current; }
inline int lane() { return me().linear % 32; }
inline Fiber &lane_fiber(int l) { return grid().fibers[(me().linear / 32) * 32 + l]; }

template <typename T>
T exchange(T v, int src) {
    static_assert(sizeof(T) <= 8, "slot size");
    std::memcpy(me().slot, &v, sizeof(T));
    wait(WAIT_WARP);
    T r;
    std::memcpy(&r, lane_fiber(src).slot, sizeof(T));
    wait(WAIT_WARP);  // nobody overwrites a slot before every lane has read it
    return r;
}

}  // namespace dgc_emu

#define threadIdx (::dgc_emu::me().tid)
#define blockIdx (::dgc_emu::grid().block_idx)
#define blockDim (::dgc_emu::grid().block_dim)
#define gridDim (::dgc_emu::grid().grid_dim)

inline void __syncthreads() { ::dgc_emu::wait(::dgc_emu::WAIT_BLOCK); }
template <typename T> T __shfl_sync(unsigned, T v, int src) { return ::dgc_emu::exchange(v, src & 31); }
template <typename T> T __shfl_xor_sync(unsigned, T v, int m) {
    return ::dgc_emu::exchange(v, ::dgc_emu::lane() ^ m);
}
template <typename T> T __shfl_down_sync(unsigned, T v, unsigned d) {
    int l = ::dgc_emu::lane();
    return ::dgc_emu::exchange(v, l + (int)d < 32 ? l + (int)d : l);
}
template <typename T> T __shfl_up_sync(unsigned, T v, unsigned d) {
    int l = ::dgc_emu::lane();
    return ::dgc_emu::exchange(v, l >= (int)d ? l - (int)d : l);
}
inline unsigned __ballot_sync(unsigned, int pred) {
    unsigned char p = pred ? 1 : 0;
    std::memcpy(::dgc_emu::me().slot, &p, 1);
    ::dgc_emu::wait(::dgc_emu::WAIT_WARP);
    unsigned bits = 0;
    for (int l = 0; l < 32; ++l)
        if (::dgc_emu::lane_fiber(l).state != ::dgc_emu::DONE && ::dgc_emu::lane_fiber(l).slot[0]) bits |= 1u << l;
    ::dgc_emu::wait(::dgc_emu::WAIT_WARP);
    return bits;
}
inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
inline float __fdiv_rn(float a, float b) { return a / b; }
template <typename T> T __ldg(const T *p) { return *p; }

// ---- half / bfloat16 ------------------------------------------------------
struct __half { _Float16 v; };
struct __half2 { __half x, y; };
struct __nv_bfloat16 { uint16_t bits; };
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half(float f) { return __half{(_Float16)f}; }  // round to nearest even
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
inline float __bfloat162float(__nv_bfloat16 b) {
    uint32_t u = (uint32_t)b.bits << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline __nv_bfloat16 __float2bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{(uint16_t)((u >> 16) | 0x40)};  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{(uint16_t)(u >> 16)};
}
inline float2 __bfloat1622float2(__nv_bfloat162 b) { return {__bfloat162float(b.x), __bfloat162float(b.y)}; }

// ---- runtime --------------------------------------------------------------
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
typedef void *cudaStream_t;
struct dgc_emu_event { double us; };
typedef dgc_emu_event *cudaEvent_t;
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount, l2CacheSize;
    size_t totalGlobalMem;
};

inline const char *cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : e == cudaErrorInvalidValue ? "invalid argument" : "out of memory";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    std::memset(p, 0, sizeof *p);
    std::snprintf(p->name, sizeof p->name, "CPU emulation (kernels/cuda/emu), not a GPU");
    p->multiProcessorCount = 1;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
template <typename T> cudaError_t cudaMalloc(T **p, size_t n) {
    *p = (T *)std::malloc(n ? n : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <typename T> cudaError_t cudaMallocHost(T **p, size_t n) { return cudaMalloc(p, n); }
inline cudaError_t cudaFree(void *p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaFreeHost(void *p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) {
    std::memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t = 0) {
    return cudaMemcpy(d, s, n, k);
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) { std::memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t = 0) { return cudaMemset(p, v, n); }
inline double dgc_emu_now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
inline cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = new dgc_emu_event{0}; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = 0) { e->us = dgc_emu_now_us(); return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)((b->us - a->us) / 1000.0);
    return cudaSuccess;
}

#endif
