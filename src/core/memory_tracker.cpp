#include "core/memory_tracker.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstring>

namespace vitrine {
namespace {

std::atomic<size_t> g_current{0};
std::atomic<size_t> g_peak{0};

class TrackingAllocator final : public c10::Allocator {
 public:
  explicit TrackingAllocator(c10::Allocator* inner) : inner_(inner) {}

  // libtorch 1.13 declares allocate() const; newer releases drop the const and add a pure
  // copy_data(). Defining both forms (without `override`) builds against either.
  c10::DataPtr allocate(size_t bytes) { return track(bytes); }
  c10::DataPtr allocate(size_t bytes) const { return track(bytes); }
  void copy_data(void* dest, const void* src, size_t count) const {
    if (count) std::memcpy(dest, src, count);
  }

 private:
  c10::DataPtr track(size_t bytes) const {
    c10::DataPtr inner = inner_->allocate(bytes);
    void* data = inner.get();
    auto* record = new Record{std::move(inner), bytes};
    const size_t now = g_current.fetch_add(bytes) + bytes;
    size_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    return {data, record, &release, c10::Device(c10::DeviceType::CPU)};
  }

  struct Record {
    c10::DataPtr inner;  // frees the memory when the record is deleted
    size_t bytes;
  };
  static void release(void* ctx) {
    auto* record = static_cast<Record*>(ctx);
    g_current.fetch_sub(record->bytes);
    delete record;
  }

  c10::Allocator* inner_;
};

std::atomic<bool> g_installed{false};

}  // namespace

void MemoryTracker::install() {
  if (g_installed.exchange(true)) return;
  static TrackingAllocator allocator(c10::GetCPUAllocator());
  c10::SetCPUAllocator(&allocator, /*priority=*/1);
}

bool MemoryTracker::installed() {
  return g_installed.load();
}
size_t MemoryTracker::current_bytes() {
  return g_current.load();
}
size_t MemoryTracker::peak_bytes() {
  return g_peak.load();
}
void MemoryTracker::reset_peak() {
  g_peak.store(g_current.load());
}

}  // namespace vitrine
