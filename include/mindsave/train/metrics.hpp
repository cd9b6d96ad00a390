// Evaluation metrics as MindSpore's (mindspore.train.Accuracy, Loss, Precision, Recall, Fbeta / F1,
// TopKCategoricalAccuracy) in mindsave::metrics: clear(), update(...), eval(); or chosen by name for Model.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/python_repr.hpp"

namespace mindsave {

// A metric's result: one number, or one per class (Precision, Recall and Fbeta without averaging). It prints
// as Python prints MindSpore's value: a float's repr, or numpy's repr of an array ("array([0.5, 1. ])").
class MetricValue {
public:
    MetricValue(double v) : values_{v}, scalar_(true) {}
    MetricValue(std::vector<double> per_class) : values_(std::move(per_class)), scalar_(false) {}

    bool is_scalar() const noexcept { return scalar_; }
    double scalar() const {
        if (!scalar_) throw ConfigError("this metric has one value per class: read it with per_class(), or evaluate it averaged");
        return values_.front();
    }
    const std::vector<double>& per_class() const noexcept { return values_; }
    friend bool operator==(const MetricValue&, const MetricValue&) = default;

    friend std::ostream& operator<<(std::ostream& os, const MetricValue& v) {
        if (v.scalar_) return os << detail::python_float_repr(v.values_.front());
        return os << v.numpy_repr();
    }

private:
    // numpy's default array repr for values it prints positionally (the metrics' [0, 1], none in (0, 1e-4),
    // where numpy would switch the whole array to scientific): up to 8 decimals, trailing zeros dropped but the
    // point kept, every element padded to one width, lines wrapped at 75 characters.
    std::string numpy_repr() const {
        std::vector<std::string> whole, frac;
        for (const double x : values_) {
            char buf[64];
            const auto end = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed, 8).ptr;
            std::string s(buf, end);
            while (s.back() == '0') s.pop_back();  // "1.00000000" -> "1.", "0.50000000" -> "0.5"
            const auto dot = s.find('.');
            whole.push_back(s.substr(0, dot));
            frac.push_back(s.substr(dot));
        }
        std::size_t wl = 0, wr = 0;
        for (std::size_t i = 0; i < values_.size(); ++i) wl = std::max(wl, whole[i].size()), wr = std::max(wr, frac[i].size());
        std::string out = "array([", line_start_pad(7, ' ');
        std::size_t column = out.size();
        for (std::size_t i = 0; i < values_.size(); ++i) {
            const std::string item = std::string(wl - whole[i].size(), ' ') + whole[i] + frac[i] + std::string(wr - frac[i].size(), ' ');
            const std::string sep = i + 1 < values_.size() ? "," : "";
            if (i > 0) {
                if (column + 1 + item.size() + sep.size() > 75) {
                    out += "\n" + line_start_pad;
                    column = line_start_pad.size();
                } else {
                    out += " ";
                    ++column;
                }
            }
            out += item + sep;
            column += item.size() + sep.size();
        }
        return out + "])";
    }

    std::vector<double> values_;
    bool scalar_;
};

