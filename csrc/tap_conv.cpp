// autofast._C: CPU kernels for the depthwise *tap convolution* (pybind11 + OpenMP, no libtorch).
//
// Contract (see kernels/conv/reference.py), 'same' padding, stride 1, zero outside:
//
//   depthwise_fwd:   out[b, c, p] = sum_u w[c, u] * x[b, c, p + off_u]
//   depthwise_wgrad: out[c, u]    = sum_{b, p} g[b, c, p] * x[b, c, p + off_u]
//
// for x (B, C, *S) with ndim = len(S) in {1, 2}, offsets (U, ndim) int64. The input gradient is
// depthwise_fwd(g, w, -offsets).
//
// Scheme. Each (b, c) plane is copied into a per-thread zero-padded buffer (padded by the largest
// *live* offset per dim, so that every tap read is in-bounds and branch-free); the output plane is
// cut into register tiles of R rows x NV vectors. For each tile the taps whose valid output range
// (the clipped interval where p + off lies inside the input) meets the tile are listed once per
// call (the same list serves every plane), and the tile's accumulators stay in registers while the
// tap loop streams shifted loads from the padded buffer (L1/L2 resident for small images).
// Taps with |offset| >= size in some dim read only padding and are dropped (exact).
//
// SIMD: GCC/Clang vector extensions; the plane kernels are compiled for the baseline target
// (16-byte vectors: SSE2 on x86-64, NEON on arm64), for target("avx2,fma") (32-byte) and, forward
// only, for target("avx512f") (64-byte), and picked at run time with __builtin_cpu_supports (no
// -march=native, so the binary runs on any x86-64). AUTOFAST_SIMD=baseline|avx2|avx512 caps the
// choice; set_simd_level() switches it (tests use it to cover every variant).
//
// Determinism: the forward sums taps in a fixed order; the weight gradient sums per-plane partials
// into float64 in an order fixed by the shapes (never by the thread count or schedule), no atomics.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

#if defined(__GNUC__) || defined(__clang__)
#define AF_INLINE inline __attribute__((always_inline))
#define AF_HAVE_VECEXT 1
#else
#define AF_INLINE inline
#define AF_HAVE_VECEXT 0
#endif

#if AF_HAVE_VECEXT && (defined(__x86_64__) || defined(__i386__))
#define AF_X86_DISPATCH 1
#define AF_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define AF_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define AF_X86_DISPATCH 0
#define AF_TARGET_AVX2
#define AF_TARGET_AVX512
#endif

namespace {

using i64 = std::int64_t;

// ------------------------------------------------------------------------------------------------
// SIMD vectors of VB bytes (16: SSE2 baseline, 32: AVX2, 64: AVX-512)
// ------------------------------------------------------------------------------------------------
#if AF_HAVE_VECEXT
template <typename T, int VB>
struct VecT {
    typedef T type __attribute__((vector_size(VB)));
};
template <typename T, int VB>
using Vec = typename VecT<T, VB>::type;

template <typename T, int VB>
AF_INLINE Vec<T, VB> vload(const T* p) {
    Vec<T, VB> v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}
template <typename T, int VB>
AF_INLINE void vstore(T* p, const Vec<T, VB>& v) {
    std::memcpy(p, &v, sizeof(v));
}
template <typename T, int VB>
AF_INLINE Vec<T, VB> vzero() {
    return Vec<T, VB>{};  // value-initialised: all zeros
}
template <typename T, int VB>
AF_INLINE Vec<T, VB> vbroadcast(T s) {
    return vzero<T, VB>() + s;
}
#else
// Portable fallback: a tiny struct with element-wise loops (the compiler may still vectorise).
template <typename T, int VB>
struct Vec {
    static constexpr int N = VB / (int)sizeof(T);
    T v[N];
    AF_INLINE Vec& operator+=(const Vec& o) {
        for (int i = 0; i < N; ++i) v[i] += o.v[i];
        return *this;
    }
    AF_INLINE Vec operator*(const Vec& o) const {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = v[i] * o.v[i];
        return r;
    }
    AF_INLINE Vec operator+(const Vec& o) const {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = v[i] + o.v[i];
        return r;
    }
};
template <typename T, int VB>
AF_INLINE Vec<T, VB> vload(const T* p) {
    Vec<T, VB> r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
}
template <typename T, int VB>
AF_INLINE void vstore(T* p, const Vec<T, VB>& v) {
    std::memcpy(p, v.v, sizeof(v.v));
}
template <typename T, int VB>
AF_INLINE Vec<T, VB> vzero() {
    Vec<T, VB> r;
    for (int i = 0; i < Vec<T, VB>::N; ++i) r.v[i] = T(0);
    return r;
}
template <typename T, int VB>
AF_INLINE Vec<T, VB> vbroadcast(T s) {
    Vec<T, VB> r;
    for (int i = 0; i < Vec<T, VB>::N; ++i) r.v[i] = s;
    return r;
}
#endif

// ------------------------------------------------------------------------------------------------
// SIMD level (picked once from the CPU; AUTOFAST_SIMD=baseline|avx2|avx512 caps it)
// ------------------------------------------------------------------------------------------------
enum Level : int { LV_BASE = 0, LV_AVX2 = 1, LV_AVX512 = 2 };
const char* const kLevelNames[] = {"baseline", "avx2", "avx512"};

int vec_bytes(Level lv) { return lv == LV_AVX512 ? 64 : (lv == LV_AVX2 ? 32 : 16); }

Level hardware_level() {
    static const Level hw = [] {
        Level lv = LV_BASE;
#if AF_X86_DISPATCH
        __builtin_cpu_init();  // libgcc's checks include OS support (XCR0) for the AVX state
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            lv = LV_AVX2;
            if (__builtin_cpu_supports("avx512f")) lv = LV_AVX512;
        }
#endif
        return lv;
    }();
    return hw;
}

