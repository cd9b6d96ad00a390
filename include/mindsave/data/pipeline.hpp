// MindSpore's dataset pipeline over a sample source: map, shuffle, take, repeat, shard, split and batch.
// The batched result models mindsave::Dataset; an epoch's order depends only on (seed, epoch).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/rng.hpp"
#include "mindsave/core/tensor.hpp"
#include "mindsave/data/preprocess.hpp"
#include "mindsave/data/source.hpp"
#include "mindsave/data/transforms.hpp"

namespace mindsave::data {

namespace detail {

inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
// The generator seed of one random step in one epoch: a hash of all three, so nearby seeds and
// epochs give unrelated orders.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t epoch, std::uint64_t step) noexcept {
    return splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ step);
}

// MindSpore's shuffle(buffer_size): fill a buffer, emit a random slot, refill it with the next
// element; once the input is exhausted the buffer drains the same way. Works in place on order:
// the write position never passes the read position.
inline void buffer_shuffle(std::vector<std::uint32_t>& order, std::size_t buffer_size, Generator& g,
                           std::vector<std::uint32_t>& buffer) {
    const std::size_t n = order.size(), b = std::min(buffer_size, n);
    if (b <= 1) return;
    buffer.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(b));
    std::size_t read = b, write = 0, live = b;
    while (live > 0) {
        const auto slot = static_cast<std::size_t>(g.below(live));
        order[write++] = buffer[slot];
        buffer[slot] = read < n ? order[read++] : buffer[--live];
    }
}

// MindSpore's DistributedSampler for one shard of an epoch's order: ceil(n / num_shards) samples, the
// k-th being order[(k * num_shards + shard_id) mod n], so the last shards wrap to the start when n is
// not a multiple (every shard has the same count, as every rank must run the same number of steps).
// With shuffle, order is first permuted by (seed, epoch), the same permutation on every shard.
inline void take_shard(std::vector<std::uint32_t>& order, std::size_t num_shards, std::size_t shard_id,
                       std::vector<std::uint32_t>& buffer) {
    const std::size_t n = order.size();
    if (n == 0) return;
    const std::size_t per = (n + num_shards - 1) / num_shards;
    buffer.resize(per);
    for (std::size_t k = 0; k < per; ++k) buffer[k] = order[(k * num_shards + shard_id) % n];
    order.swap(buffer);
}

// Which samples a pipeline visits, in what order: a base subset (from split), then take, shuffle,
// shard and repeat steps in call order. Sample data is shared and never copied.
class SampleOrder {
public:
    struct Step {
        enum Kind : std::uint8_t { take, shuffle, shard, repeat, draw } kind;
        // take: samples kept; shuffle: buffer size; shard: num_shards; repeat: times; draw: samples drawn
        std::size_t count;
        std::uint64_t seed = 0;
        std::size_t shard_id = 0;
        bool shuffle_shards = false;
    };

    explicit SampleOrder(std::shared_ptr<const SampleSource> source) : source_(std::move(source)) {
        if (source_->size() > std::numeric_limits<std::uint32_t>::max())
            throw ShapeError("a pipeline holds at most 2^32-1 samples, got " + std::to_string(source_->size()));
    }

    const SampleSource& source() const noexcept { return *source_; }
    const std::shared_ptr<const SampleSource>& source_ptr() const noexcept { return source_; }

    std::size_t size() const noexcept {
        std::size_t n = subset_ ? subset_->size() : source_->size();
        for (const Step& s : steps_) {
            if (s.kind == Step::take) n = std::min(n, s.count);
            else if (s.kind == Step::shard) n = (n + s.count - 1) / s.count;
            else if (s.kind == Step::repeat) n *= s.count;
            else if (s.kind == Step::draw) n = std::min(n, s.count);
        }
        return n;
    }
    bool shuffled() const noexcept {
        return std::any_of(steps_.begin(), steps_.end(), [](const Step& s) {
            return s.kind == Step::shuffle || s.kind == Step::draw || (s.kind == Step::shard && s.shuffle_shards);
        });
    }
    // Samples per epoch counting each index once (less than size() after repeat or a wrapping shard).
    std::size_t distinct_size() const {
        std::vector<std::uint32_t> order, buffer;
        fill(0, order, buffer);
        std::sort(order.begin(), order.end());
        return static_cast<std::size_t>(std::unique(order.begin(), order.end()) - order.begin());
    }

