// Fused forward pass of SymmetrizedFourierFeatures: plane waves and orbit sums stay in cache,
// instead of a dozen passes over (atoms x wave vectors) arrays in torch.
//
// For an atom at Cartesian r in crystal b of group g, x = r cell[b]^-1 wrapped to [0, 1), and
// one wave-vector block (K vectors; H = K / 2 outputs at the indices `half`, one k of every
// +-k pair), with omega = exp(2 pi i / 12):
//   e_k(x) = exp(2 pi i k.x), from per-axis powers: exp(2 pi i (k0 x0 + k1 x1)) is tabulated
//            for every (k0, k1), then times exp(2 pi i k2 x2); e_{-k} = conj(e_k);
//   S_o    = sum over k in orbit o of omega^{-p[g, k]} e_k(x);
//   psi_j  = omega^{p[g, k]} S_{orbit[g, k]} / orbit_size[g, j] with k = half[j], 0 if extinct;
// Re psi_j and Im psi_j go to columns column + j and column + H + j; the atom's other blocks
// are zeroed.
//
// Layout. Atoms of one group are processed in chunks of up to kLanes, the lanes of every
// vector loop: the orbit sums are accumulated as [orbit][re/im][lane], transposed once per
// chunk to [lane][orbit][re/im], and each output row is then gathered from its own lane's
// small table with contiguous stores. Arithmetic is in the storage type; only the fractional
// coordinates and one sine and cosine per axis are computed in double. Plain C ABI, loaded
// with ctypes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

struct Block {
  int64_t num_wavevectors;     // K
  int64_t num_outputs;         // H
  int64_t column;              // first output column
  const int32_t* wavevectors;  // (K, 3) integer k
  const int64_t* half;         // (H,) index of the j-th output's k
  const int64_t* partner;      // (H,) index of -k for k = half[j]
  const int32_t* orbit;        // (G, K) orbit of k, per group
  const int8_t* twelfths;      // (G, K) phase p of k in twelfths of a turn, per group
  const int32_t* orbit_size;   // (G, H) orbit size of the j-th output's k, 0 if extinct
};

template <typename T>
struct Crystals {
  const T* cells;               // (B, 3, 3) rows are lattice vectors
  const int64_t* batch;         // (N,) crystal of each atom
  const int64_t* space_group;   // (B,) group number of each crystal
  const int64_t* metric_of;     // (G,) block of each group
  int64_t num_crystals;         // B
};

constexpr double kTwoPi = 6.283185307179586476925286766559;
// cos and sin of 2 pi m / 12, m = 0..11
constexpr double kHalfRoot3 = 0.86602540378443864676372317075294;
constexpr double kCos12[12] = {1, kHalfRoot3, 0.5, 0, -0.5, -kHalfRoot3, -1, -kHalfRoot3, -0.5, 0, 0.5, kHalfRoot3};
constexpr double kSin12[12] = {0, 0.5, kHalfRoot3, 1, kHalfRoot3, 0.5, 0, -0.5, -kHalfRoot3, -1, -kHalfRoot3, -0.5};

constexpr int64_t kLanes = 16;  // atoms of one group processed together

// The inverse of every cell, in double.
template <typename T>
std::vector<double> inverse_cells(const T* cells, int64_t num_crystals) {
  std::vector<double> inverse(9 * num_crystals);
  for (int64_t b = 0; b < num_crystals; ++b) {
    double m[9];
    for (int e = 0; e < 9; ++e) m[e] = static_cast<double>(cells[9 * b + e]);
    double* out = &inverse[9 * b];
    out[0] = m[4] * m[8] - m[5] * m[7];
    out[1] = m[2] * m[7] - m[1] * m[8];
    out[2] = m[1] * m[5] - m[2] * m[4];
    out[3] = m[5] * m[6] - m[3] * m[8];
    out[4] = m[0] * m[8] - m[2] * m[6];
    out[5] = m[2] * m[3] - m[0] * m[5];
    out[6] = m[3] * m[7] - m[4] * m[6];
    out[7] = m[1] * m[6] - m[0] * m[7];
    out[8] = m[0] * m[4] - m[1] * m[3];
    const double determinant = m[0] * out[0] + m[1] * out[3] + m[2] * out[6];
    for (int e = 0; e < 9; ++e) out[e] /= determinant;
  }
  return inverse;
}

