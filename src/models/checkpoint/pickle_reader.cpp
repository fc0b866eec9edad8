#include "models/checkpoint/pickle_reader.h"

#include <ATen/ATen.h>

#include <cstring>
#include <sstream>
#include <unordered_map>

namespace vitrine::models::checkpoint {

using Kind = PyValue::Kind;

PyPtr PyValue::get(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::kString && k->text == key) return v;
  return nullptr;
}

std::string PyValue::describe() const {
  std::ostringstream out;
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return boolean ? "True" : "False";
    case Kind::kInt: return "int " + std::to_string(integer);
    case Kind::kBigInt: return "int (" + std::to_string(text.size()) + " bytes)";
    case Kind::kFloat: return "float " + std::to_string(number);
    case Kind::kString: return "str '" + text.substr(0, 40) + "'";
    case Kind::kBytes: return "bytes (" + std::to_string(text.size()) + ")";
    case Kind::kList: return "list of " + std::to_string(items.size());
    case Kind::kTuple: return "tuple of " + std::to_string(items.size());
    case Kind::kDict: return "dict of " + std::to_string(entries.size());
    case Kind::kTensor:
      out << "tensor " << tensor.sizes() << " " << tensor.scalar_type();
      return out.str();
    case Kind::kStorage: return "storage";
    case Kind::kGlobal: return "class " + text;
    case Kind::kObject:
      return "object " + (callable && callable->kind == Kind::kGlobal ? callable->text : "?");
  }
  return "?";
}

const char* ByteReader::take(size_t n) {
  if (n > size_ - position_)
    throw CheckpointError(source_ + ": truncated (wanted " + std::to_string(n) + " bytes at " +
                          std::to_string(position_) + " of " + std::to_string(size_) + ")");
  const char* p = data_ + position_;
  position_ += n;
  return p;
}

std::string ByteReader::line() {
  std::string out;
  for (char c = *take(1); c != '\n'; c = *take(1)) out.push_back(c);
  return out;
}