    SampleOrder then(Step step) const {
        SampleOrder o = *this;
        o.steps_.push_back(step);
        return o;
    }
    SampleOrder subset(std::shared_ptr<const std::vector<std::uint32_t>> indices) const {
        SampleOrder o(source_);
        o.subset_ = std::move(indices);
        return o;
    }

    // The sample indices of one epoch; both vectors keep their capacity between epochs (a repeat
    // step builds its copies in a vector of its own).
    void fill(std::size_t epoch, std::vector<std::uint32_t>& order, std::vector<std::uint32_t>& buffer) const {
        fill_until(steps_.size(), epoch, order, buffer);
    }

private:
    // The order after steps [0, end): a repeat step concatenates the order before it, drawn for
    // `times` consecutive sub-epochs, so each repetition of a shuffled stage is shuffled anew.
    void fill_until(std::size_t end, std::uint64_t epoch, std::vector<std::uint32_t>& order,
                    std::vector<std::uint32_t>& buffer) const {
        std::size_t first = 0;
        for (std::size_t i = end; i-- > 0;)
            if (steps_[i].kind == Step::repeat) {
                std::vector<std::uint32_t> part;
                order.clear();
                for (std::size_t r = 0; r < steps_[i].count; ++r) {
                    fill_until(i, epoch * steps_[i].count + r, part, buffer);
                    order.insert(order.end(), part.begin(), part.end());
                }
                first = i + 1;
                break;
            }
        if (first == 0) {
            if (subset_) {
                order.assign(subset_->begin(), subset_->end());
            } else {
                order.resize(source_->size());
                std::iota(order.begin(), order.end(), std::uint32_t{0});
            }
        }
        for (std::size_t i = first; i < end; ++i) {
            const Step& s = steps_[i];
            if (s.kind == Step::take) {
                if (order.size() > s.count) order.resize(s.count);
            } else if (s.kind == Step::shuffle) {
                Generator g(mix_seed(s.seed, epoch, i));
                buffer_shuffle(order, s.count, g, buffer);
            } else if (s.kind == Step::shard) {
                if (s.shuffle_shards) {
                    Generator g(mix_seed(s.seed, epoch, i));
                    for (std::size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[g.below(k)]);
                }
                take_shard(order, s.count, s.shard_id, buffer);
            } else if (s.kind == Step::draw && !order.empty()) {
                Generator g(mix_seed(s.seed, epoch, i));
                buffer.resize(std::min(s.count, order.size()));
                for (auto& b : buffer) b = order[g.below(order.size())];
                order.swap(buffer);
            }
        }
    }

    std::shared_ptr<const SampleSource> source_;
    std::shared_ptr<const std::vector<std::uint32_t>> subset_;  // null: every sample, in source order
    std::vector<Step> steps_;
};

// MindSpore's split sizes from fractions: round each (half to even, as Python's round), give a
// shortfall to the first split, take an excess from the first split that can afford it.
inline std::vector<std::size_t> split_sizes(std::span<const double> fractions, std::size_t n) {
    double sum = 0;
    for (double f : fractions) {
        if (!(f > 0.0 && f <= 1.0))
            throw ConfigError("split() fractions must lie in (0, 1], got " + std::to_string(f));
        sum += f;
    }
    if (std::abs(sum - 1.0) > 1e-6) throw ConfigError("split() fractions must sum to 1, they sum to " + std::to_string(sum));
    std::vector<std::size_t> sizes;
    std::ptrdiff_t total = 0;
    for (double f : fractions) {
        const auto s = static_cast<std::ptrdiff_t>(std::nearbyint(f * static_cast<double>(n)));
        if (s == 0)
            throw ConfigError("split() fraction " + std::to_string(f) + " of " + std::to_string(n) +
                              " samples gives an empty split");
        sizes.push_back(static_cast<std::size_t>(s));
        total += s;
    }
    const std::ptrdiff_t diff = static_cast<std::ptrdiff_t>(n) - total;
    if (diff > 0) {
        sizes[0] += static_cast<std::size_t>(diff);
    } else if (diff < 0) {
        for (auto& s : sizes)
            if (static_cast<std::ptrdiff_t>(s) + diff > 0) {
                s = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(s) + diff);
                break;
            }
    }
    return sizes;
}