namespace metrics {

// What Model::eval hands a metric: a class metric takes each batch's logits [N, C] and class labels [N], the
// Loss metric each batch's loss. A user's metric meets one of these and may be given to Model like ours.
template <class M>
concept ClassMetric = requires(M& m, const Tensor& logits, const Labels& labels) {
    m.clear();
    m.update(logits, labels);
    { m.eval() } -> std::convertible_to<MetricValue>;
};
template <class M>
concept LossMetric = requires(M& m, double loss) {
    m.clear();
    m.update(loss);
    { m.eval() } -> std::convertible_to<MetricValue>;
};
template <class M>
concept Metric = ClassMetric<M> || LossMetric<M>;

namespace detail {
// Index of the largest logit of each row; the first on a tie, as numpy's argmax.
inline std::size_t argmax_row(const float* z, std::size_t classes) noexcept {
    return static_cast<std::size_t>(std::max_element(z, z + classes) - z);
}

// Shape checks shared by the class metrics, with MindSpore's wording of what went wrong.
inline void check_batch(std::string_view metric, const Tensor& logits, const Labels& labels, std::size_t& class_num) {
    if (logits.dimension() != 2 || logits.shape()[0] != labels.size())
        throw ShapeError(std::string(metric) + ".update: logits must be [N, C] beside N labels, got " +
                         std::to_string(logits.dimension()) + "-d logits and " + std::to_string(labels.size()) + " labels");
    const std::size_t c = logits.shape()[1];
    if (class_num == 0) class_num = c;
    else if (c != class_num)
        throw ShapeError(std::string(metric) + ".update: class number not match: earlier logits had " +
                         std::to_string(class_num) + " classes, these have " + std::to_string(c));
    for (const auto y : labels)
        if (y < 0 || static_cast<std::size_t>(y) >= c)
            throw ShapeError(std::string(metric) + ".update: label " + std::to_string(y) + " is not a class of " +
                             std::to_string(c) + " logits");
}
[[noreturn]] inline void throw_no_samples(std::string_view metric) {
    throw Error("The '" + std::string(metric) + "' can not be calculated, because the number of samples is 0: call "
                "update (evaluate a dataset with samples) before eval");
}
}  // namespace detail

// The fraction of samples whose largest logit is their label.
class Accuracy {
public:
    void clear() noexcept { correct_ = total_ = 0; }
    void update(const Tensor& logits, const Labels& labels) {
        std::size_t classes = 0;
        detail::check_batch("Accuracy", logits, labels, classes);
        for (std::size_t n = 0; n < labels.size(); ++n)
            correct_ += detail::argmax_row(logits.data() + n * classes, classes) == static_cast<std::size_t>(labels(n));
        total_ += labels.size();
    }
    MetricValue eval() const {
        if (total_ == 0) detail::throw_no_samples("Accuracy");
        return static_cast<double>(correct_) / static_cast<double>(total_);
    }

private:
    std::size_t correct_ = 0, total_ = 0;
};

// The mean of the batches' losses (each batch counts once, as MindSpore's Loss).
class Loss {
public:
    void clear() noexcept { sum_ = 0.0, batches_ = 0; }
    void update(double loss) noexcept { sum_ += loss, ++batches_; }
    MetricValue eval() const {
        if (batches_ == 0) detail::throw_no_samples("Loss");
        return sum_ / static_cast<double>(batches_);
    }

private:
    double sum_ = 0.0;
    std::size_t batches_ = 0;
};

namespace detail {
// Per-class counts of predictions (argmax), labels and hits: what Precision, Recall and Fbeta are made of.
class ClassCounts {
public:
    void clear() noexcept { predicted_.clear(), actual_.clear(), hits_.clear(), classes_ = 0; }
    void update(std::string_view metric, const Tensor& logits, const Labels& labels) {
        check_batch(metric, logits, labels, classes_);
        predicted_.resize(classes_), actual_.resize(classes_), hits_.resize(classes_);
        for (std::size_t n = 0; n < labels.size(); ++n) {
            const auto p = argmax_row(logits.data() + n * classes_, classes_), y = static_cast<std::size_t>(labels(n));
            ++predicted_[p], ++actual_[y];
            hits_[p] += p == y;
        }
    }
    // f(c) for every class, or their mean; MindSpore's "no samples" error before any update.
    template <class F>
    MetricValue per_class(std::string_view metric, bool average, F&& f) const {
        if (classes_ == 0) throw_no_samples(metric);
        std::vector<double> v(classes_);
        double sum = 0.0;
        for (std::size_t c = 0; c < classes_; ++c) sum += v[c] = f(static_cast<double>(predicted_[c]), static_cast<double>(actual_[c]),
                                                                 static_cast<double>(hits_[c]));
        if (average) return sum / static_cast<double>(classes_);
        return v;
    }
    // MindSpore divides by (denominator + the smallest normal double): a class never predicted scores 0.
    static constexpr double eps = std::numeric_limits<double>::min();

private:
    std::vector<std::size_t> predicted_, actual_, hits_;
    std::size_t classes_ = 0;
};
}  // namespace detail

// Per class: hits / predictions of that class (eval(true): their mean).
class Precision {
public:
    void clear() noexcept { counts_.clear(); }
    void update(const Tensor& logits, const Labels& labels) { counts_.update("Precision", logits, labels); }
    MetricValue eval(bool average = false) const {
        return counts_.per_class("Precision", average, [](double predicted, double, double hits) {
            return hits / (predicted + detail::ClassCounts::eps);
        });
    }

private:
    detail::ClassCounts counts_;
};

// Per class: hits / samples of that class (eval(true): their mean).
class Recall {
public:
    void clear() noexcept { counts_.clear(); }
    void update(const Tensor& logits, const Labels& labels) { counts_.update("Recall", logits, labels); }
    MetricValue eval(bool average = false) const {
        return counts_.per_class("Recall", average, [](double, double actual, double hits) {
            return hits / (actual + detail::ClassCounts::eps);
        });
    }

private:
    detail::ClassCounts counts_;
};

// Per class: (1 + beta^2) hits / (beta^2 samples + predictions), MindSpore's Fbeta (eval(true): their mean).
class Fbeta {
public:
    explicit Fbeta(double beta) : beta_(beta) {
        if (!(beta > 0)) throw ConfigError("Fbeta: beta must be greater than 0, got " + mindsave::detail::python_float_repr(beta));
    }
    void clear() noexcept { counts_.clear(); }
    void update(const Tensor& logits, const Labels& labels) { counts_.update("Fbeta", logits, labels); }
    MetricValue eval(bool average = false) const {
        const double b2 = beta_ * beta_;
        return counts_.per_class("Fbeta", average, [b2](double predicted, double actual, double hits) {
            return (1.0 + b2) * hits / (b2 * actual + predicted + detail::ClassCounts::eps);
        });
    }

private:
    double beta_;
    detail::ClassCounts counts_;
};
class F1 : public Fbeta {
public:
    F1() : Fbeta(1.0) {}
};

// The fraction of samples whose label is among the k largest logits (ties: the lower class first).
class TopKCategoricalAccuracy {
public:
    explicit TopKCategoricalAccuracy(std::size_t k) : k_(k) {
        if (k < 1) throw ConfigError("TopKCategoricalAccuracy: k must be at least 1, got 0");
    }
    void clear() noexcept { correct_ = total_ = 0; }
    void update(const Tensor& logits, const Labels& labels) {
        std::size_t classes = 0;
        detail::check_batch("TopKCategoricalAccuracy", logits, labels, classes);
        for (std::size_t n = 0; n < labels.size(); ++n) {
            const float* z = logits.data() + n * classes;
            const auto y = static_cast<std::size_t>(labels(n));
            // the label is in the top k when fewer than k classes rank before it
            std::size_t ahead = 0;
            for (std::size_t c = 0; c < classes; ++c) ahead += z[c] > z[y] || (z[c] == z[y] && c < y);
            correct_ += ahead < k_;
        }
        total_ += labels.size();
    }
    MetricValue eval() const {
        if (total_ == 0) detail::throw_no_samples("TopKCategoricalAccuracy");
        return static_cast<double>(correct_) / static_cast<double>(total_);
    }

private:
    std::size_t k_;
    std::size_t correct_ = 0, total_ = 0;
};
class Top1CategoricalAccuracy : public TopKCategoricalAccuracy {
public:
    Top1CategoricalAccuracy() : TopKCategoricalAccuracy(1) {}
};
class Top5CategoricalAccuracy : public TopKCategoricalAccuracy {
public:
    Top5CategoricalAccuracy() : TopKCategoricalAccuracy(5) {}
};

}  // namespace metrics