namespace {

template <typename T>
T little_endian(ByteReader& r) {
  T value;
  std::memcpy(&value, r.take(sizeof(T)), sizeof(T));  // x86-64 and aarch64 are little-endian
  return value;
}

PyPtr make_int(int64_t v) {
  PyPtr p = PyValue::make(Kind::kInt);
  p->integer = v;
  return p;
}
PyPtr make_text(Kind kind, std::string s) {
  PyPtr p = PyValue::make(kind);
  p->text = std::move(s);
  return p;
}

// LONG1/LONG4: little-endian two's complement of n bytes.
PyPtr make_long(const char* bytes, size_t n) {
  if (n > 8) return make_text(Kind::kBigInt, std::string(bytes, n));
  uint64_t u = 0;
  for (size_t i = 0; i < n; ++i)
    u |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
  return make_int(static_cast<int64_t>(u));
}

class Machine {
 public:
  Machine(ByteReader& reader, const PersistentLoader& persistent_load)
      : r_(reader), persistent_load_(persistent_load) {}
  PyPtr run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError(r_.source() + ": pickle: " + what + " (at byte " +
                          std::to_string(r_.position()) + ")");
  }
  PyPtr pop() {
    if (stack_.empty()) fail("stack underflow");
    PyPtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyPtr& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PyPtr> pop_to_mark() {
    if (marks_.empty()) fail("no MARK");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  PyPtr memo_get(int64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo key " + std::to_string(index) + " missing");
    return it->second;
  }
  PyPtr tuple(std::vector<PyPtr> items) {
    PyPtr t = PyValue::make(Kind::kTuple);
    t->items = std::move(items);
    return t;
  }
  void set_items(const PyPtr& target, const std::vector<PyPtr>& kv) {
    if (target->kind != Kind::kDict) fail("SETITEM(S) on " + target->describe());
    for (size_t i = 0; i + 1 < kv.size(); i += 2) target->entries.emplace_back(kv[i], kv[i + 1]);
  }
  void append_items(const PyPtr& target, const std::vector<PyPtr>& items) {
    if (target->kind != Kind::kList) fail("APPEND(S) on " + target->describe());
    target->items.insert(target->items.end(), items.begin(), items.end());
  }
  PyPtr reduce(const PyPtr& callable, const PyPtr& args);
  PyPtr rebuild_tensor(const std::vector<PyPtr>& a);

  ByteReader& r_;
  const PersistentLoader& persistent_load_;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<int64_t, PyPtr> memo_;
};

std::vector<int64_t> int_tuple(const PyPtr& v, const char* what, const std::string& source) {
  if (!v || (v->kind != Kind::kTuple && v->kind != Kind::kList))
    throw CheckpointError(source + ": tensor " + what + " is not a tuple");
  std::vector<int64_t> out;
  for (const PyPtr& item : v->items) {
    if (item->kind != Kind::kInt)
      throw CheckpointError(source + ": tensor " + what + " entry is not an int");
    out.push_back(item->integer);
  }
  return out;
}

// _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...): a strided view of the
// storage; the bounds are checked so a corrupt file cannot make us read outside it.
PyPtr Machine::rebuild_tensor(const std::vector<PyPtr>& a) {
  if (a.size() < 4 || !a[0] || a[0]->kind != Kind::kStorage || a[1]->kind != Kind::kInt)
    fail("malformed tensor record");
  const at::Tensor& storage = a[0]->tensor;
  const int64_t offset = a[1]->integer;
  const std::vector<int64_t> size = int_tuple(a[2], "size", r_.source());
  const std::vector<int64_t> stride = int_tuple(a[3], "stride", r_.source());
  if (size.size() != stride.size()) fail("tensor size and stride differ in rank");
  int64_t last = offset;
  bool empty = false;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] < 0 || stride[i] < 0) fail("negative tensor size or stride");
    if (size[i] == 0) empty = true;
    last += (size[i] - 1) * stride[i];
  }
  if (offset < 0 || (!empty && last >= storage.numel()))
    fail("tensor of size " + c10::str(c10::IntArrayRef(size)) + " overruns its storage of " +
         std::to_string(storage.numel()) + " elements");
  PyPtr t = PyValue::make(Kind::kTensor);
  t->tensor = empty ? at::empty(size, storage.options()) : storage.as_strided(size, stride, offset);
  return t;
}

PyPtr Machine::reduce(const PyPtr& callable, const PyPtr& args) {
  const std::string name = callable->kind == Kind::kGlobal ? callable->text : "";
  const std::vector<PyPtr> empty;
  const std::vector<PyPtr>& a = args && args->kind == Kind::kTuple ? args->items : empty;
  if (name == "collections.OrderedDict" || name == "builtins.dict")
    return PyValue::make(Kind::kDict);
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor")
    return rebuild_tensor(a);
  if (name == "torch._utils._rebuild_parameter" ||
      name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != Kind::kTensor) fail("malformed parameter record");
    return a[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
    // (func, type, args, state): a Tensor subclass; rebuild the plain tensor.
    if (a.size() < 3) fail("malformed _rebuild_from_type record");
    return reduce(a[0], a[2]);
  }
  if (name == "torch.jit._pickle.restore_type_tag" || name == "torch.jit._pickle.build_intlist" ||
      name == "torch.jit._pickle.build_doublelist" || name == "torch.jit._pickle.build_boollist" ||
      name == "torch.jit._pickle.build_tensorlist") {
    // TorchScript's pickler (torch::pickle_save) wraps typed containers; the value is arg 0.
    if (a.empty()) fail("malformed " + name + " record");
    return a[0];
  }
  if (name == "_codecs.encode") {  // protocol 2 pickles bytes as encode(str, 'latin1')
    if (a.empty() || a[0]->kind != Kind::kString) fail("malformed _codecs.encode record");
    std::string bytes;
    const std::string& s = a[0]->text;  // UTF-8 of code points < 256
    for (size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<uint8_t>(s[i]);
      if (c < 0x80 || i + 1 >= s.size()) {
        bytes.push_back(static_cast<char>(c));
      } else {
        bytes.push_back(
            static_cast<char>(((c & 0x1f) << 6) | (static_cast<uint8_t>(s[++i]) & 0x3f)));
      }
    }
    return make_text(Kind::kBytes, bytes);
  }
  if (name == "builtins.set" || name == "builtins.frozenset") {
    PyPtr out = PyValue::make(Kind::kList);
    if (!a.empty() && a[0]->kind == Kind::kList) out->items = a[0]->items;
    return out;
  }
  PyPtr object = PyValue::make(Kind::kObject);
  object->callable = callable;
  object->args = args;
  return object;
}

