// Fused forward pass of SymmetrizedFourierFeatures: plane waves and orbit sums stay in cache,
// instead of a dozen passes over (atoms x wave vectors) arrays in torch. Atoms of one group
// are processed in chunks of up to kChunk (in 4, 8 or 16 lanes), wave vectors outer and atoms
// inner, so the group's tables are read once per chunk and the inner loops vectorize.
//
// For an atom at Cartesian r in crystal b of group g, x = r inverse_cell[b] wrapped to [0, 1),
// and one wave-vector block and one wave-vector block (K vectors; H = K / 2
// outputs, at the indices `half`, one k of every +-k pair), with omega = exp(2 pi i / 12):
//   e_k(x) = exp(2 pi i k.x), from per-axis powers: exp(2 pi i (k0 x0 + k1 x1)) is tabulated
//            for every (k0, k1), then times exp(2 pi i k2 x2); e_{-k} = conj(e_k);
//   S_o    = sum over k in orbit o of omega^{-p[g, k]} e_k(x);
//   psi_j  = scale[g, j] omega^{p[g, k]} S_{orbit[g, k]} with k = half[j];
// Re psi_j and Im psi_j go to columns column + j and column + H + j; the atom's other blocks
// are zeroed. Arithmetic is in double for either storage type. Plain C ABI, loaded with ctypes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
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
  const double* scale;         // (G, H) 1 / orbit size of the j-th output, 0 if extinct
};

constexpr double kTwoPi = 6.283185307179586476925286766559;
// cos and sin of 2 pi m / 12, m = 0..11
constexpr double kHalfRoot3 = 0.86602540378443864676372317075294;
constexpr double kCos12[12] = {1, kHalfRoot3, 0.5, 0, -0.5, -kHalfRoot3, -1, -kHalfRoot3, -0.5, 0, 0.5, kHalfRoot3};
constexpr double kSin12[12] = {0, 0.5, kHalfRoot3, 1, kHalfRoot3, 0.5, 0, -0.5, -kHalfRoot3, -1, -kHalfRoot3, -0.5};

constexpr int64_t kChunk = 16;  // most atoms of one group processed together

// Per-chunk scratch, structure of arrays over the chunk's atoms so the inner loops vectorize.
struct Scratch {
  explicit Scratch(int64_t width, int64_t largest)
      : powers(3 * width * 2 * kChunk),
        pairs(width * width * 2 * kChunk),
        sums(largest * 2 * kChunk),
        wave(2 * kChunk),
        factors(largest),
        rows(largest / 2) {}
  std::vector<double> powers;  // [axis][m][re/im][atom]
  std::vector<double> pairs;   // [(m0, m1)][re/im][atom]
  std::vector<double> sums;    // [orbit][re/im][atom]
  std::vector<double> wave;    // [re/im][atom]
  std::vector<double> factors;  // [output][cos/sin]
  std::vector<int64_t> rows;    // [output] offset of its orbit in sums
};

struct Crystals {
  const double* inverse_cells;  // (B, 3, 3) inverse of each cell (rows are lattice vectors)
  const int64_t* batch;         // (N,) crystal of each atom
  const int64_t* space_group;   // (B,) group number of each crystal
  const int64_t* metric_of;     // (G,) block of each group
};