int parse_level(const std::string& s) {
    for (int i = 0; i < 3; ++i)
        if (s == kLevelNames[i]) return i;
    return -1;
}

std::atomic<int>& level_slot() {
    static std::atomic<int> slot([] {
        int lv = (int)hardware_level();
        if (const char* e = std::getenv("AUTOFAST_SIMD")) {
            int cap = parse_level(e);
            if (cap >= 0 && cap < lv) lv = cap;
        }
        return lv;
    }());
    return slot;
}

Level current_level() { return (Level)level_slot().load(std::memory_order_relaxed); }

// ------------------------------------------------------------------------------------------------
// Plan: geometry shared by all planes of one call
// ------------------------------------------------------------------------------------------------
struct Plan {
    int ndim = 1;
    int vl = 8;           // elements per SIMD vector
    i64 H = 1, W = 1;     // plane (H = 1 in 1-D)
    int R = 1, NV = 8;    // register tile: R rows x NV vectors
    i64 TW = 0;           // tile width in elements = NV * vl
    i64 ry = 0, rx = 0;   // padding (largest live |offset| per dim)
    i64 Hr = 1, Wr = 1;   // output extent rounded up to whole tiles
    i64 Hp = 1, Wp = 1;   // padded input buffer extent
    i64 ntr = 0, ntc = 0; // tiles per column / row
    i64 U = 0;            // all taps (live or not): the stride of w / wgrad rows
    std::vector<i64> live;            // indices of live taps
    std::vector<i64> tile_begin;      // CSR over tiles into tap_u / tap_off
    std::vector<std::int32_t> tap_u;  // tap index u (into w[c, :])
    std::vector<i64> tap_off;         // linear offset of the tap in the padded buffer
};

