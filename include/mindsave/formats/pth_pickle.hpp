// The pickle side of format::pth: a small pickle VM that only builds what a torch.save state dict
// needs (dicts, tuples, numbers, strings, tensors over storages), with an allow-list of globals.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mindsave/core/byte_count.hpp"
#include "mindsave/core/dtype.hpp"
#include "mindsave/core/endian.hpp"
#include "mindsave/io/json.hpp"

namespace mindsave::format::detail {

// What went wrong in data.pkl, and where (offset npos: not tied to one opcode).
struct PickleError {
    std::string what;
    std::size_t offset = std::string::npos;
};

// A storage as a persistent id names it: ('storage', torch.FloatStorage, key, location, numel).
struct TorchStorage {
    std::string key;
    DType dtype = DType::Float32;
    std::uint64_t numel = 0;
};
// A tensor as _rebuild_tensor_v2 describes it: elements of a storage, from offset, by sizes and strides.
struct TorchTensor {
    std::size_t storage = 0;  // index into PickledStateDict::storages
    std::uint64_t offset = 0;
    std::vector<std::uint64_t> sizes, strides;
};
// One leaf of the state dict, named by its dotted key path.
struct PickledValue {
    enum class Kind { tensor, integer, floating, boolean, string };
    Kind kind = Kind::tensor;
    std::string name;
    TorchTensor tensor;
    std::int64_t integer = 0;
    double floating = 0;
    std::string text;  // string value
};
struct PickledStateDict {
    std::vector<TorchStorage> storages;
    std::vector<PickledValue> values;  // in dict order
};

// PyTorch's legacy storage classes: the element type of a persistent id.
inline constexpr std::pair<std::string_view, DType> torch_storage_types[] = {
    {"FloatStorage", DType::Float32}, {"DoubleStorage", DType::Float64}, {"HalfStorage", DType::Float16},
    {"BFloat16Storage", DType::BFloat16}, {"LongStorage", DType::Int64}, {"IntStorage", DType::Int32},
    {"ShortStorage", DType::Int16}, {"CharStorage", DType::Int8}, {"ByteStorage", DType::UInt8},
    {"BoolStorage", DType::Bool},
};

class Unpickler {
public:
    static constexpr std::size_t max_objects = 8'000'000;  // far beyond any state dict; bounds memory
    static constexpr std::size_t max_depth = 32;           // nested dicts

    explicit Unpickler(std::span<const std::byte> pickle) : p_(pickle) {}

    PickledStateDict state_dict() {
        const Obj* root = run();
        if (root->kind != Kind::dict)
            throw PickleError{"the file holds a " + kind_name(root->kind) +
                              ", not a dict of tensors: save a state dict, torch.save(model.state_dict(), f)"};
        PickledStateDict out;
        out.storages = std::move(storages_);
        std::unordered_map<std::string, std::pair<std::size_t, const Obj*>> index;
        flatten(*root, "", 0, out, index);
        return out;
    }

private:
    enum class Kind { none, boolean, integer, floating, string, tuple, list, dict, global, storage, tensor };
    struct Obj {
        Kind kind = Kind::none;
        std::int64_t integer = 0;  // integer, boolean; index of the string, global, storage or tensor
        double floating = 0;
        std::vector<Obj*> items;   // tuple, list; dict: key, value, key, value ...
    };

    static std::string kind_name(Kind k) {
        constexpr const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict",
                                         "class or function", "storage", "tensor"};
        return names[static_cast<int>(k)];
    }

    [[noreturn]] void fail(std::string what) const { throw PickleError{std::move(what), op_at_}; }

    Obj* make(Kind k, std::int64_t v = 0) {
        if (arena_.size() >= max_objects) fail("the pickle builds more than " + std::to_string(max_objects) + " objects");
        auto& o = arena_.emplace_back();
        o.kind = k;
        o.integer = v;
        return &o;
    }
    Obj* make_string(std::string s) {
        strings_.push_back(std::move(s));
        return make(Kind::string, static_cast<std::int64_t>(strings_.size() - 1));
    }
    const std::string& str(const Obj* o) const { return strings_[static_cast<std::size_t>(o->integer)]; }