template <int64_t Lanes, typename T>
void chunk(const T* pos, const Crystals& crystals, int64_t first, int64_t count, int64_t group, const Block& block,
           int64_t max_index, Scratch& scratch, T* out, int64_t out_stride) {
  const int64_t width = 2 * max_index + 1, K = block.num_wavevectors, H = block.num_outputs;
  // exp(2 pi i m x_d) for |m| <= max_index: one sincos per axis, then products and conjugates
  for (int d = 0; d < 3; ++d) {
    double* axis = &scratch.powers[d * width * 2 * Lanes];
    double* zero = axis + max_index * 2 * Lanes;
    for (int64_t a = 0; a < count; ++a) {
      const int64_t atom = first + a;
      const double* inverse = crystals.inverse_cells + 9 * crystals.batch[atom];
      double x = 0.0;
      for (int e = 0; e < 3; ++e) x += static_cast<double>(pos[3 * atom + e]) * inverse[3 * e + d];
      x = kTwoPi * (x - std::floor(x));  // exact periodicity; small angles keep sincos accurate
      zero[a] = 1.0;
      zero[Lanes + a] = 0.0;
      zero[2 * Lanes + a] = std::cos(x);
      zero[3 * Lanes + a] = std::sin(x);
    }
    for (int64_t m = 2; m <= max_index; ++m) {
      const double* last = zero + (m - 1) * 2 * Lanes;
      double* next = zero + m * 2 * Lanes;
      for (int64_t a = 0; a < count; ++a) {
        const double c = zero[2 * Lanes + a], s = zero[3 * Lanes + a];
        next[a] = last[a] * c - last[Lanes + a] * s;
        next[Lanes + a] = last[a] * s + last[Lanes + a] * c;
      }
    }
    for (int64_t m = 1; m <= max_index; ++m) {
      const double* positive = zero + m * 2 * Lanes;
      double* negative = zero - m * 2 * Lanes;
      for (int64_t a = 0; a < count; ++a) {
        negative[a] = positive[a];
        negative[Lanes + a] = -positive[Lanes + a];
      }
    }
  }
  const double* p0 = scratch.powers.data();
  const double* p1 = p0 + width * 2 * Lanes;
  const double* p2 = p1 + width * 2 * Lanes;
  for (int64_t i = 0; i < width; ++i) {
    for (int64_t l = 0; l < width; ++l) {
      const double* u = p0 + i * 2 * Lanes;
      const double* v = p1 + l * 2 * Lanes;
      double* pair = &scratch.pairs[(i * width + l) * 2 * Lanes];
      for (int64_t a = 0; a < Lanes; ++a) {
        pair[a] = u[a] * v[a] - u[Lanes + a] * v[Lanes + a];
        pair[Lanes + a] = u[a] * v[Lanes + a] + u[Lanes + a] * v[a];
      }
    }
  }

  const int32_t* orbit = block.orbit + group * K;
  const int8_t* twelfths = block.twelfths + group * K;
  double* sums = scratch.sums.data();
  const int64_t num_orbits = 1 + *std::max_element(orbit, orbit + K);  // orbit ids are 0, 1, ...
  std::fill(sums, sums + num_orbits * 2 * Lanes, 0.0);
  for (int64_t j = 0; j < H; ++j) {  // e_{-k} = conj(e_k): one plane wave per +-k pair
    const int64_t k = block.half[j], n = block.partner[j];
    const int32_t* q = block.wavevectors + 3 * k;
    const double* u = &scratch.pairs[((q[0] + max_index) * width + q[1] + max_index) * 2 * Lanes];
    const double* v = p2 + (q[2] + max_index) * 2 * Lanes;
    const double ck = kCos12[twelfths[k]], sk = kSin12[twelfths[k]];  // times omega^{-p}
    const double cn = kCos12[twelfths[n]], sn = kSin12[twelfths[n]];
    // distinct rows unless k and -k share an orbit, a case handled through sum_k alone
    double* __restrict sum_k = sums + orbit[k] * 2 * Lanes;
    double* __restrict sum_n = sums + orbit[n] * 2 * Lanes;
    double* __restrict wave = scratch.wave.data();
    for (int64_t a = 0; a < Lanes; ++a) {
      wave[a] = u[a] * v[a] - u[Lanes + a] * v[Lanes + a];
      wave[Lanes + a] = u[a] * v[Lanes + a] + u[Lanes + a] * v[a];
    }
    if (sum_k == sum_n) {  // k and -k in one orbit
      const double c = ck + cn, s = sk - sn;
      for (int64_t a = 0; a < Lanes; ++a) {
        const double re = wave[a], im = wave[Lanes + a];
        sum_k[a] += re * c + im * s;
        sum_k[Lanes + a] += im * (ck - cn) - re * (sk + sn);
      }
      continue;
    }
    for (int64_t a = 0; a < Lanes; ++a) {
      const double re = wave[a], im = wave[Lanes + a];
      sum_k[a] += re * ck + im * sk;
      sum_k[Lanes + a] += im * ck - re * sk;
      sum_n[a] += re * cn - im * sn;
      sum_n[Lanes + a] += -im * cn - re * sn;
    }
  }

  const double* scale = block.scale + group * H;
  for (int64_t j = 0; j < H; ++j) {  // output factors scale * omega^{p} and orbit rows, once per chunk
    const int64_t k = block.half[j];
    scratch.factors[2 * j] = scale[j] * kCos12[twelfths[k]];
    scratch.factors[2 * j + 1] = scale[j] * kSin12[twelfths[k]];
    scratch.rows[j] = orbit[k] * 2 * Lanes;
  }
  for (int64_t a = 0; a < count; ++a) {  // contiguous writes along each output row
    T* real = out + (first + a) * out_stride + block.column;
    T* imag = real + H;
    for (int64_t j = 0; j < H; ++j) {
      const double re = sums[scratch.rows[j] + a], im = sums[scratch.rows[j] + Lanes + a];
      const double c = scratch.factors[2 * j], s = scratch.factors[2 * j + 1];
      real[j] = static_cast<T>(c * re - s * im);
      imag[j] = static_cast<T>(s * re + c * im);
    }
  }
}