// Chain<In, Ts...>: the images the transforms fill in turn (input first) and the final element type.
template <class In, class... Ts>
struct Chain {
    using images = std::tuple<Image<In>>;
    using out = In;
};
template <class In, class T, class... Rest>
struct Chain<In, T, Rest...> {
    using next = Chain<typename T::template output_t<In>, Rest...>;
    using images = decltype(std::tuple_cat(std::declval<std::tuple<Image<In>>>(),
                                           std::declval<typename next::images>()));
    using out = typename next::out;
};

// True when each transform accepts what the one before it produces, and the end is a number.
template <class In, class T, class... Rest>
constexpr bool chain_valid_from();
template <class In, class... Ts>
constexpr bool chain_valid() {
    if constexpr (sizeof...(Ts) == 0) return std::is_arithmetic_v<In>;
    else return chain_valid_from<In, Ts...>();
}
template <class In, class T, class... Rest>
constexpr bool chain_valid_from() {
    if constexpr (!TransformOn<T, In>) return false;
    else return chain_valid<typename T::template output_t<In>, Rest...>();
}

// Each transform's MindSpore operation, grouped by map() call; a transform without one is an error.
template <class... Ts>
std::vector<PreprocessStage> describe_stages(const std::tuple<Ts...>& transforms, const std::vector<std::size_t>& maps) {
    std::vector<PreprocessOp> ops;
    std::size_t index = 0;
    const auto describe = [&](const auto& t) {
        using T = std::remove_cvref_t<decltype(t)>;
        if constexpr (DescribedTransform<T>) {
            ops.push_back(t.mindspore_op());
        } else {
            throw ConfigError("map() operation " + std::to_string(index) +
                              " is not a MindSpore operation (it has no mindspore_op()), so the pipeline cannot be "
                              "stored with the model; export without the dataset, or use MindSpore's transforms");
        }
        ++index;
    };
    std::apply([&](const auto&... t) { (describe(t), ...); }, transforms);
    std::vector<PreprocessStage> stages;
    std::size_t next = 0;
    for (const std::size_t n : maps) {
        PreprocessStage s;
        s.operations.assign(ops.begin() + static_cast<std::ptrdiff_t>(next), ops.begin() + static_cast<std::ptrdiff_t>(next + n));
        next += n;
        stages.push_back(std::move(s));
    }
    return stages;
}

}  // namespace detail

template <class... Ts>
class BatchDataset;

// A recipe: which samples, in what order, through which transforms. Every call returns a new
// recipe and leaves this one unchanged; batch() makes the iterable dataset.
template <class... Ts>
class Pipeline {
public:
    explicit Pipeline(SampleArrays samples) : order_(std::make_shared<const ArraySource>(std::move(samples))) {}
    explicit Pipeline(std::shared_ptr<const SampleSource> source) : order_(check_source(std::move(source))) {}

    const SampleSource& source() const noexcept { return order_.source(); }
    // Samples per epoch (MindSpore's get_dataset_size of an unbatched dataset).
    std::size_t get_dataset_size() const noexcept { return order_.size(); }

    // Applies transforms to every image, in order (MindSpore's map(operations, input_columns="image")).
    template <class... Us>
    Pipeline<Ts..., Us...> map(Us... transforms) const {
        static_assert(sizeof...(Us) > 0, "map() needs at least one transform");
        static_assert(detail::chain_valid<std::uint8_t, Ts..., Us...>(),
                      "map() takes image transforms such as vision::Resize, vision::Rescale, vision::HWC2CHW "
                      "and transforms::TypeCast<T>; one argument is not a transform, or does not accept the "
                      "image type the transform before it produces. A transform T has a member template "
                      "output_t<In> and operator()(const Image<In>&, Image<output_t<In>>&).");
        std::vector<std::size_t> maps = maps_;
        maps.push_back(sizeof...(Us));
        return Pipeline<Ts..., Us...>(order_, std::tuple_cat(transforms_, std::tuple<Us...>(std::move(transforms)...)),
                                      std::move(maps));
    }