// What one group needs, computed once per run of consecutive atoms of that group.
template <typename T>
struct GroupPlan {
  void build(const Block& block, int64_t group) {
    const int64_t K = block.num_wavevectors, H = block.num_outputs;
    orbit = block.orbit + group * K;
    twelfths = block.twelfths + group * K;
    num_orbits = 1 + *std::max_element(orbit, orbit + K);  // orbit ids are 0, 1, ...
    const int32_t* orbit_size = block.orbit_size + group * H;
    factor_re.resize(H);
    factor_im.resize(H);
    row.resize(H);
    for (int64_t j = 0; j < H; ++j) {  // psi_j = (factor_re + i factor_im) S_{row}
      const int64_t k = block.half[j];
      const double weight = orbit_size[j] > 0 ? 1.0 / orbit_size[j] : 0.0;
      factor_re[j] = static_cast<T>(weight * kCos12[twelfths[k]]);
      factor_im[j] = static_cast<T>(weight * kSin12[twelfths[k]]);
      row[j] = 2 * orbit[k];
    }
  }
  const int32_t* orbit = nullptr;
  const int8_t* twelfths = nullptr;
  int64_t num_orbits = 0;
  std::vector<T> factor_re, factor_im;
  std::vector<int32_t> row;  // offset of the j-th output's orbit in a lane's [orbit][re/im] table
};

template <typename T>
struct Scratch {
  Scratch(int64_t width, int64_t largest)
      : powers(3 * width * 2 * kLanes), pairs(width * width * 2 * kLanes), sums(largest * 2 * kLanes),
        lane_sums(largest * 2 * kLanes) {}
  std::vector<T> powers;     // [axis][m][re/im][lane]
  std::vector<T> pairs;      // [(m0, m1)][re/im][lane]
  std::vector<T> sums;       // [orbit][re/im][lane]
  std::vector<T> lane_sums;  // [lane][orbit][re/im]
};