// A metric of any type with its name, as an entry of Model's metrics (MindSpore's dict of metrics). A value:
// a copy has a state of its own.
class NamedMetric {
public:
    template <metrics::Metric M>
    NamedMetric(std::string name, M metric) : name_(std::move(name)), self_(std::make_unique<Holder<M>>(std::move(metric))) {}
    NamedMetric(const NamedMetric& o) : name_(o.name_), self_(o.self_->clone()) {}
    NamedMetric(NamedMetric&&) noexcept = default;
    NamedMetric& operator=(const NamedMetric& o) { return *this = NamedMetric(o); }
    NamedMetric& operator=(NamedMetric&&) noexcept = default;

    const std::string& name() const noexcept { return name_; }
    // True for a metric fed the loss (metrics::Loss), which a Model without a loss function cannot give it.
    bool needs_loss() const noexcept { return self_->needs_loss(); }
    void clear() { self_->clear(); }
    void update(const Tensor& logits, const Labels& labels, double loss) { self_->update(logits, labels, loss); }
    MetricValue eval() const { return self_->eval(); }

private:
    struct Concept {
        virtual ~Concept() = default;
        virtual void clear() = 0;
        virtual void update(const Tensor&, const Labels&, double) = 0;
        virtual MetricValue eval() const = 0;
        virtual bool needs_loss() const noexcept = 0;
        virtual std::unique_ptr<Concept> clone() const = 0;
    };
    template <class M>
    struct Holder final : Concept {
        explicit Holder(M m) : metric(std::move(m)) {}
        void clear() override { metric.clear(); }
        void update(const Tensor& logits, const Labels& labels, double loss) override {
            if constexpr (metrics::ClassMetric<M>) metric.update(logits, labels);
            else metric.update(loss);
        }
        MetricValue eval() const override { return metric.eval(); }
        bool needs_loss() const noexcept override { return !metrics::ClassMetric<M>; }
        std::unique_ptr<Concept> clone() const override { return std::make_unique<Holder>(metric); }
        M metric;
    };
    std::string name_;
    std::unique_ptr<Concept> self_;
};

