#include "train/distributed.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "config/option_table.h"
#include "core/error.h"
#include "train/gradient_reducer.h"

namespace vitrine::train {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int fallback) {
  const auto v = env(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    const int value = std::stoi(*v, &used);
    if (used == v->size()) return value;
  } catch (const std::exception&) {
  }
  throw ConfigError(std::string("environment variable ") + name + "='" + *v +
                    "' is not an integer");
}

}  // namespace

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::unique_ptr<GradientReducer> reducer;  // declared last: goes before the group
};

namespace {

// Stderr silenced while it lives (the process's fd 2: no other thread runs yet when the
// store starts).
class QuietStderr {
 public:
  QuietStderr() : saved_(::dup(2)) {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved_ >= 0 && null >= 0) ::dup2(null, 2);
    if (null >= 0) ::close(null);
  }
  ~QuietStderr() {
    if (saved_ < 0) return;
    ::dup2(saved_, 2);
    ::close(saved_);
  }

 private:
  int saved_;
};

// How this user picks another port: vitrine launch's flag when it started the ranks
// (it sets VITRINE_LAUNCH), else the config key or torchrun's variable.
std::string another_port_hint() {
  if (std::getenv("VITRINE_LAUNCH")) return "choose another with vitrine launch --master-port PORT";
  return "choose another with dist.master_port=PORT (or MASTER_PORT)";
}

// Reads the key into `member` unless its value is null (which keeps what the environment said).
template <typename Field>
config::OptionTable<DistributedOptions>::Reader unless_null(Field DistributedOptions::*member) {
  return [member](DistributedOptions& o, const config::ConfigView& v, const std::string& key) {
    if (!v.node().find(key)->is_null()) config::read_value(v, key, o.*member);
  };
}

}  // namespace

DistributedOptions distributed_options(const config::ConfigView& dist) {
  DistributedOptions o;
  o.rank = env_int("RANK", 0);
  o.world_size = env_int("WORLD_SIZE", 1);
  o.local_rank = env_int("LOCAL_RANK", o.rank);
  o.master_addr = env("MASTER_ADDR").value_or(o.master_addr);
  o.master_port = env_int("MASTER_PORT", o.master_port);
  // The process layout keys override the environment unless null.
  using O = DistributedOptions;
  static const auto table = config::OptionTable<O>()
                                .custom("rank", unless_null(&O::rank))
                                .custom("world_size", unless_null(&O::world_size))
                                .custom("local_rank", unless_null(&O::local_rank))
                                .custom("master_addr", unless_null(&O::master_addr))
                                .custom("master_port", unless_null(&O::master_port))
                                .field("timeout_s", &O::timeout_s)
                                .field("bucket_mb", &O::bucket_mb)
                                .field("overlap", &O::overlap)
                                .field("broadcast_buffers", &O::broadcast_buffers)
                                .field("sync_batchnorm", &O::sync_batchnorm);
  table.apply_to(dist, o);
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw ConfigError("distributed: rank " + std::to_string(o.rank) + " is not in 0.." +
                      std::to_string(o.world_size - 1) + " (WORLD_SIZE " +
                      std::to_string(o.world_size) + ")");
  if (o.master_port < 1 || o.master_port > 65535)
    throw ConfigError("distributed: master_port " + std::to_string(o.master_port) +
                      " is not a TCP port");
  if (!(o.timeout_s > 0) || !(o.bucket_mb > 0))
    throw ConfigError("distributed: timeout_s and bucket_mb must be positive");
  return o;
}

Distributed::Distributed(const DistributedOptions& options)
    : options_(options), impl_(std::make_unique<Impl>()) {
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000));
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(options.master_port);
  store_options.isServer = options.rank == 0;
  store_options.numWorkers = static_cast<size_t>(options.world_size);
  store_options.waitWorkers = true;
  store_options.timeout = timeout;
  const std::string where = options.master_addr + ":" + std::to_string(options.master_port);
  try {
    // c10d logs each failed bind through glog before it throws; the error below says it all
    // in one line, so those lines are not shown.
    QuietStderr quiet;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
  } catch (const std::exception& e) {
    std::string reason = e.what();
    reason = reason.substr(0, reason.find('\n'));
    throw std::runtime_error("distributed: rank " + std::to_string(options.rank) + " cannot " +
                             (options.rank == 0 ? "host the store on " : "reach the store on ") +
                             where + " (" + reason + ")" +
                             (options.rank == 0
                                  ? "; is the port in use? " + another_port_hint()
                                  : "; did rank 0 start, and within dist.timeout_s?"));
  }
  auto group_options = c10d::ProcessGroupGloo::Options::create();
  group_options->timeout = timeout;
  group_options->devices.push_back(
      c10d::ProcessGroupGloo::createDeviceForHostname(options.master_addr));
  try {
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("vitrine", impl_->store), options.rank,
        options.world_size, group_options);
  } catch (const std::exception& e) {
    std::string reason = e.what();
    throw std::runtime_error("distributed: rank " + std::to_string(options.rank) +
                             " could not join the process group on " + where + ": " +
                             reason.substr(0, reason.find('\n')));
  }
}