    std::span<const std::byte> take(std::uint64_t n) {
        if (n > p_.size() - pos_) fail("the pickle ends in the middle of an opcode (data.pkl is truncated)");
        const auto s = p_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::uint64_t le(int n) {
        return load_le(take(static_cast<std::uint64_t>(n)).data(), static_cast<std::size_t>(n));
    }
    std::string utf8(std::uint64_t n) {
        const auto s = take(n);
        std::string text(reinterpret_cast<const char*>(s.data()), s.size());
        if (io::detail::find_invalid_utf8(text) != std::string::npos) fail("a string that is not UTF-8");
        return text;
    }
    std::string line() {
        const std::size_t start = pos_;
        while (pos_ < p_.size() && p_[pos_] != std::byte{'\n'}) ++pos_;
        if (pos_ == p_.size()) fail("a GLOBAL name runs past the end of the pickle");
        const std::string_view s(reinterpret_cast<const char*>(p_.data()) + start, pos_++ - start);
        for (const char c : s)
            if (c < 0x21 || c > 0x7e) fail("a GLOBAL name that is not printable ASCII");  // Python names are
        return std::string(s.substr(0, 200));
    }

    Obj* pop() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("an opcode needs a value the stack does not have");
        Obj* o = stack_.back();
        stack_.pop_back();
        return o;
    }
    Obj* top() {
        if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("an opcode needs a value the stack does not have");
        return stack_.back();
    }
    std::vector<Obj*> pop_mark() {
        if (marks_.empty()) fail("an opcode needs a MARK that is not there");
        std::vector<Obj*> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    Obj* tuple(std::vector<Obj*> items) {
        Obj* t = make(Kind::tuple);
        t->items = std::move(items);
        return t;
    }
    void push(Obj* o) { stack_.push_back(o); }

    const Obj* run() {
        static_assert(std::endian::native == std::endian::little, "pickle floats are read as little-endian hosts");
        while (true) {
            op_at_ = pos_;
            const auto op = static_cast<std::uint8_t>(take(1)[0]);
            switch (op) {
                case 0x80: if (le(1) > 5) fail("pickle protocol above 5"); break;       // PROTO
                case 0x95: le(8); break;                                                   // FRAME: sizes only
                case '.': return pop();                                                    // STOP
                case '(': marks_.push_back(stack_.size()); break;                          // MARK
                case '}': push(make(Kind::dict)); break;                                   // EMPTY_DICT
                case ']': push(make(Kind::list)); break;                                   // EMPTY_LIST
                case ')': push(make(Kind::tuple)); break;                                  // EMPTY_TUPLE
                case 'N': push(make(Kind::none)); break;                                   // NONE
                case 0x88: push(make(Kind::boolean, 1)); break;                            // NEWTRUE
                case 0x89: push(make(Kind::boolean, 0)); break;                            // NEWFALSE
                case 'K': push(make(Kind::integer, static_cast<std::int64_t>(le(1)))); break;  // BININT1
                case 'M': push(make(Kind::integer, static_cast<std::int64_t>(le(2)))); break;  // BININT2
                case 'J':                                                                  // BININT
                    push(make(Kind::integer, static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4)))));
                    break;
                case 0x8a: push(long_int(le(1))); break;                                   // LONG1
                case 0x8b: push(long_int(le(4))); break;                                   // LONG4
                case 'G': {                                                                // BINFLOAT (big-endian)
                    Obj* f = make(Kind::floating);
                    f->floating = std::bit_cast<double>(load_be(take(8).data(), 8));
                    push(f);
                    break;
                }
                case 'X': push(make_string(utf8(le(4)))); break;                          // BINUNICODE
                case 0x8c: push(make_string(utf8(le(1)))); break;                         // SHORT_BINUNICODE
                case 0x8d: push(make_string(utf8(le(8)))); break;                         // BINUNICODE8
                case 'q': memo_[le(1)] = top(); break;                                     // BINPUT
                case 'r': memo_[le(4)] = top(); break;                                     // LONG_BINPUT
                case 0x94: memo_[memo_.size()] = top(); break;                             // MEMOIZE
                case 'h': push(memo(le(1))); break;                                        // BINGET
                case 'j': push(memo(le(4))); break;                                        // LONG_BINGET
                case 't': push(tuple(pop_mark())); break;                                  // TUPLE
                case 0x85: { Obj* a = pop(); push(tuple({a})); break; }                    // TUPLE1
                case 0x86: { Obj* b = pop(); Obj* a = pop(); push(tuple({a, b})); break; } // TUPLE2
                case 0x87: { Obj* c = pop(); Obj* b = pop(); Obj* a = pop(); push(tuple({a, b, c})); break; }
                case '0': pop(); break;                                                    // POP
                case '1': pop_mark(); break;                                               // POP_MARK
                case 'a': { Obj* v = pop(); list_of(top())->items.push_back(v); break; }   // APPEND
                case 'e': { auto v = pop_mark(); auto& l = list_of(top())->items; l.insert(l.end(), v.begin(), v.end()); break; }
                case 's': { Obj* v = pop(); Obj* k = pop(); set_items(top(), {k, v}); break; }  // SETITEM
                case 'u': {                                                                // SETITEMS
                    auto kv = pop_mark();
                    if (kv.size() % 2) fail("SETITEMS with a key but no value");
                    set_items(top(), kv);
                    break;
                }
                case 'c': { std::string module = line(); push(global(module, line())); break; }  // GLOBAL
                case 0x93: {                                                               // STACK_GLOBAL
                    Obj* name = pop();
                    Obj* module = pop();
                    if (name->kind != Kind::string || module->kind != Kind::string) fail("STACK_GLOBAL needs two strings");
                    push(global(str(module), str(name)));
                    break;
                }
                case 'Q': { Obj* pid = pop(); push(persistent_load(pid)); break; }        // BINPERSID
                case 'R': { Obj* args = pop(); Obj* f = pop(); push(reduce(f, args)); break; }  // REDUCE
                case 'b': {                                                                // BUILD
                    pop();
                    if (top()->kind != Kind::dict)
                        fail("BUILD on a " + kind_name(top()->kind) + " (only an OrderedDict's attributes may be set)");
                    break;  // the state dict's _metadata attribute: versions only
                }
                default:
                    fail("unsupported pickle opcode 0x" + hex(op) + " (not one torch.save writes for a state dict)");
            }
        }
    }

    static std::string hex(unsigned v) {
        constexpr char d[] = "0123456789abcdef";
        return {d[(v >> 4) & 0xf], d[v & 0xf]};
    }

    Obj* memo(std::uint64_t i) {
        const auto it = memo_.find(i);
        if (it == memo_.end()) fail("BINGET of memo slot " + std::to_string(i) + ", which was never set");
        return it->second;
    }
    Obj* long_int(std::uint64_t n) {
        if (n > 8) fail("an integer longer than 64 bits");
        const auto s = take(n);
        std::uint64_t v = load_le(s.data(), static_cast<std::size_t>(n));
        if (n > 0 && n < 8 && (static_cast<std::uint8_t>(s[n - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
        return make(Kind::integer, static_cast<std::int64_t>(v));
    }
    Obj* list_of(Obj* o) {
        if (o->kind != Kind::list) fail("APPEND to a " + kind_name(o->kind) + ", not a list");
        return o;
    }
    void set_items(Obj* target, const std::vector<Obj*>& kv) {
        if (target->kind != Kind::dict) fail("SETITEM on a " + kind_name(target->kind) + ", not a dict");
        target->items.insert(target->items.end(), kv.begin(), kv.end());  // duplicate keys: resolved in flatten
    }

    // The allow-list, as torch.load(weights_only=True) has one: anything else is refused by name.
    Obj* global(const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        if (module == "torch")
            for (const auto& [type, dtype] : torch_storage_types)
                if (name == type) return make_global(full, static_cast<int>(dtype));
        if (full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
            full == "torch._utils._rebuild_tensor" || full == "torch._utils._rebuild_parameter" ||
            full == "torch._utils._rebuild_parameter_with_state")
            return make_global(full, -1);
        if (module == "torch" && name.ends_with("Storage"))
            fail("tensors stored as " + full + " (complex or quantized) have no MindSpore checkpoint dtype");
        if (module == "torch._utils" && name.starts_with("_rebuild_"))
            fail(full + " (sparse, quantized, meta or dtype-only tensors) is not supported: a state dict of dense tensors is");
        fail("global '" + full + "' is not allowed: a .pth state dict needs only tensors, dicts and numbers "
             "(the allow-list of torch.load(weights_only=True)); refusing to call it");
    }
    // A global: its name in the string table; for a storage class, its dtype in floating (else -1).
    Obj* make_global(const std::string& full, int dtype) {
        Obj* o = make_string(full);
        o->kind = Kind::global;
        o->floating = dtype;
        return o;
    }

    std::uint64_t count(const Obj* o, const char* what) {
        if (o->kind != Kind::integer || o->integer < 0) fail(std::string(what) + " must be a non-negative int");
        return static_cast<std::uint64_t>(o->integer);
    }
    std::vector<std::uint64_t> ints(const Obj* o, const char* what) {
        if (o->kind != Kind::tuple) fail(std::string(what) + " must be a tuple of ints");
        if (o->items.size() > max_tensor_rank)
            fail(std::string(what) + " has more than " + std::to_string(max_tensor_rank) + " dims");
        std::vector<std::uint64_t> v;
        for (const Obj* i : o->items) v.push_back(count(i, what));
        return v;
    }

    Obj* persistent_load(const Obj* pid) {
        if (pid->kind != Kind::tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::string ||
            str(pid->items[0]) != "storage")
            fail("a persistent id that is not ('storage', type, key, location, numel)");
        const Obj* type = pid->items[1];
        if (type->kind != Kind::global || type->floating < 0)
            fail("a persistent id whose storage type is not a torch storage class");
        if (pid->items[2]->kind != Kind::string) fail("a persistent id whose key is not a string");
        const std::string& key = str(pid->items[2]);
        const auto dtype = static_cast<DType>(static_cast<int>(type->floating));
        const std::uint64_t numel = count(pid->items[4], "a storage's element count");
        const auto [it, fresh] = storage_index_.try_emplace(key, storages_.size());
        if (fresh) storages_.push_back({key, dtype, numel});
        else if (storages_[it->second].dtype != dtype || storages_[it->second].numel != numel)
            fail("storage '" + key + "' is named twice with different types or sizes");
        return make(Kind::storage, static_cast<std::int64_t>(it->second));
    }

    Obj* reduce(const Obj* f, const Obj* args) {
        if (f->kind != Kind::global) fail("REDUCE calls a " + kind_name(f->kind) + ", not an allowed function");
        if (args->kind != Kind::tuple) fail("REDUCE with arguments that are not a tuple");
        const std::string& name = str(f);
        const auto& a = args->items;
        if (name == "collections.OrderedDict") {
            if (!a.empty()) fail("OrderedDict(...) with arguments (torch.save writes OrderedDict())");
            return make(Kind::dict);
        }
        if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
            const std::size_t least = name.ends_with("v2") ? 6 : 4;
            if (a.size() < least || a.size() > least + 1) fail(name + " with " + std::to_string(a.size()) + " arguments");
            if (a[0]->kind != Kind::storage) fail(name + ": its first argument is not a storage");
            TorchTensor t;
            t.storage = static_cast<std::size_t>(a[0]->integer);
            t.offset = count(a[1], "a tensor's storage offset");
            t.sizes = ints(a[2], "a tensor's size");
            t.strides = ints(a[3], "a tensor's stride");
            if (t.sizes.size() != t.strides.size()) fail("a tensor with " + std::to_string(t.sizes.size()) + " sizes but " +
                                                         std::to_string(t.strides.size()) + " strides");
            tensors_.push_back(std::move(t));
            return make(Kind::tensor, static_cast<std::int64_t>(tensors_.size() - 1));
        }
        // _rebuild_parameter(data, requires_grad, hooks[, state]): the tensor itself
        if (a.size() < 3 || a.size() > 4 || a[0]->kind != Kind::tensor) fail(name + " without a tensor as its first argument");
        return a[0];
    }

    void flatten(const Obj& dict, const std::string& prefix, std::size_t depth, PickledStateDict& out,
                 std::unordered_map<std::string, std::pair<std::size_t, const Obj*>>& index) {
        if (depth >= max_depth)
            throw PickleError{"dicts nest more than " + std::to_string(max_depth) + " deep at '" + prefix + "'"};
        for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
            // a dict held twice is flattened twice: bounded, so shared references cannot multiply without end
            if (++visits_ > arena_.size())
                throw PickleError{"dicts hold themselves, or share nested dicts so much that flattening them never ends"};
            const Obj* k = dict.items[i];
            const Obj* v = dict.items[i + 1];
            std::string name = prefix;
            if (k->kind == Kind::string) name += str(k);
            else if (k->kind == Kind::integer) name += std::to_string(k->integer);
            else throw PickleError{"a dict key under '" + prefix + "' is a " + kind_name(k->kind) + ", not a str"};
            if (v->kind == Kind::dict) {
                flatten(*v, name + ".", depth + 1, out, index);
                continue;
            }
            PickledValue value;
            value.name = name;
            switch (v->kind) {
                case Kind::tensor: value.tensor = tensors_[static_cast<std::size_t>(v->integer)]; break;
                case Kind::integer: value.kind = PickledValue::Kind::integer, value.integer = v->integer; break;
                case Kind::boolean: value.kind = PickledValue::Kind::boolean, value.integer = v->integer; break;
                case Kind::floating: value.kind = PickledValue::Kind::floating, value.floating = v->floating; break;
                case Kind::string: value.kind = PickledValue::Kind::string, value.text = str(v); break;
                default:
                    throw PickleError{"'" + name + "' is a " + kind_name(v->kind) + ", which has no tensor form: save "
                                      "only tensors (e.g. torch.save(model.state_dict(), f))"};
            }
            const auto [it, fresh] = index.try_emplace(name, out.values.size(), &dict);
            if (fresh) out.values.push_back(std::move(value));
            else if (it->second.second == &dict) out.values[it->second.first] = std::move(value);  // first place, last value
            else throw PickleError{"'" + name + "' names two values (a dotted key and a nested dict clash)"};
        }
    }

    std::span<const std::byte> p_;
    std::size_t pos_ = 0, op_at_ = 0;
    std::deque<Obj> arena_;  // deque: objects never move, so pointers to them stay valid
    std::vector<Obj*> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, Obj*> memo_;
    std::deque<std::string> strings_;
    std::vector<TorchStorage> storages_;
    std::unordered_map<std::string, std::size_t> storage_index_;
    std::vector<TorchTensor> tensors_;
    std::size_t visits_ = 0;
};

}  // namespace mindsave::format::detail