PyPtr Machine::run() {
  for (;;) {
    const uint8_t op = r_.byte();
    switch (op) {
      case 0x80: r_.byte(); break;                       // PROTO
      case 0x95: r_.take(8); break;                      // FRAME
      case '.': return pop();                            // STOP
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                            // POP
      case '1': pop_to_mark(); break;                    // POP_MARK
      case '2': stack_.push_back(top()); break;          // DUP
      case 'N': stack_.push_back(PyValue::make(Kind::kNone)); break;
      case 0x88:
      case 0x89: {
        PyPtr b = PyValue::make(Kind::kBool);
        b->boolean = op == 0x88;
        stack_.push_back(b);
        break;
      }
      case 'I': {  // INT (text); "01"/"00" are protocol 0's booleans
        const std::string s = r_.line();
        if (s == "01" || s == "00") {
          PyPtr b = PyValue::make(Kind::kBool);
          b->boolean = s == "01";
          stack_.push_back(b);
        } else {
          stack_.push_back(make_int(std::stoll(s)));
        }
        break;
      }
      case 'L': {  // LONG (text, trailing 'L' in protocol 0)
        std::string s = r_.line();
        if (!s.empty() && s.back() == 'L') s.pop_back();
        stack_.push_back(make_int(std::stoll(s)));
        break;
      }
      case 'J': stack_.push_back(make_int(little_endian<int32_t>(r_))); break;
      case 'K': stack_.push_back(make_int(r_.byte())); break;
      case 'M': stack_.push_back(make_int(little_endian<uint16_t>(r_))); break;
      case 0x8a: {
        const size_t n = r_.byte();
        stack_.push_back(make_long(r_.take(n), n));
        break;
      }
      case 0x8b: {
        const auto n = static_cast<size_t>(little_endian<int32_t>(r_));
        stack_.push_back(make_long(r_.take(n), n));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const char* p = r_.take(8);
        char swapped[8];
        for (int i = 0; i < 8; ++i) swapped[i] = p[7 - i];
        PyPtr f = PyValue::make(Kind::kFloat);
        std::memcpy(&f->number, swapped, 8);
        stack_.push_back(f);
        break;
      }
      case 'F': {
        PyPtr f = PyValue::make(Kind::kFloat);
        f->number = std::stod(r_.line());
        stack_.push_back(f);
        break;
      }
      case 'X':
      case 'T':
      case 'B': {  // BINUNICODE, BINSTRING, BINBYTES: 4-byte length
        const auto n = static_cast<size_t>(little_endian<uint32_t>(r_));
        stack_.push_back(
            make_text(op == 'B' ? Kind::kBytes : Kind::kString, std::string(r_.take(n), n)));
        break;
      }
      case 0x8c:
      case 'U':
      case 'C': {  // SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES: 1-byte length
        const size_t n = r_.byte();
        stack_.push_back(
            make_text(op == 'C' ? Kind::kBytes : Kind::kString, std::string(r_.take(n), n)));
        break;
      }
      case 0x8d:
      case 0x8e: {  // BINUNICODE8, BINBYTES8
        const auto n = static_cast<size_t>(little_endian<uint64_t>(r_));
        stack_.push_back(
            make_text(op == 0x8e ? Kind::kBytes : Kind::kString, std::string(r_.take(n), n)));
        break;
      }
      case ')': stack_.push_back(tuple({})); break;
      case 't': stack_.push_back(tuple(pop_to_mark())); break;
      case 0x85: stack_.push_back(tuple({pop()})); break;
      case 0x86: {
        PyPtr b = pop(), a = pop();
        stack_.push_back(tuple({a, b}));
        break;
      }
      case 0x87: {
        PyPtr c = pop(), b = pop(), a = pop();
        stack_.push_back(tuple({a, b, c}));
        break;
      }
      case ']':
      case 0x8f: stack_.push_back(PyValue::make(Kind::kList)); break;  // EMPTY_LIST, EMPTY_SET
      case 'l': {
        PyPtr list = PyValue::make(Kind::kList);
        list->items = pop_to_mark();
        stack_.push_back(list);
        break;
      }
      case 0x91: {  // FROZENSET
        PyPtr list = PyValue::make(Kind::kList);
        list->items = pop_to_mark();
        stack_.push_back(list);
        break;
      }
      case 'a': {
        PyPtr item = pop();
        append_items(top(), {item});
        break;
      }
      case 'e':
      case 0x90: {  // APPENDS, ADDITEMS
        std::vector<PyPtr> items = pop_to_mark();
        append_items(top(), items);
        break;
      }
      case '}': stack_.push_back(PyValue::make(Kind::kDict)); break;
      case 'd': {
        PyPtr dict = PyValue::make(Kind::kDict);
        set_items(dict, pop_to_mark());
        stack_.push_back(dict);
        break;
      }
      case 's': {
        PyPtr value = pop(), key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {
        std::vector<PyPtr> kv = pop_to_mark();
        set_items(top(), kv);
        break;
      }
      case 'g': stack_.push_back(memo_get(std::stoll(r_.line()))); break;
      case 'h': stack_.push_back(memo_get(r_.byte())); break;
      case 'j': stack_.push_back(memo_get(little_endian<uint32_t>(r_))); break;
      case 'p': memo_[std::stoll(r_.line())] = top(); break;
      case 'q': memo_[r_.byte()] = top(); break;
      case 'r': memo_[little_endian<uint32_t>(r_)] = top(); break;
      case 0x94: {  // MEMOIZE
        const auto index = static_cast<int64_t>(memo_.size());
        memo_[index] = top();
        break;
      }
      case 'c': {  // GLOBAL module\nname\n
        std::string module = r_.line();
        stack_.push_back(make_text(Kind::kGlobal, module + "." + r_.line()));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PyPtr name = pop(), module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString)
          fail("STACK_GLOBAL needs two strings");
        stack_.push_back(make_text(Kind::kGlobal, module->text + "." + name->text));
        break;
      }
      case 'R': {
        PyPtr args = pop(), callable = pop();
        stack_.push_back(reduce(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ cls args
        PyPtr args = pop(), cls = pop();
        stack_.push_back(reduce(cls, args));
        break;
      }
      case 0x92: {  // NEWOBJ_EX cls args kwargs
        pop();
        PyPtr args = pop(), cls = pop();
        stack_.push_back(reduce(cls, args));
        break;
      }
      case 'b': {  // BUILD: state for objects; dict/tensor attributes are not needed
        PyPtr state = pop();
        if (top()->kind == Kind::kObject) top()->state = state;
        break;
      }
      case 'Q': {  // BINPERSID
        PyPtr pid = pop();
        if (!persistent_load_) fail("persistent id outside a checkpoint");
        stack_.push_back(persistent_load_(pid));
        break;
      }
      case 'P': {  // PERSID (text id)
        PyPtr pid = make_text(Kind::kString, r_.line());
        if (!persistent_load_) fail("persistent id outside a checkpoint");
        stack_.push_back(persistent_load_(pid));
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        fail(std::string("unsupported opcode ") + hex);
      }
    }
  }
}

}  // namespace

PyPtr unpickle(ByteReader& reader, const PersistentLoader& persistent_load) {
  return Machine(reader, persistent_load).run();
}

}  // namespace vitrine::models::checkpoint