Distributed::~Distributed() = default;

namespace {

// Runs a collective, turning Gloo's timeout/peer errors into one clear message.
template <typename F>
void collective(const char* what, int rank, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::string reason = e.what();
    throw std::runtime_error(
        std::string("distributed: ") + what + " failed on rank " + std::to_string(rank) +
        " (another rank died or timed out): " + reason.substr(0, reason.find('\n')));
  }
}

}  // namespace

void Distributed::average_gradients(const std::vector<at::Tensor>& params) {
  if (options_.world_size == 1) return;
  const int64_t bucket_bytes = static_cast<int64_t>(options_.bucket_mb * 1024 * 1024);
  std::vector<at::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<at::Tensor> flat{at::flatten_dense_tensors(bucket)};
    collective("gradient all-reduce", options_.rank,
               [&] { impl_->group->allreduce(flat)->wait(); });
    flat[0].div_(static_cast<double>(options_.world_size));
    const std::vector<at::Tensor> means = at::unflatten_dense_tensors(flat[0], bucket);
    for (size_t i = 0; i < bucket.size(); ++i) bucket[i].copy_(means[i]);
    bucket.clear();
    bytes = 0;
  };
  for (const at::Tensor& p : params) {
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (!bucket.empty() && bucket.front().scalar_type() != g.scalar_type()) flush();
    bucket.push_back(g);
    bytes += g.numel() * static_cast<int64_t>(g.element_size());
    if (bytes >= bucket_bytes) flush();
  }
  flush();
}

void Distributed::attach_reducer(const std::vector<at::Tensor>& params) {
  if (options_.world_size == 1 || params.empty()) return;
  auto group = impl_->group;
  const int rank = options_.rank;
  impl_->reducer = std::make_unique<GradientReducer>(
      params, int64_t{1} << 20, static_cast<int64_t>(options_.bucket_mb * (1 << 20)),
      options_.world_size, [group, rank](at::Tensor& flat) -> std::function<void()> {
        std::vector<at::Tensor> one{flat};
        c10::intrusive_ptr<c10d::Work> work;
        collective("gradient all-reduce", rank, [&] { work = group->allreduce(one); });
        return [work, rank] { collective("gradient all-reduce", rank, [&] { work->wait(); }); };
      });
}

bool Distributed::has_reducer() const {
  return impl_->reducer != nullptr;
}

void Distributed::arm_reducer() {
  if (impl_->reducer) impl_->reducer->arm();
}

void Distributed::finish_reducer() {
  if (impl_->reducer) impl_->reducer->finish();
}

void Distributed::broadcast(const std::vector<at::Tensor>& tensors) {
  if (options_.world_size == 1) return;
  std::map<at::ScalarType, std::vector<at::Tensor>> by_type;
  for (const at::Tensor& t : tensors)
    if (t.defined() && t.numel() > 0) by_type[t.scalar_type()].push_back(t);
  for (auto& [type, group] : by_type) {
    std::vector<at::Tensor> flat{at::flatten_dense_tensors(group)};
    c10d::BroadcastOptions b;
    b.rootRank = 0;
    collective("broadcast", options_.rank, [&] { impl_->group->broadcast(flat, b)->wait(); });
    const std::vector<at::Tensor> values = at::unflatten_dense_tensors(flat[0], group);
    for (size_t i = 0; i < group.size(); ++i) group[i].copy_(values[i]);
  }
}

void Distributed::all_reduce_sum(at::Tensor& t) {
  if (options_.world_size == 1) return;
  std::vector<at::Tensor> one{t};
  collective("SyncBatchNorm all-reduce", options_.rank,
             [&] { impl_->group->allreduce(one)->wait(); });
}

std::vector<double> Distributed::sum(const std::vector<double>& values) {
  if (options_.world_size == 1 || values.empty()) return values;
  std::vector<at::Tensor> t{at::tensor(values, at::kDouble)};
  collective("metric all-reduce", options_.rank, [&] { impl_->group->allreduce(t)->wait(); });
  const double* p = t[0].data_ptr<double>();
  return std::vector<double>(p, p + values.size());
}

std::string Distributed::share(const std::string& key, const std::string& value_on_main) {
  if (options_.world_size == 1) return value_on_main;
  const std::string full = "vitrine/share/" + key;
  if (is_main()) {
    impl_->store->set(full, std::vector<uint8_t>(value_on_main.begin(), value_on_main.end()));
    return value_on_main;
  }
  std::vector<uint8_t> bytes;
  collective("store read", options_.rank, [&] { bytes = impl_->store->get(full); });
  return std::string(bytes.begin(), bytes.end());
}

void Distributed::barrier() {
  if (options_.world_size == 1) return;
  collective("barrier", options_.rank, [&] { impl_->group->barrier()->wait(); });
}

}  // namespace vitrine::train