Plan make_plan(int ndim, i64 H, i64 W, const i64* offs, i64 U, int vl) {
    Plan pl;
    pl.ndim = ndim;
    pl.vl = vl;
    pl.H = H;
    pl.W = W;
    pl.U = U;
    // Tile shape: 8 vector accumulators. 1-D: one row of 8 vectors. 2-D: as wide as the image
    // needs (a power of two of vectors, at most 8), the rest in rows.
    const i64 nvec = (W + vl - 1) / vl;
    int NV = 8;
    if (ndim == 2) {
        NV = 1;
        while (NV < 8 && NV < nvec) NV *= 2;
    }
    pl.NV = NV;
    pl.R = (ndim == 2) ? 8 / NV : 1;
    pl.TW = (i64)NV * vl;
    for (i64 u = 0; u < U; ++u) {
        const i64 dy = ndim == 2 ? offs[2 * u] : 0;
        const i64 dx = ndim == 2 ? offs[2 * u + 1] : offs[u];
        // |off| >= size reads only padding (and keeps -INT64_MIN out of the arithmetic below)
        if (dy <= -H || dy >= H || dx <= -W || dx >= W) continue;
        pl.live.push_back(u);
        pl.ry = std::max(pl.ry, dy < 0 ? -dy : dy);
        pl.rx = std::max(pl.rx, dx < 0 ? -dx : dx);
    }
    pl.ntr = (H + pl.R - 1) / pl.R;
    pl.ntc = (W + pl.TW - 1) / pl.TW;
    pl.Hr = pl.ntr * pl.R;
    pl.Wr = pl.ntc * pl.TW;
    pl.Hp = pl.Hr + 2 * pl.ry;
    pl.Wp = pl.Wr + 2 * pl.rx;
    const i64 ntiles = pl.ntr * pl.ntc;
    pl.tile_begin.assign(ntiles + 1, 0);
    // Per tile: the live taps whose valid output rectangle meets the tile, in tap order.
    for (i64 ti = 0; ti < pl.ntr; ++ti) {
        const i64 i0 = ti * pl.R, i1 = i0 + pl.R;
        for (i64 tj = 0; tj < pl.ntc; ++tj) {
            const i64 j0 = tj * pl.TW, j1 = j0 + pl.TW;
            for (i64 u : pl.live) {
                const i64 dy = ndim == 2 ? offs[2 * u] : 0;
                const i64 dx = ndim == 2 ? offs[2 * u + 1] : offs[u];
                // valid output rows: 0 <= i + dy < H  ->  [max(0, -dy), min(H, H - dy))
                const i64 r0 = std::max<i64>(0, -dy), r1 = std::min<i64>(H, H - dy);
                const i64 c0 = std::max<i64>(0, -dx), c1 = std::min<i64>(W, W - dx);
                if (r0 >= i1 || r1 <= i0 || c0 >= j1 || c1 <= j0) continue;
                pl.tap_u.push_back((std::int32_t)u);
                pl.tap_off.push_back(dy * pl.Wp + dx);
            }
            pl.tile_begin[ti * pl.ntc + tj + 1] = (i64)pl.tap_u.size();
        }
    }
    return pl;
}

// Per-thread scratch, 64-byte aligned (whole cache lines; aligned rows when strides allow).
template <typename T>
struct Scratch {
    std::vector<T> mem;
    T* ptr = nullptr;
    explicit Scratch(i64 n) : mem((size_t)(n + 64 / sizeof(T)), T(0)) {
        const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(mem.data());
        ptr = mem.data() + ((64 - (a & 63)) & 63) / sizeof(T);
    }
    T* data() { return ptr; }
};

// Copy an H x W plane into a buffer with row stride `stride` starting at `dst` (rows/cols outside
// the copied block are left untouched: they were zeroed once and are never written).
template <typename T>
AF_INLINE void copy_plane(const Plan& pl, const T* src, T* dst, i64 stride) {
    if (pl.W == stride) {
        std::memcpy(dst, src, sizeof(T) * pl.H * pl.W);
        return;
    }
    for (i64 i = 0; i < pl.H; ++i) std::memcpy(dst + i * stride, src + i * pl.W, sizeof(T) * pl.W);
}

