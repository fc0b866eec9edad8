// A CUDA thread block on the CPU, for kernels written against an execution context
// (cuda/na_fna_forward.cuh): every thread is a fiber (ucontext) on one OS thread, switched at
// each barrier, so that code which calls __syncthreads() and warp collectives between plain
// per-thread code runs as the GPU runs it. The warp collectives are emulated from the PTX ISA's
// definitions, written out here independently of the kernels' own fragment loads:
// mma.m16n8k16 (float16/bfloat16 in, float32 accumulate) and the quad shuffles. A collective
// waits for its own warp only, as on the GPU, so warps drift apart between block barriers (the
// scheduler also alternates its order every round): a shared-memory read that lacks its
// barrier can see another warp's data, or none. Collectives must be reached by every thread
// of the warp (as the kernels guarantee by uniform control flow); a deadlock aborts with a
// message instead of hanging.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

namespace vitrine::testing {

class HostCta {
 public:
  explicit HostCta(int threads, size_t stack_bytes = 256 * 1024)
      : threads_(threads),
        stacks_(static_cast<size_t>(threads)),
        fibers_(threads),
        done_(threads),
        slots_(2 * static_cast<size_t>(threads)),
        warp_arrived_(static_cast<size_t>((threads + 31) / 32)),
        warp_generation_(static_cast<size_t>((threads + 31) / 32)) {
    for (auto& s : stacks_) s.resize(stack_bytes);
  }

  // Runs body(ctx) on every thread of the block to completion.
  template <class Body>
  void run(const Body& body) {
    body_ = [&](Ctx& ctx) { body(ctx); };
    arrived_ = 0;
    generation_ = 0;
    std::fill(warp_arrived_.begin(), warp_arrived_.end(), 0);
    std::fill(warp_generation_.begin(), warp_generation_.end(), 0);
    parity_.assign(static_cast<size_t>(threads_), 0);
    for (int t = 0; t < threads_; ++t) {
      done_[t] = false;
      getcontext(&fibers_[t]);
      fibers_[t].uc_stack.ss_sp = stacks_[t].data();
      fibers_[t].uc_stack.ss_size = stacks_[t].size();
      fibers_[t].uc_link = &scheduler_;
      makecontext(&fibers_[t], reinterpret_cast<void (*)()>(&HostCta::trampoline), 2,
                  static_cast<int>(reinterpret_cast<uintptr_t>(this) & 0xffffffffu),
                  static_cast<int>(reinterpret_cast<uintptr_t>(this) >> 32));
    }
    int finished = 0;
    int idle_rounds = 0;
    for (long round = 0; finished < threads_; ++round) {
      const long before = progress_;
      for (int i = 0; i < threads_; ++i) {
        const int t = round % 2 == 0 ? i : threads_ - 1 - i;  // alternating order
        if (done_[t]) continue;
        current_ = t;
        swapcontext(&scheduler_, &fibers_[t]);
        if (done_[t]) ++finished;
      }
      idle_rounds = progress_ == before ? idle_rounds + 1 : 0;
      if (idle_rounds > 2) {
        std::fprintf(stderr, "HostCta: threads wait at different barriers (deadlock)\n");
        std::abort();
      }
    }
  }

  // The per-thread view a kernel gets.
  class Ctx {
   public:
    Ctx(HostCta* cta, int thread) : cta_(cta), thread_(thread) {}
    int thread() const { return thread_; }
    void sync() { cta_->barrier(); }
    float exp(float x) const { return std::exp(x); }
    float log(float x) const { return std::log(x); }
    // Fibers share one OS thread and switch only at barriers: a plain add is atomic here.
    void atomic_add(float* at, float v) const { *at += v; }
    float quad_max(float v) {
      float* s = exchange();
      s[0] = v;
      cta_->warp_barrier();
      const float* quad = cta_->slot(thread_ & ~3);
      float m = v;
      for (int i = 0; i < 4; ++i) m = std::fmax(m, read(quad, i)[0]);
      return m;
    }
    float quad_sum(float v) {
      float* s = exchange();
      s[0] = v;
      cta_->warp_barrier();
      const int first = thread_ & ~3;
      // Butterfly order, as two xor-shuffles add: (a + b) + (c + d) on every lane.
      const float a = cta_->slot(first)[0], b = cta_->slot(first + 1)[0],
                  c = cta_->slot(first + 2)[0], d = cta_->slot(first + 3)[0];
      return (a + b) + (c + d);
    }
    // c[4] += A(16x16) B(16x8), A and B as 16-bit pairs in 32-bit registers.
    template <typename E>
    void mma(float c[4], const uint32_t a[4], const uint32_t b[2]) {
      float* s = exchange();
      for (int i = 0; i < 8; ++i) s[i] = element<E>(a[i / 2], i % 2);
      for (int i = 0; i < 4; ++i) s[8 + i] = element<E>(b[i / 2], i % 2);
      cta_->warp_barrier();
      const int warp_first = thread_ & ~31, lane = thread_ & 31;
      for (int i = 0; i < 4; ++i) {
        const int row = lane / 4 + 8 * (i / 2), col = 2 * (lane % 4) + i % 2;
        float sum = 0;
        for (int k = 0; k < 16; ++k)
          sum += a_element(warp_first, row, k) * b_element(warp_first, k, col);
        c[i] += sum;
      }
    }