template <typename T>
void atoms_range(const T* pos, const Crystals& crystals, int64_t begin, int64_t end, const Block* blocks,
                 int64_t num_blocks, int64_t max_index, T* out, int64_t out_stride) {
  int64_t largest = 0;
  for (int64_t b = 0; b < num_blocks; ++b) largest = std::max(largest, blocks[b].num_wavevectors);
  Scratch scratch(2 * max_index + 1, largest);
  auto group_of = [&](int64_t atom) { return crystals.space_group[crystals.batch[atom]]; };
  for (int64_t first = begin; first < end;) {
    const int64_t group = group_of(first);
    int64_t count = 1;
    while (count < kChunk && first + count < end && group_of(first + count) == group) ++count;
    const int64_t code = crystals.metric_of[group];
    for (int64_t b = 0; b < num_blocks; ++b) {
      if (b == code) continue;
      for (int64_t atom = first; atom < first + count; ++atom) {
        T* row = out + atom * out_stride + blocks[b].column;
        std::fill(row, row + 2 * blocks[b].num_outputs, T(0));
      }
    }
    auto* process = count <= 4 ? &chunk<4, T> : count <= 8 ? &chunk<8, T> : &chunk<kChunk, T>;
    process(pos, crystals, first, count, group, blocks[code], max_index, scratch, out, out_stride);
    first += count;
  }
}

template <typename T>
void run(const T* pos, int64_t num_atoms, const Crystals& crystals, const Block* blocks, int64_t num_blocks,
         int64_t max_index, T* out, int64_t out_stride, int64_t num_threads) {
  constexpr int64_t kMinAtomsPerThread = 64;
  const int64_t threads = std::max<int64_t>(1, std::min(num_threads, num_atoms / kMinAtomsPerThread));
  auto work = [&](int64_t begin, int64_t end) {
    atoms_range(pos, crystals, begin, end, blocks, num_blocks, max_index, out, out_stride);
  };
  std::vector<std::thread> pool;
  const int64_t share = (num_atoms + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    pool.emplace_back(work, std::min(num_atoms, t * share), std::min(num_atoms, (t + 1) * share));
  }
  work(0, std::min(num_atoms, share));
  for (auto& thread : pool) thread.join();
}

}  // namespace

extern "C" {

void sgnn_symmetrized_fourier_f32(const float* pos, int64_t num_atoms, const Crystals* crystals, const Block* blocks,
                                  int64_t num_blocks, int64_t max_index, float* out, int64_t out_stride,
                                  int64_t num_threads) {
  run(pos, num_atoms, *crystals, blocks, num_blocks, max_index, out, out_stride, num_threads);
}

void sgnn_symmetrized_fourier_f64(const double* pos, int64_t num_atoms, const Crystals* crystals,
                                  const Block* blocks, int64_t num_blocks, int64_t max_index, double* out,
                                  int64_t out_stride, int64_t num_threads) {
  run(pos, num_atoms, *crystals, blocks, num_blocks, max_index, out, out_stride, num_threads);
}

}  // extern "C"
