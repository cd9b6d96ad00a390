// RecordViews: the list of RecordViews a writer takes, built from records or from a parameter holder,
// together with the storage those views point into (visited names, strings encoded as UTF-32).
#pragma once

#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/record.hpp"

namespace mindsave {

class RecordViews {
public:
    RecordViews() = default;
    RecordViews(const RecordViews&) = delete;  // the views point into this object's own storage
    RecordViews& operator=(const RecordViews&) = delete;

    void add(const TensorRecord& r) { views_.push_back(r.is_string() ? r.view(&encoded_.emplace_back()) : r.view()); }
    // r's name, dtype and shape with bytes held elsewhere (a tensor read in place).
    void add(const TensorRecord& r, std::span<const std::byte> bytes) {
        views_.push_back({r.name, r.dtype, r.shape, bytes, false});
    }

    // Every parameter of holder whose name keep accepts, viewed in place (no copy of tensor bytes).
    template <HasParameters Holder, class Keep>
    void add_parameters(Holder& holder, Keep&& keep) {
        visit_parameters(holder, [&](std::string_view name, auto& p) {
            if (!keep(name)) return;
            const std::string& stored = names_.emplace_back(name);
            const TensorView v = view_of(p);
            views_.push_back({stored, v.dtype, v.shape, v.bytes, false});
        });
    }
    template <HasParameters Holder>
    void add_parameters(Holder& holder) {
        add_parameters(holder, [](std::string_view) { return true; });
    }

    void reserve(std::size_t n) { views_.reserve(n); }
    std::size_t size() const noexcept { return views_.size(); }
    std::span<const RecordView> views() const noexcept { return views_; }

private:
    std::deque<std::string> names_;                // deque: adding never moves earlier names
    std::deque<std::vector<std::byte>> encoded_;   // UTF-32LE of string values
    std::vector<RecordView> views_;
};

}  // namespace mindsave
