// ParameterDict: what load_checkpoint returns and save_checkpoint takes, an ordered name -> value
// map (MindSpore's dict of Parameters) that keeps file order and can be edited and saved again.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"

namespace mindsave {

class ParameterDict {
public:
    using value_type = TensorRecord;
    using iterator = std::vector<TensorRecord>::iterator;
    using const_iterator = std::vector<TensorRecord>::const_iterator;

    ParameterDict() = default;
    explicit ParameterDict(std::vector<TensorRecord> records) {
        records_.reserve(records.size());
        index_.reserve(records.size());
        for (auto& r : records) insert_or_assign(std::move(r));
    }

    std::size_t size() const noexcept { return records_.size(); }
    bool empty() const noexcept { return records_.empty(); }
    iterator begin() noexcept { return records_.begin(); }
    iterator end() noexcept { return records_.end(); }
    const_iterator begin() const noexcept { return records_.begin(); }
    const_iterator end() const noexcept { return records_.end(); }

    bool contains(std::string_view name) const { return index_.contains(name); }
    TensorRecord* find(std::string_view name) {
        const auto it = index_.find(name);
        return it == index_.end() ? nullptr : &records_[it->second];
    }
    const TensorRecord* find(std::string_view name) const {
        const auto it = index_.find(name);
        return it == index_.end() ? nullptr : &records_[it->second];
    }
    TensorRecord& at(std::string_view name) {
        if (auto* r = find(name)) return *r;
        throw ParameterError("no parameter named '" + std::string(name) + "' in the dict");
    }
    const TensorRecord& at(std::string_view name) const {
        if (const auto* r = find(name)) return *r;
        throw ParameterError("no parameter named '" + std::string(name) + "' in the dict");
    }

    // Replaces the value of an existing name in place (keeping its position) or appends a new one.
    TensorRecord& insert_or_assign(TensorRecord record) {
        if (auto* r = find(record.name)) return *r = std::move(record);
        index_.emplace(record.name, records_.size());
        records_.push_back(std::move(record));
        return records_.back();
    }
    TensorRecord& insert_or_assign(NamedValue value) { return insert_or_assign(std::move(value.record)); }

    bool erase(std::string_view name) {
        const auto it = index_.find(name);
        if (it == index_.end()) return false;
        const std::size_t at = it->second;
        records_.erase(records_.begin() + static_cast<std::ptrdiff_t>(at));
        index_.erase(it);
        for (auto& [key, i] : index_)
            if (i > at) --i;
        return true;
    }

    // Names in order (MindSpore's list(dict.keys())).
    std::vector<std::string> keys() const {
        std::vector<std::string> out;
        out.reserve(records_.size());
        for (const auto& r : records_) out.push_back(r.name);
        return out;
    }

private:
    // Looked up by string_view without building a std::string per lookup.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::vector<TensorRecord> records_;
    std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> index_;
};

}  // namespace mindsave