// ------------------------------------------------------------------------------------------------
// Forward: one plane
// ------------------------------------------------------------------------------------------------
template <typename T, int VB, int R, int NV>
AF_INLINE void fwd_plane_impl(const Plan& pl, const T* __restrict x, const T* __restrict wc,
                              T* __restrict out, T* __restrict xp, T* __restrict ob) {
    constexpr int L = VB / (int)sizeof(T);
    using V = Vec<T, VB>;
    const i64 Wp = pl.Wp, Wr = pl.Wr;
    copy_plane(pl, x, xp + pl.ry * Wp + pl.rx, Wp);
    const i64* tb = pl.tile_begin.data();
    const std::int32_t* tu = pl.tap_u.data();
    const i64* to = pl.tap_off.data();
    for (i64 ti = 0; ti < pl.ntr; ++ti) {
        for (i64 tj = 0; tj < pl.ntc; ++tj) {
            const i64 i0 = ti * R, j0 = tj * (i64)(NV * L);
            const T* base = xp + (i0 + pl.ry) * Wp + (j0 + pl.rx);
            V acc[R][NV];
            for (int r = 0; r < R; ++r)
                for (int v = 0; v < NV; ++v) acc[r][v] = vzero<T, VB>();
            const i64 k1 = tb[ti * pl.ntc + tj + 1];
            for (i64 k = tb[ti * pl.ntc + tj]; k < k1; ++k) {
                const V wv = vbroadcast<T, VB>(wc[tu[k]]);
                const T* s = base + to[k];
                for (int r = 0; r < R; ++r)
                    for (int v = 0; v < NV; ++v) acc[r][v] += wv * vload<T, VB>(s + r * Wp + v * L);
            }
            T* o = ob + i0 * Wr + j0;
            for (int r = 0; r < R; ++r)
                for (int v = 0; v < NV; ++v) vstore<T, VB>(o + r * Wr + v * L, acc[r][v]);
        }
    }
    if (pl.W == Wr) {
        std::memcpy(out, ob, sizeof(T) * pl.H * pl.W);
    } else {
        for (i64 i = 0; i < pl.H; ++i) std::memcpy(out + i * pl.W, ob + i * Wr, sizeof(T) * pl.W);
    }
}

// ------------------------------------------------------------------------------------------------
// Weight gradient: one plane. Per-tap vector partials live in accv (U x L); they are flushed into
// the float64 sums dacc (U) at a fixed cadence (bounded fp32 summation length).
// ------------------------------------------------------------------------------------------------
template <typename T, int VB, int R, int NV>
AF_INLINE void wgrad_plane_impl(const Plan& pl, const T* __restrict x, const T* __restrict g,
                                double* __restrict dacc, T* __restrict xp, T* __restrict gb,
                                T* __restrict accv) {
    constexpr int L = VB / (int)sizeof(T);
    using V = Vec<T, VB>;
    const i64 Wp = pl.Wp, Wr = pl.Wr;
    copy_plane(pl, x, xp + pl.ry * Wp + pl.rx, Wp);
    copy_plane(pl, g, gb, Wr);
    const i64* tb = pl.tile_begin.data();
    const std::int32_t* tu = pl.tap_u.data();
    const i64* to = pl.tap_off.data();
    const i64 nl = (i64)pl.live.size();
    const i64* live = pl.live.data();
    const i64 flush_every = std::max<i64>(1, 4096 / (R * NV * L));
    i64 since = 0;
    auto flush = [&]() {
        for (i64 q = 0; q < nl; ++q) {
            T* a = accv + live[q] * L;
            double s = 0.0;
            for (int l = 0; l < L; ++l) s += (double)a[l];
            dacc[live[q]] += s;
            for (int l = 0; l < L; ++l) a[l] = T(0);
        }
    };
    for (i64 ti = 0; ti < pl.ntr; ++ti) {
        for (i64 tj = 0; tj < pl.ntc; ++tj) {
            const i64 i0 = ti * R, j0 = tj * (i64)(NV * L);
            const T* base = xp + (i0 + pl.ry) * Wp + (j0 + pl.rx);
            const T* gt = gb + i0 * Wr + j0;
            V gv[R][NV];
            for (int r = 0; r < R; ++r)
                for (int v = 0; v < NV; ++v) gv[r][v] = vload<T, VB>(gt + r * Wr + v * L);
            const i64 k1 = tb[ti * pl.ntc + tj + 1];
            for (i64 k = tb[ti * pl.ntc + tj]; k < k1; ++k) {
                const T* s = base + to[k];
                V t0 = vzero<T, VB>(), t1 = vzero<T, VB>();  // two independent chains
                int q = 0;
                for (int r = 0; r < R; ++r)
                    for (int v = 0; v < NV; ++v, ++q) {
                        if (q & 1)
                            t1 += gv[r][v] * vload<T, VB>(s + r * Wp + v * L);
                        else
                            t0 += gv[r][v] * vload<T, VB>(s + r * Wp + v * L);
                    }
                T* a = accv + (i64)tu[k] * L;
                vstore<T, VB>(a, vload<T, VB>(a) + (t0 + t1));
            }
            if (++since >= flush_every) {
                flush();
                since = 0;
            }
        }
    }
    if (since) flush();
}