    // The map() calls as MindSpore serializes them (one stage per call), for export with a dataset.
    std::vector<PreprocessStage> preprocess_stages() const { return detail::describe_stages(transforms_, maps_); }

    // The source's sample indices that epoch visits, in order (which files a split or shard holds).
    std::vector<std::uint32_t> indices(std::size_t epoch = 0) const {
        std::vector<std::uint32_t> order, buffer;
        order_.fill(epoch, order, buffer);
        return order;
    }

    // MindSpore's buffer shuffle; buffer_size >= the sample count gives a full uniform shuffle.
    // Each epoch draws a new order from (seed, epoch).
    Pipeline shuffle(std::size_t buffer_size, std::uint64_t seed = 0) const {
        if (buffer_size == 0) throw ConfigError("shuffle() buffer_size must be at least 1");
        return Pipeline(order_.then({detail::SampleOrder::Step::shuffle, buffer_size, seed}), transforms_, maps_);
    }

    // The first count samples of each epoch (after any shuffle before it).
    Pipeline take(std::size_t count) const {
        return Pipeline(order_.then({detail::SampleOrder::Step::take, count, 0}), transforms_, maps_);
    }

    // Each epoch visits the samples so far `count` times (MindSpore's repeat); steps before it that
    // shuffle draw a new order for every repetition.
    Pipeline repeat(std::size_t count) const {
        if (count == 0) throw ConfigError("repeat() count must be at least 1");
        return Pipeline(order_.then({detail::SampleOrder::Step::repeat, count}), transforms_, maps_);
    }

    // This process's part of the samples when num_shards processes share them (MindSpore's
    // num_shards / shard_id, its DistributedSampler): ceil(n / num_shards) samples, shard k taking
    // every num_shards-th sample from position k, wrapping to the start to fill the last round. With
    // shuffle, every shard first permutes the samples by (seed, epoch) alike, so the shards of one
    // epoch still partition the data.
    Pipeline shard(std::size_t num_shards, std::size_t shard_id, bool shuffle = false, std::uint64_t seed = 0) const {
        if (num_shards == 0) throw ConfigError("num_shards must be at least 1");
        if (shard_id >= num_shards)
            throw ConfigError("shard_id " + std::to_string(shard_id) + " is out of range for num_shards " +
                              std::to_string(num_shards) + " (shard ids run from 0 to num_shards - 1)");
        return Pipeline(order_.then({detail::SampleOrder::Step::shard, num_shards, seed, shard_id, shuffle}), transforms_, maps_);
    }

    // Splits into N parts of the given fractions (MindSpore's split): sizes rounded to sum to the
    // sample count; randomize permutes the samples once, by seed, before cutting. Parts are
    // disjoint and keep the transforms; split before shuffling so parts stay fixed across epochs.
    template <std::size_t N>
    std::array<Pipeline, N> split(const double (&fractions)[N], bool randomize = true, std::uint64_t seed = 0) const {
        static_assert(N >= 1, "split() needs at least one fraction");
        if (order_.shuffled())
            throw ConfigError("split() after shuffle() would give parts that overlap across epochs; "
                              "split first, then shuffle each part");
        if (order_.size() != order_.distinct_size())
            throw ConfigError("split() after repeat() or a wrapping shard would put one sample in two parts; "
                              "split first, then repeat each part");
        std::vector<std::uint32_t> indices, scratch;
        order_.fill(0, indices, scratch);
        const auto sizes = detail::split_sizes(fractions, indices.size());
        if (randomize) {
            Generator g(detail::mix_seed(seed, 0, 0x73706c6974ull));  // "split"
            for (std::size_t i = indices.size(); i > 1; --i) std::swap(indices[i - 1], indices[g.below(i)]);
        }
        return make_parts(indices, sizes, std::make_index_sequence<N>{});
    }

    // Groups samples into batches; without drop_remainder the last batch of an epoch may be short.
    BatchDataset<Ts...> batch(std::size_t batch_size, bool drop_remainder = false) const {
        if (batch_size == 0) throw ConfigError("batch() batch_size must be at least 1");
        return BatchDataset<Ts...>(order_, transforms_, maps_, batch_size, drop_remainder);
    }

protected:
    template <class...>
    friend class Pipeline;