   private:
    template <typename E>
    static float element(uint32_t reg, int half) {
      const uint16_t bits = static_cast<uint16_t>(half == 0 ? reg & 0xffffu : reg >> 16);
      E e;
      std::memcpy(static_cast<void*>(&e), &bits, 2);
      return static_cast<float>(e);
    }
    // A(row, k): held by lane 4*(row%8) + (k%8)/2 as element (k%2) + 2*(row/8) + 4*(k/8).
    float a_element(int warp_first, int row, int k) {
      const int lane = 4 * (row % 8) + (k % 8) / 2;
      return read(cta_->slot(warp_first), lane)[(k % 2) + 2 * (row / 8) + 4 * (k / 8)];
    }
    // B(k, n): held by lane 4*n + (k%8)/2 as element 8 + (k%2) + 2*(k/8).
    float b_element(int warp_first, int k, int n) {
      const int lane = 4 * n + (k % 8) / 2;
      return read(cta_->slot(warp_first), lane)[8 + (k % 2) + 2 * (k / 8)];
    }
    const float* read(const float* first, int lane) const { return first + lane * kSlotFloats; }
    float* exchange() {
      // Two banks alternate, so one warp barrier per collective suffices: a lane writing bank
      // b again has passed the barrier that every reader of bank b's previous use (its own
      // warp's lanes) reached.
      cta_->parity_[static_cast<size_t>(thread_)] ^= 1;
      return cta_->slot(thread_);
    }

    HostCta* cta_;
    int thread_;
  };

 private:
  static constexpr int kSlotFloats = 12;
  friend class Ctx;

  float* slot(int thread) {
    const int bank = parity_[static_cast<size_t>(current_)];
    return slots_[static_cast<size_t>(bank * threads_ + thread)].v;
  }

  static void trampoline(int lo, int hi) {
    auto* self = reinterpret_cast<HostCta*>(
        (static_cast<uintptr_t>(static_cast<uint32_t>(hi)) << 32) | static_cast<uint32_t>(lo));
    const int t = self->current_;
    Ctx ctx(self, t);
    self->body_(ctx);
    self->done_[t] = true;
    ++self->progress_;
  }

  // The barrier of a warp's collective: the lanes of the current thread's warp only.
  void warp_barrier() {
    ++progress_;
    const size_t w = static_cast<size_t>(current_ / 32);
    const long generation = warp_generation_[w];
    const int lanes = std::min(32, threads_ - static_cast<int>(w) * 32);
    if (++warp_arrived_[w] == lanes) {
      warp_arrived_[w] = 0;
      ++warp_generation_[w];
      return;
    }
    const int me = current_;
    while (warp_generation_[w] == generation) swapcontext(&fibers_[me], &scheduler_);
    current_ = me;
  }

  void barrier() {
    ++progress_;
    const long generation = generation_;
    if (++arrived_ == threads_) {
      arrived_ = 0;
      ++generation_;
      return;
    }
    const int me = current_;
    while (generation_ == generation) swapcontext(&fibers_[me], &scheduler_);
    current_ = me;
  }

  struct Slot {
    float v[kSlotFloats];
  };

  int threads_;
  std::vector<std::vector<char>> stacks_;
  std::vector<ucontext_t> fibers_;
  std::vector<char> done_;
  std::vector<Slot> slots_;
  std::vector<int> parity_;
  ucontext_t scheduler_{};
  std::function<void(Ctx&)> body_;
  std::vector<int> warp_arrived_;
  std::vector<long> warp_generation_;
  int current_ = 0;
  int arrived_ = 0;
  long generation_ = 0;
  long progress_ = 0;
};

}  // namespace vitrine::testing