template <typename T>
void chunk(const T* pos, const Crystals<T>& crystals, const double* inverse, int64_t first, int64_t count,
           const Block& block, const GroupPlan<T>& plan, int64_t max_index, Scratch<T>& scratch, T* out,
           int64_t out_stride) {
  constexpr int64_t L = kLanes;
  const int64_t width = 2 * max_index + 1, H = block.num_outputs;
  // exp(2 pi i m x_d) for |m| <= max_index: one sincos per axis, then products and conjugates
  for (int d = 0; d < 3; ++d) {
    T* zero = &scratch.powers[(d * width + max_index) * 2 * L];
    for (int64_t a = 0; a < L; ++a) {
      double x = 0.0;
      if (a < count) {  // unused lanes compute x = 0
        const int64_t atom = first + a;
        const double* inv = inverse + 9 * crystals.batch[atom];
        for (int e = 0; e < 3; ++e) x += static_cast<double>(pos[3 * atom + e]) * inv[3 * e + d];
      }
      x = kTwoPi * (x - std::floor(x));  // exact periodicity; small angles keep sincos accurate
      zero[a] = T(1);
      zero[L + a] = T(0);
      zero[2 * L + a] = static_cast<T>(std::cos(x));
      zero[3 * L + a] = static_cast<T>(std::sin(x));
    }
    for (int64_t m = 2; m <= max_index; ++m) {
      const T* last = zero + (m - 1) * 2 * L;
      T* next = zero + m * 2 * L;
      for (int64_t a = 0; a < L; ++a) {
        const T c = zero[2 * L + a], s = zero[3 * L + a];
        next[a] = last[a] * c - last[L + a] * s;
        next[L + a] = last[a] * s + last[L + a] * c;
      }
    }
    for (int64_t m = 1; m <= max_index; ++m) {
      const T* positive = zero + m * 2 * L;
      T* negative = zero - m * 2 * L;
      for (int64_t a = 0; a < L; ++a) {
        negative[a] = positive[a];
        negative[L + a] = -positive[L + a];
      }
    }
  }
  const T* p0 = scratch.powers.data();
  const T* p1 = p0 + width * 2 * L;
  const T* p2 = p1 + width * 2 * L;
  for (int64_t i = 0; i < width; ++i) {
    for (int64_t l = 0; l < width; ++l) {
      const T* __restrict u = p0 + i * 2 * L;
      const T* __restrict v = p1 + l * 2 * L;
      T* __restrict pair = &scratch.pairs[(i * width + l) * 2 * L];
      for (int64_t a = 0; a < L; ++a) {
        pair[a] = u[a] * v[a] - u[L + a] * v[L + a];
        pair[L + a] = u[a] * v[L + a] + u[L + a] * v[a];
      }
    }
  }

  T* sums = scratch.sums.data();
  std::fill(sums, sums + plan.num_orbits * 2 * L, T(0));
  for (int64_t j = 0; j < H; ++j) {  // e_{-k} = conj(e_k): one plane wave per +-k pair
    const int64_t k = block.half[j], n = block.partner[j];
    const int32_t* q = block.wavevectors + 3 * k;
    const T* __restrict u = &scratch.pairs[((q[0] + max_index) * width + q[1] + max_index) * 2 * L];
    const T* __restrict v = p2 + (q[2] + max_index) * 2 * L;
    const T ck = static_cast<T>(kCos12[plan.twelfths[k]]), sk = static_cast<T>(kSin12[plan.twelfths[k]]);
    const T cn = static_cast<T>(kCos12[plan.twelfths[n]]), sn = static_cast<T>(kSin12[plan.twelfths[n]]);
    T* sum_k = sums + plan.orbit[k] * 2 * L;
    T* sum_n = sums + plan.orbit[n] * 2 * L;
    if (sum_k == sum_n) {  // k and -k in one orbit: add omega^{-p_k} e_k + omega^{-p_n} conj(e_k)
      const T c = ck + cn, s = sk - sn, c2 = ck - cn, s2 = sk + sn;
      for (int64_t a = 0; a < L; ++a) {
        const T re = u[a] * v[a] - u[L + a] * v[L + a];
        const T im = u[a] * v[L + a] + u[L + a] * v[a];
        sum_k[a] += re * c + im * s;
        sum_k[L + a] += im * c2 - re * s2;
      }
      continue;
    }
    T* __restrict row_k = sum_k;
    T* __restrict row_n = sum_n;
    for (int64_t a = 0; a < L; ++a) {
      const T re = u[a] * v[a] - u[L + a] * v[L + a];
      const T im = u[a] * v[L + a] + u[L + a] * v[a];
      row_k[a] += re * ck + im * sk;
      row_k[L + a] += im * ck - re * sk;
      row_n[a] += re * cn - im * sn;
      row_n[L + a] += -im * cn - re * sn;
    }
  }

  // [orbit][re/im][lane] -> [lane][orbit][re/im]: each output row reads one small table
  T* lane_sums = scratch.lane_sums.data();
  const int64_t rows = 2 * plan.num_orbits;
  for (int64_t a = 0; a < count; ++a) {
    T* __restrict to = lane_sums + a * rows;
    for (int64_t o = 0; o < plan.num_orbits; ++o) {
      to[2 * o] = sums[o * 2 * L + a];
      to[2 * o + 1] = sums[o * 2 * L + L + a];
    }
  }
  const T* __restrict factor_re = plan.factor_re.data();
  const T* __restrict factor_im = plan.factor_im.data();
  const int32_t* __restrict row = plan.row.data();
  for (int64_t a = 0; a < count; ++a) {
    const T* __restrict table = lane_sums + a * rows;
    T* __restrict real = out + (first + a) * out_stride + block.column;
    T* __restrict imag = real + H;
    for (int64_t j = 0; j < H; ++j) {
      const T re = table[row[j]], im = table[row[j] + 1];
      real[j] = factor_re[j] * re - factor_im[j] * im;
      imag[j] = factor_im[j] * re + factor_re[j] * im;
    }
  }
}