// MindSpore's metric names (mindspore.train.names()) that take no argument, as Model(..., {"accuracy"}) takes them.
inline NamedMetric get_metric_fn(std::string_view name) {
    const std::string n(name);
    if (name == "accuracy" || name == "acc") return {n, metrics::Accuracy{}};
    if (name == "loss") return {n, metrics::Loss{}};
    if (name == "precision") return {n, metrics::Precision{}};
    if (name == "recall") return {n, metrics::Recall{}};
    if (name == "F1") return {n, metrics::F1{}};
    if (name == "top_1_accuracy") return {n, metrics::Top1CategoricalAccuracy{}};
    if (name == "top_5_accuracy") return {n, metrics::Top5CategoricalAccuracy{}};
    throw ConfigError("get_metric_fn: unsupported metric '" + n +
                      "'; by name: accuracy, acc, loss, precision, recall, F1, top_1_accuracy, top_5_accuracy "
                      "(or give a metric object, e.g. {\"top3\", metrics::TopKCategoricalAccuracy(3)})");
}

// The metrics a Model evaluates, by MindSpore's names ({"accuracy", "loss"}) or as named objects
// ({{"top3", metrics::TopKCategoricalAccuracy(3)}}, a user's metric included).
class Metrics {
public:
    Metrics() = default;
    Metrics(std::initializer_list<std::string_view> names) {
        for (const auto n : names) add(get_metric_fn(n));
    }
    Metrics(std::initializer_list<NamedMetric> metrics) {
        for (const auto& m : metrics) add(m);
    }
    void add(NamedMetric m) {
        for (const auto& have : metrics_)
            if (have.name() == m.name()) throw ConfigError("metrics: '" + m.name() + "' is given twice");
        metrics_.push_back(std::move(m));
    }
    bool empty() const noexcept { return metrics_.empty(); }
    auto begin() noexcept { return metrics_.begin(); }
    auto end() noexcept { return metrics_.end(); }
    auto begin() const noexcept { return metrics_.begin(); }
    auto end() const noexcept { return metrics_.end(); }

private:
    std::vector<NamedMetric> metrics_;
};

// Metric results by name in the order asked for; prints as MindSpore's eval dict: {'accuracy': 0.9868}.
struct MetricResults {
    std::vector<std::pair<std::string, MetricValue>> values;

    const MetricValue* find(std::string_view name) const noexcept {
        for (const auto& [n, v] : values)
            if (n == name) return &v;
        return nullptr;
    }
    const MetricValue& at(std::string_view name) const {
        if (const auto* v = find(name)) return *v;
        throw ConfigError("no metric named '" + std::string(name) + "' was evaluated");
    }
    friend std::ostream& operator<<(std::ostream& os, const MetricResults& r) {
        os << '{';
        for (std::size_t i = 0; i < r.values.size(); ++i) os << (i ? ", '" : "'") << r.values[i].first << "': " << r.values[i].second;
        return os << '}';
    }
};

}  // namespace mindsave
