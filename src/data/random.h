// Deterministic random streams for data loading. Every sample draws from its own stream,
// seeded from (run seed, epoch, sample position), so the batches a run sees depend only on
// the seed: not on the number of workers, their scheduling, or a resume in between.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace vitrine::data {

// splitmix64's finaliser: decorrelates nearby inputs (seed 1 vs seed 2, sample 7 vs 8).
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Which sample a stream belongs to, for transforms that are a schedule rather than a draw
// (alternating flips): the run's seed, the sample's dataset index and the epoch. The data
// loader sets it; a stream made without one has index -1.
struct SampleIdentity {
  uint64_t seed = 0;
  int64_t index = -1;
  int64_t epoch = 0;
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  Rng(uint64_t seed, const SampleIdentity& sample) : engine_(seed), sample_(sample) {}

  // Uniform in [lo, hi).
  double uniform(double lo = 0.0, double hi = 1.0) {
    return lo + (hi - lo) * std::generate_canonical<double, 53>(engine_);
  }
  // Uniform integer in [lo, hi] (inclusive, as Python's random.randint).
  int64_t randint(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(engine_);
  }
  bool bernoulli(double p) { return uniform() < p; }
  double normal(double mean = 0.0, double stddev = 1.0) {
    return std::normal_distribution<double>(mean, stddev)(engine_);
  }
  // Beta(a, b) via two gamma draws (numpy's method for a, b > 0).
  double beta(double a, double b) {
    const double x = std::gamma_distribution<double>(a, 1.0)(engine_);
    const double y = std::gamma_distribution<double>(b, 1.0)(engine_);
    return x + y > 0 ? x / (x + y) : 0.5;
  }
  uint64_t next() { return engine_(); }
  const SampleIdentity& sample() const { return sample_; }

 private:
  std::mt19937_64 engine_;
  SampleIdentity sample_;
};

}  // namespace vitrine::data