template <typename T>
void atoms_range(const T* pos, const Crystals<T>& crystals, const double* inverse, int64_t begin, int64_t end,
                 const Block* blocks, int64_t num_blocks, int64_t max_index, T* out, int64_t out_stride) {
  int64_t largest = 0;
  for (int64_t b = 0; b < num_blocks; ++b) largest = std::max(largest, blocks[b].num_wavevectors);
  Scratch<T> scratch(2 * max_index + 1, largest);
  GroupPlan<T> plan;
  int64_t planned = -1;
  auto group_of = [&](int64_t atom) { return crystals.space_group[crystals.batch[atom]]; };
  for (int64_t first = begin; first < end;) {
    const int64_t group = group_of(first);
    int64_t count = 1;
    while (count < kLanes && first + count < end && group_of(first + count) == group) ++count;
    const int64_t code = crystals.metric_of[group];
    for (int64_t b = 0; b < num_blocks; ++b) {
      if (b == code) continue;
      for (int64_t atom = first; atom < first + count; ++atom) {
        T* row = out + atom * out_stride + blocks[b].column;
        std::fill(row, row + 2 * blocks[b].num_outputs, T(0));
      }
    }
    if (group != planned) {
      plan.build(blocks[code], group);
      planned = group;
    }
    chunk(pos, crystals, inverse, first, count, blocks[code], plan, max_index, scratch, out, out_stride);
    first += count;
  }
}

// Returns 0, or -1 if a batch index is outside [0, B) (nothing is written then).
template <typename T>
int run(const T* pos, int64_t num_atoms, const Crystals<T>& crystals, const Block* blocks, int64_t num_blocks,
        int64_t max_index, T* out, int64_t out_stride, int64_t num_threads) {
  for (int64_t atom = 0; atom < num_atoms; ++atom) {
    if (crystals.batch[atom] < 0 || crystals.batch[atom] >= crystals.num_crystals) return -1;
  }
  const std::vector<double> inverse = inverse_cells(crystals.cells, crystals.num_crystals);
  constexpr int64_t kMinAtomsPerThread = 256;  // below this, a thread costs more than it saves
  const int64_t threads = std::max<int64_t>(1, std::min(num_threads, num_atoms / kMinAtomsPerThread));
  const int64_t share = (num_atoms + threads - 1) / threads;
  // OpenMP, so that the work runs on torch's own thread pool (setup.py links the libgomp that
  // torch loads) instead of competing with it for the cores; without OpenMP, one thread.
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t begin = std::min(num_atoms, t * share), end = std::min(num_atoms, (t + 1) * share);
    atoms_range(pos, crystals, inverse.data(), begin, end, blocks, num_blocks, max_index, out, out_stride);
  }
  return 0;
}

}  // namespace

extern "C" {

// The layout of Block and Crystals and the dtype of every table; the binding refuses a library
// built for another one (a stale build of an editable install). Bump it with every such change.
int sgnn_abi_version() { return 2; }

int sgnn_symmetrized_fourier_f32(const float* pos, int64_t num_atoms, const Crystals<float>* crystals,
                                 const Block* blocks, int64_t num_blocks, int64_t max_index, float* out,
                                 int64_t out_stride, int64_t num_threads) {
  return run(pos, num_atoms, *crystals, blocks, num_blocks, max_index, out, out_stride, num_threads);
}

int sgnn_symmetrized_fourier_f64(const double* pos, int64_t num_atoms, const Crystals<double>* crystals,
                                 const Block* blocks, int64_t num_blocks, int64_t max_index, double* out,
                                 int64_t out_stride, int64_t num_threads) {
  return run(pos, num_atoms, *crystals, blocks, num_blocks, max_index, out, out_stride, num_threads);
}

}  // extern "C"