// ------------------------------------------------------------------------------------------------
// Target variants and dispatch
// ------------------------------------------------------------------------------------------------
template <typename T>
using FwdFn = void (*)(const Plan&, const T*, const T*, T*, T*, T*);
template <typename T>
using WgradFn = void (*)(const Plan&, const T*, const T*, double*, T*, T*, T*);

template <typename T, int R, int NV>
void fwd_plane_base(const Plan& pl, const T* x, const T* wc, T* out, T* xp, T* ob) {
    fwd_plane_impl<T, 16, R, NV>(pl, x, wc, out, xp, ob);
}
template <typename T, int R, int NV>
void wgrad_plane_base(const Plan& pl, const T* x, const T* g, double* d, T* xp, T* gb, T* a) {
    wgrad_plane_impl<T, 16, R, NV>(pl, x, g, d, xp, gb, a);
}
#if AF_X86_DISPATCH
template <typename T, int R, int NV>
AF_TARGET_AVX2 void fwd_plane_avx2(const Plan& pl, const T* x, const T* wc, T* out, T* xp, T* ob) {
    fwd_plane_impl<T, 32, R, NV>(pl, x, wc, out, xp, ob);
}
template <typename T, int R, int NV>
AF_TARGET_AVX2 void wgrad_plane_avx2(const Plan& pl, const T* x, const T* g, double* d, T* xp, T* gb,
                                     T* a) {
    wgrad_plane_impl<T, 32, R, NV>(pl, x, g, d, xp, gb, a);
}
template <typename T, int R, int NV>
AF_TARGET_AVX512 void fwd_plane_avx512(const Plan& pl, const T* x, const T* wc, T* out, T* xp, T* ob) {
    fwd_plane_impl<T, 64, R, NV>(pl, x, wc, out, xp, ob);
}
#endif

template <typename T, int R, int NV>
void pick(Level lv, FwdFn<T>& f, WgradFn<T>& g) {
    f = nullptr;
    g = nullptr;
#if AF_X86_DISPATCH
    if (lv == LV_AVX512) {
        f = &fwd_plane_avx512<T, R, NV>;
        return;
    }
    if (lv == LV_AVX2) {
        f = &fwd_plane_avx2<T, R, NV>;
        g = &wgrad_plane_avx2<T, R, NV>;
        return;
    }
#endif
    (void)lv;
    f = &fwd_plane_base<T, R, NV>;
    g = &wgrad_plane_base<T, R, NV>;
}

// Everything one call needs: the geometry and the plane kernel of the current SIMD level.
template <typename T>
struct Kernels {
    Plan pl;
    FwdFn<T> fwd = nullptr;
    WgradFn<T> wgrad = nullptr;
};

// The weight gradient has no AVX-512 variant: its unaligned 64-byte loads split cache lines on
// every tap and measured slower than AVX2 (Zen 5); the forward gains ~15-20% from AVX-512.
enum class Op { Fwd, Wgrad };

template <typename T>
Kernels<T> prepare(Op op, int ndim, i64 H, i64 W, const i64* offs, i64 U) {
    Level lv = current_level();
    if (op == Op::Wgrad && lv == LV_AVX512) lv = LV_AVX2;
    Kernels<T> k;
    k.pl = make_plan(ndim, H, W, offs, U, vec_bytes(lv) / (int)sizeof(T));
    switch (k.pl.R) {
        case 1: pick<T, 1, 8>(lv, k.fwd, k.wgrad); break;
        case 2: pick<T, 2, 4>(lv, k.fwd, k.wgrad); break;
        case 4: pick<T, 4, 2>(lv, k.fwd, k.wgrad); break;
        default: pick<T, 8, 1>(lv, k.fwd, k.wgrad); break;
    }
    return k;
}