    // count samples drawn with replacement, anew each epoch from (seed, epoch): MindSpore's
    // RandomSampler(replacement=True, num_samples), which a shuffled source with num_samples uses.
    Pipeline draw(std::size_t count, std::uint64_t seed) const {
        return Pipeline(order_.then({detail::SampleOrder::Step::draw, count, seed}), transforms_, maps_);
    }

    Pipeline(detail::SampleOrder order, std::tuple<Ts...> transforms, std::vector<std::size_t> maps)
        : order_(std::move(order)), transforms_(std::move(transforms)), maps_(std::move(maps)) {}

private:
    static std::shared_ptr<const SampleSource> check_source(std::shared_ptr<const SampleSource> source) {
        if (!source) throw ConfigError("a Pipeline needs a sample source, got a null pointer");
        return source;
    }

    template <std::size_t... I>
    std::array<Pipeline, sizeof...(I)> make_parts(const std::vector<std::uint32_t>& indices,
                                                  const std::vector<std::size_t>& sizes,
                                                  std::index_sequence<I...>) const {
        std::array<std::size_t, sizeof...(I) + 1> start{};
        for (std::size_t i = 0; i < sizes.size(); ++i) start[i + 1] = start[i] + sizes[i];
        auto part = [&](std::size_t i) {
            auto subset = std::make_shared<const std::vector<std::uint32_t>>(
                indices.begin() + static_cast<std::ptrdiff_t>(start[i]),
                indices.begin() + static_cast<std::ptrdiff_t>(start[i + 1]));
            return Pipeline(order_.subset(std::move(subset)), transforms_, maps_);
        };
        return {part(I)...};
    }

    detail::SampleOrder order_;
    std::tuple<Ts...> transforms_;
    std::vector<std::size_t> maps_;  // transforms per map() call, in order
};

// Batches of a pipeline: images [N, C, H, W] float32 (or [N, H, W, C] without HWC2CHW) and
// Int32 labels. Models mindsave::Dataset; next() reuses the Batch's buffers, and after the first
// batch of a shape neither the dataset nor the batch allocates again.
template <class... Ts>
class BatchDataset {
public:
    // The map() calls as MindSpore serializes them (one stage per call), for export with a dataset.
    std::vector<PreprocessStage> preprocess_stages() const { return detail::describe_stages(transforms_, maps_); }

    // Batches per epoch.
    std::size_t get_dataset_size() const noexcept {
        const std::size_t n = order_.size();
        return repeat_ * std::min(max_batches_, drop_remainder_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_);
    }
    std::size_t batch_size() const noexcept { return batch_size_; }

    // The first count batches of each epoch (MindSpore's take after batch), for short runs.
    BatchDataset take(std::size_t count) const {
        if (repeat_ > 1) throw ConfigError("take() after repeat() on batches is not supported; take first, then repeat");
        BatchDataset d = *this;
        d.max_batches_ = std::min(max_batches_, count);
        return d;
    }

    // Each epoch runs the batches `count` times (MindSpore's repeat after batch): repetition r of
    // epoch e is the batched pipeline's epoch e * count + r, so shuffles differ between repetitions.
    BatchDataset repeat(std::size_t count) const {
        if (count == 0) throw ConfigError("repeat() count must be at least 1");
        BatchDataset d = *this;
        d.repeat_ *= count;
        return d;
    }

    // Starts epoch `epoch`: its order is drawn from (seed, epoch) alone, so a run can resume mid-way.
    void reset(std::size_t epoch) {
        epoch_ = epoch;
        repetition_ = 0;
        start_repetition();
        started_ = true;
    }