// ------------------------------------------------------------------------------------------------
// Drivers
// ------------------------------------------------------------------------------------------------
template <typename T>
void run_fwd(const T* x, const T* w, T* out, i64 B, i64 C, const Kernels<T>& k) {
    const Plan& pl = k.pl;
    const i64 plane = pl.H * pl.W;
    const i64 nplanes = B * C;
    const i64 U = pl.U;
    if (pl.live.empty()) {  // every tap reads only padding
        std::fill(out, out + nplanes * plane, T(0));
        return;
    }
    const auto f = k.fwd;
#pragma omp parallel if (nplanes > 1)
    {
        Scratch<T> xp(pl.Hp * pl.Wp), ob(pl.Hr * pl.Wr);
        // guided: balances planes when a core is shared with other work; the result does not
        // depend on the schedule (each plane is computed by one thread in a fixed order)
#pragma omp for schedule(guided)
        for (i64 bc = 0; bc < nplanes; ++bc) {
            const i64 c = bc % C;
            f(pl, x + bc * plane, w + c * U, out + bc * plane, xp.data(), ob.data());
        }
    }
}

template <typename T>
void run_wgrad(const T* x, const T* gr, T* out, i64 B, i64 C, const Kernels<T>& k) {
    const Plan& pl = k.pl;
    const i64 plane = pl.H * pl.W;
    const i64 U = pl.U;
    // Work items: (channel, batch chunk). The chunking depends on the shapes only, so the float64
    // reduction order (b ascending inside a chunk, chunks ascending) never depends on the threads.
    const i64 target_items = 64;
    i64 K = (C >= target_items || B <= 1) ? 1 : std::min<i64>(B, (target_items + C - 1) / C);
    const i64 chunk = B > 0 ? (B + K - 1) / K : 1;
    K = B > 0 ? (B + chunk - 1) / chunk : 1;
    std::vector<double> part((size_t)(K * C * U), 0.0);
    if (!pl.live.empty() && B > 0 && plane > 0) {
        const auto g = k.wgrad;
#pragma omp parallel if (K * C > 1)
        {
            Scratch<T> xp(pl.Hp * pl.Wp), gb(pl.Hr * pl.Wr), accv(U * pl.vl);
#pragma omp for schedule(dynamic, 1)
            for (i64 item = 0; item < K * C; ++item) {
                const i64 kk = item / C, c = item % C;
                double* d = part.data() + (kk * C + c) * U;
                const i64 b1 = std::min(B, (kk + 1) * chunk);
                for (i64 b = kk * chunk; b < b1; ++b) {
                    const i64 off = (b * C + c) * plane;
                    g(pl, x + off, gr + off, d, xp.data(), gb.data(), accv.data());
                }
            }
        }
    }
    for (i64 c = 0; c < C; ++c)
        for (i64 u = 0; u < U; ++u) {
            double s = 0.0;
            for (i64 kk = 0; kk < K; ++kk) s += part[(kk * C + c) * U + u];
            out[c * U + u] = (T)s;
        }
}

// ------------------------------------------------------------------------------------------------
// Validation helpers
// ------------------------------------------------------------------------------------------------
std::string shape_str(const py::array& a) {
    std::ostringstream s;
    s << "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
    if (a.ndim() == 1) s << ",";
    s << ")";
    return s.str();
}

py::array as_array(const py::object& o, const char* name) {
    if (!py::isinstance<py::array>(o))
        throw py::value_error(std::string(name) + " must be a numpy.ndarray, got " +
                              std::string(py::str(py::type::of(o).attr("__name__"))));
    return py::reinterpret_borrow<py::array>(o);
}

void require_contig(const py::array& a, const char* name) {
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous (call .contiguous() first)");
}

void require_writeable(const py::array& a, const char* name) {
    if (!a.writeable()) throw py::value_error(std::string(name) + " must be writeable");
}

std::pair<const char*, const char*> byte_range(const py::array& a) {
    const char* p = static_cast<const char*>(a.data());
    return {p, p + a.nbytes()};
}

void require_no_overlap(const py::array& out, const py::array& in, const char* oname, const char* iname) {
    if (out.nbytes() == 0 || in.nbytes() == 0) return;
    auto o = byte_range(out), i = byte_range(in);
    if (o.first < i.second && i.first < o.second)
        throw py::value_error(std::string(oname) + " must not overlap " + iname);
}

struct Checked {
    int ndim;
    i64 B, C, H, W, U;
    bool is_f32;
};

// x-like (B, C, *S) and offsets (U, ndim)
Checked check_common(const py::array& x, const py::array& offsets, const char* xname) {
    Checked k{};
    const auto dt = x.dtype();
    if (dt.equal(py::dtype::of<float>()))
        k.is_f32 = true;
    else if (dt.equal(py::dtype::of<double>()))
        k.is_f32 = false;
    else
        throw py::value_error(std::string(xname) + " must be float32 or float64, got " +
                              std::string(py::str(dt)));
    if (x.ndim() != 3 && x.ndim() != 4)
        throw py::value_error(std::string(xname) + " must be (B, C, L) or (B, C, H, W), got shape " +
                              shape_str(x));
    require_contig(x, xname);
    k.ndim = (int)x.ndim() - 2;
    k.B = x.shape(0);
    k.C = x.shape(1);
    k.H = k.ndim == 2 ? x.shape(2) : 1;
    k.W = k.ndim == 2 ? x.shape(3) : x.shape(2);
    if (!offsets.dtype().equal(py::dtype::of<std::int64_t>()))
        throw py::value_error("offsets must be int64, got " + std::string(py::str(offsets.dtype())));
    if (offsets.ndim() != 2 || offsets.shape(1) != k.ndim)
        throw py::value_error("offsets must be (U, " + std::to_string(k.ndim) + ") for a " +
                              std::to_string(k.ndim) + "-D input, got shape " + shape_str(offsets));
    require_contig(offsets, "offsets");
    k.U = offsets.shape(0);
    if (k.U > (i64)INT32_MAX) throw py::value_error("too many taps");
    return k;
}

void require_same_dtype(const py::array& a, const py::array& ref, const char* name, const char* refname) {
    if (!a.dtype().equal(ref.dtype()))
        throw py::value_error(std::string(name) + " dtype " + std::string(py::str(a.dtype())) +
                              " does not match " + refname + " dtype " + std::string(py::str(ref.dtype())));
}

void require_shape_like(const py::array& a, const py::array& ref, const char* name, const char* refname) {
    bool same = a.ndim() == ref.ndim();
    for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == ref.shape(i);
    if (!same)
        throw py::value_error(std::string(name) + " shape " + shape_str(a) + " does not match " + refname +
                              " shape " + shape_str(ref));
}

void depthwise_fwd(const py::object& xo, const py::object& wo, const py::object& offo, const py::object& outo) {
    py::array x = as_array(xo, "x"), w = as_array(wo, "w"), offsets = as_array(offo, "offsets"),
              out = as_array(outo, "out");
    Checked k = check_common(x, offsets, "x");
    require_same_dtype(w, x, "w", "x");
    require_same_dtype(out, x, "out", "x");
    if (w.ndim() != 2 || w.shape(0) != k.C || w.shape(1) != k.U)
        throw py::value_error("w must be (C, U) = (" + std::to_string(k.C) + ", " + std::to_string(k.U) +
                              "), got shape " + shape_str(w));
    require_contig(w, "w");
    require_shape_like(out, x, "out", "x");
    require_contig(out, "out");
    require_writeable(out, "out");
    require_no_overlap(out, x, "out", "x");
    require_no_overlap(out, w, "out", "w");
    require_no_overlap(out, offsets, "out", "offsets");
    const i64* offs = static_cast<const i64*>(offsets.data());
    const void* xp = x.data();
    const void* wp = w.data();
    void* op = out.mutable_data();
    py::gil_scoped_release nogil;
    if (k.B * k.C * k.H * k.W == 0) return;
    if (k.is_f32) {
        const auto kr = prepare<float>(Op::Fwd, k.ndim, k.H, k.W, offs, k.U);
        run_fwd<float>(static_cast<const float*>(xp), static_cast<const float*>(wp), static_cast<float*>(op),
                       k.B, k.C, kr);
    } else {
        const auto kr = prepare<double>(Op::Fwd, k.ndim, k.H, k.W, offs, k.U);
        run_fwd<double>(static_cast<const double*>(xp), static_cast<const double*>(wp),
                        static_cast<double*>(op), k.B, k.C, kr);
    }
}