    // Fills the next batch of the epoch; false at its end. Starts epoch 0 if reset() was not called.
    bool next(Batch& batch) {
        if (!started_) reset(0);
        while (repetition_ + 1 < repeat_ && repetition_done()) {
            ++repetition_;
            start_repetition();
        }
        if (repetition_done()) return false;
        const std::size_t left = epoch_order_.size() - position_;
        const std::size_t n = std::min(batch_size_, left);
        const SampleSource& source = order_.source();
        auto& input = std::get<0>(stages_);
        const auto& output = std::get<sizeof...(Ts)>(stages_);
        std::size_t h = 0, w = 0, c = 0, per = 0;
        Layout layout = Layout::HWC;
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint32_t i = epoch_order_[position_ + k];
            if (position_ + k + 2 < epoch_order_.size()) source.prefetch(epoch_order_[position_ + k + 2]);
            source.read(i, input);
            run(detail::mix_seed(inner_epoch(), position_ + k, 0x6d6170ull), std::index_sequence_for<Ts...>{});  // "map"
            if (output.encoded())
                throw ShapeError("a batch of images that are still encoded (a file's bytes); map vision::Decode() "
                                 "and a vision::Resize before batch()");
            if (k == 0) {
                h = output.height, w = output.width, c = output.channels, layout = output.layout;
                per = output.size();
                if (layout == Layout::CHW) ensure_shape(batch.images, std::array<std::size_t, 4>{n, c, h, w});
                else ensure_shape(batch.images, std::array<std::size_t, 4>{n, h, w, c});
                if (batch.labels.size() != n) batch.labels.resize(std::array<std::size_t, 1>{n});
            } else if (output.height != h || output.width != w || output.channels != c || output.layout != layout) {
                throw ShapeError("map() produced images of different shapes within one batch (" + std::to_string(h) +
                                 "x" + std::to_string(w) + "x" + std::to_string(c) + " and " +
                                 std::to_string(output.height) + "x" + std::to_string(output.width) + "x" +
                                 std::to_string(output.channels) + "); add a vision::Resize or vision::CenterCrop");
            }
            std::copy(output.data.begin(), output.data.end(), batch.images.data() + k * per);
            batch.labels(k) = source.label(i);
        }
        position_ += n;
        ++batches_;
        return true;
    }

private:
    template <class...>
    friend class Pipeline;

    BatchDataset(detail::SampleOrder order, std::tuple<Ts...> transforms, std::vector<std::size_t> maps,
                 std::size_t batch_size, bool drop)
        : order_(std::move(order)), transforms_(std::move(transforms)), maps_(std::move(maps)), batch_size_(batch_size),
          drop_remainder_(drop) {}

    std::size_t inner_epoch() const noexcept { return epoch_ * repeat_ + repetition_; }
    void start_repetition() {
        order_.fill(inner_epoch(), epoch_order_, shuffle_buffer_);
        position_ = 0;
        batches_ = 0;
    }
    bool repetition_done() const noexcept {
        const std::size_t left = epoch_order_.size() - position_;
        return left == 0 || batches_ >= max_batches_ || (drop_remainder_ && left < batch_size_);
    }

    // Runs the transforms in turn; a random one gets a seed of its own from the sample's seed.
    template <std::size_t... I>
    void run([[maybe_unused]] std::uint64_t sample_seed, std::index_sequence<I...>) {
        (apply<I>(sample_seed), ...);
    }
    template <std::size_t I>
    void apply(std::uint64_t sample_seed) {
        auto& t = std::get<I>(transforms_);
        using In = typename std::tuple_element_t<I, decltype(stages_)>::value_type;
        if constexpr (RandomTransformOn<std::tuple_element_t<I, std::tuple<Ts...>>, In>)
            t(std::get<I>(stages_), std::get<I + 1>(stages_), detail::splitmix64(sample_seed ^ I));
        else
            t(std::get<I>(stages_), std::get<I + 1>(stages_));
    }

    detail::SampleOrder order_;
    std::tuple<Ts...> transforms_;
    std::vector<std::size_t> maps_;
    std::size_t batch_size_;
    bool drop_remainder_;
    std::size_t max_batches_ = std::numeric_limits<std::size_t>::max();
    typename detail::Chain<std::uint8_t, Ts...>::images stages_;  // one reused image per stage
    std::vector<std::uint32_t> epoch_order_, shuffle_buffer_;
    std::size_t repeat_ = 1, epoch_ = 0, repetition_ = 0, position_ = 0, batches_ = 0;
    bool started_ = false;
};

}  // namespace mindsave::data