void depthwise_wgrad(const py::object& xo, const py::object& go, const py::object& offo, const py::object& outo) {
    py::array x = as_array(xo, "x"), g = as_array(go, "grad_out"), offsets = as_array(offo, "offsets"),
              out = as_array(outo, "out");
    Checked k = check_common(x, offsets, "x");
    require_same_dtype(g, x, "grad_out", "x");
    require_same_dtype(out, x, "out", "x");
    require_shape_like(g, x, "grad_out", "x");
    require_contig(g, "grad_out");
    if (out.ndim() != 2 || out.shape(0) != k.C || out.shape(1) != k.U)
        throw py::value_error("out must be (C, U) = (" + std::to_string(k.C) + ", " + std::to_string(k.U) +
                              "), got shape " + shape_str(out));
    require_contig(out, "out");
    require_writeable(out, "out");
    require_no_overlap(out, x, "out", "x");
    require_no_overlap(out, g, "out", "grad_out");
    require_no_overlap(out, offsets, "out", "offsets");
    const i64* offs = static_cast<const i64*>(offsets.data());
    const void* xp = x.data();
    const void* gp = g.data();
    void* op = out.mutable_data();
    py::gil_scoped_release nogil;
    if (k.H * k.W == 0) k.B = 0;  // empty planes: all sums are zero
    if (k.is_f32) {
        const auto kr = prepare<float>(Op::Wgrad, k.ndim, k.H, k.W, offs, k.U);
        run_wgrad<float>(static_cast<const float*>(xp), static_cast<const float*>(gp), static_cast<float*>(op),
                         k.B, k.C, kr);
    } else {
        const auto kr = prepare<double>(Op::Wgrad, k.ndim, k.H, k.W, offs, k.U);
        run_wgrad<double>(static_cast<const double*>(xp), static_cast<const double*>(gp),
                          static_cast<double*>(op), k.B, k.C, kr);
    }
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    m.doc() = "autofast CPU kernels: depthwise tap convolution (pybind11 + OpenMP)";
    m.def("depthwise_fwd", &depthwise_fwd, py::arg("x"), py::arg("w"), py::arg("offsets"), py::arg("out"),
          "out[b, c, p] = sum_u w[c, u] * x[b, c, p + offsets[u]] ('same' zero padding), written into out.\n"
          "x, out: (B, C, L) or (B, C, H, W); w: (C, U); offsets: (U, ndim) int64. float32 or float64, "
          "C-contiguous numpy arrays. The input gradient is depthwise_fwd(grad_out, w, -offsets).");
    m.def("depthwise_wgrad", &depthwise_wgrad, py::arg("x"), py::arg("grad_out"), py::arg("offsets"),
          py::arg("out"),
          "out[c, u] = sum_{b, p} grad_out[b, c, p] * x[b, c, p + offsets[u]], written into out (C, U). "
          "Deterministic (float64 partial sums in a fixed order, independent of the thread count).");
    m.def("simd_level", [] { return std::string(kLevelNames[current_level()]); },
          "SIMD variant the kernels use: 'avx512', 'avx2' (with FMA) or 'baseline' (SSE2).");
    m.def("hardware_simd_level", [] { return std::string(kLevelNames[hardware_level()]); },
          "Best SIMD variant this CPU (and OS) supports.");
    m.def(
        "set_simd_level",
        [](const std::string& name) {
            const int lv = parse_level(name);
            if (lv < 0) throw py::value_error("unknown SIMD level '" + name + "'; use baseline, avx2 or avx512");
            if (lv > (int)hardware_level())
                throw py::value_error("SIMD level '" + name + "' is not supported by this CPU (best: " +
                                      kLevelNames[hardware_level()] + ")");
            const int old = level_slot().exchange(lv);
            return std::string(kLevelNames[old]);
        },
        py::arg("name"),
        "Select the SIMD variant ('baseline', 'avx2', 'avx512'; at most hardware_simd_level()); "
        "returns the previous one. The environment variable AUTOFAST_SIMD caps the initial choice.");
    m.def("openmp_enabled", [] {
#ifdef _OPENMP
        return true;
#else
        return false;
#endif
    });
    m.def("max_threads", &max_threads, "OpenMP threads the kernels use (omp_get_max_threads).");
}
