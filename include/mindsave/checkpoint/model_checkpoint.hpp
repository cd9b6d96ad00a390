// ModelCheckpoint as MindSpore's callback: {prefix}-{epoch}_{step}.ckpt files during training, the _N
// prefix for a new run in the same folder, retention that never deletes before the new file is durable,
// async saves read in place from an optimizer writing aside, and a _breakpoint checkpoint when training throws.
// In a data-parallel run each rank writes rank_{r}/ and rank 0 commits each step with a manifest.
#pragma once

#include <signal.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <tuple>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mindsave/checkpoint/async_writer.hpp"
#include "mindsave/checkpoint/config.hpp"
#include "mindsave/checkpoint/export.hpp"
#include "mindsave/checkpoint/group_commit.hpp"
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/checkpoint/train_network.hpp"
#include "mindsave/checkpoint/trigger.hpp"
#include "mindsave/core/aside_lease.hpp"
#include "mindsave/core/concepts.hpp"
#include "mindsave/core/record_views.hpp"
#include "mindsave/formats/ckpt.hpp"
#include "mindsave/formats/concepts.hpp"
#include "mindsave/graph/anf_meta.hpp"
#include "mindsave/io/cipher.hpp"
#include "mindsave/io/signal_request.hpp"

namespace mindsave {

// How much a ModelCheckpoint held up training. blocked: the saves themselves (for async saves, the copy of
// what is not read in place and any wait for an earlier writer; for sync saves, the whole write).
// optimizer_waited: with an optimizer writing aside, the time its steps waited for a writer still reading
// the memory they were to write, in total. last_copied_bytes / last_in_place_bytes: what the last async
// save copied on the training thread (statistics, scalars) and what its writer reads in place.
struct CheckpointStats {
    std::size_t saves = 0;
    std::chrono::nanoseconds blocked_total{};
    std::chrono::nanoseconds blocked_max{};
    std::chrono::nanoseconds last_blocked{};
    std::chrono::nanoseconds optimizer_waited{};
    std::size_t last_copied_bytes = 0;
    std::size_t last_in_place_bytes = 0;
};

// The extension of the training graph MindSpore writes beside the checkpoints ({prefix}-graph.meta).
inline constexpr std::string_view graph_meta_extension = ".meta";

namespace detail {

inline bool has_letter(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isalpha(c) != 0; });
}

// MindSpore's _N rule: a folder holding prefix-... (and prefix_K-...) files gives this run prefix_N.
inline std::string run_prefix(const std::filesystem::path& dir, const std::string& prefix, bool breakpoints,
                              std::string_view ext) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (!name.ends_with(ext) || name.ends_with(std::string("_breakpoint") + std::string(ext)) != breakpoints)
            continue;
        if (!name.starts_with(prefix) || name.size() == prefix.size()) continue;
        const std::string rest = name.substr(prefix.size());
        if (std::isalpha(static_cast<unsigned char>(rest[0]))) continue;
        if (rest[0] == '-') {
            n = std::max<std::size_t>(n, 1);
        } else if (rest[0] == '_') {
            const auto dash = rest.find('-');
            const std::string digits = rest.substr(1, dash == std::string::npos ? 0 : dash - 1);
            if (!digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                digits.size() < 18)
                n = std::max<std::size_t>(n, std::stoull(digits) + 1);
        }
    }
    return n > 0 ? prefix + "_" + std::to_string(n) : prefix;
}

// Temp files a crashed writer left ("<name><extension>.<pid>-<k>.tmp" of a pid no longer alive) are
// removed, for the files ending in one of extensions (the checkpoint format's, the graph's .meta).
inline void remove_stray_temp_files(const std::filesystem::path& dir, std::initializer_list<std::string_view> extensions) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (!name.ends_with(io::AtomicFile::temp_suffix)) continue;
        // only "<file><extension>.<pid>-<k>.tmp"
        const auto stem = name.substr(0, name.size() - std::string_view(io::AtomicFile::temp_suffix).size());
        const auto dot = stem.rfind('.'), dash = stem.rfind('-');
        if (dot == std::string::npos || dash == std::string::npos || dash < dot) continue;
        const std::string pid = stem.substr(dot + 1, dash - dot - 1), counter = stem.substr(dash + 1);
        const std::string_view target = std::string_view(stem).substr(0, dot);
        auto digits = [](const std::string& d) {
            return !d.empty() && d.size() <= 9 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
        };
        if (!digits(pid) || !digits(counter) ||
            std::none_of(extensions.begin(), extensions.end(), [&](std::string_view ext) { return target.ends_with(ext); }))
            continue;
        const auto id = static_cast<pid_t>(std::stol(pid));
        if (id != ::getpid() && ::kill(id, 0) != 0 && errno == ESRCH) std::filesystem::remove(e.path(), ec);
    }
}

}  // namespace detail

// In a data-parallel run (Model::set_data_parallel; the RunContext's group) of N > 1 ranks, each rank writes
// {directory}/rank_{r}/{prefix}-{epoch}_{step}.ckpt (rank 0's run prefix for all), and a step is committed
// only once every rank's file is durable: the ranks report (size, CRC-32 or the error) to all, rank 0 writes
// {directory}/{prefix}-{epoch}_{step}.manifest atomically, and only then are older steps dropped (rank 0
// decides, every rank deletes its own files). A rank's failure is an error on every rank, with no manifest.
// latest_checkpoint(directory) then gives each rank its file of the newest committed step.
template <WritableFormat Format = format::ckpt, SaveTrigger Trigger = trigger::from_config,
          class Clock = std::chrono::steady_clock>
class ModelCheckpoint {
public:
    explicit ModelCheckpoint(std::string prefix = "CKP", std::filesystem::path directory = {},
                             CheckpointConfig config = {})
        : config_(std::move(config)), policy_(config_.policy()),
          directory_(directory.empty() ? std::filesystem::current_path() : std::move(directory)) {
        if (prefix.empty() || prefix.find('/') != std::string::npos)
            throw ConfigError("For 'ModelCheckpoint', the argument 'prefix' for checkpoint file name is invalid, it "
                              "must be a string that does not contain '/', but got '" + prefix + "'");
        if constexpr (!requires(typename Format::WriteOptions w) { w.enc_key; })
            if (!config_.enc_key.empty())
                throw ConfigError("ModelCheckpoint<" + std::string(Format::extension) + ">: enc_key encrypts .ckpt and "
                                  "MindIR files only, as MindSpore's; this format has no encrypted form");
        if (!config_.enc_key.empty()) {  // a bad key or mode, or no cipher, is said now, not at the first save
            [[maybe_unused]] const CipherKey checked(config_.enc_key, config_.enc_mode, "CheckpointConfig");
            detail::require_cipher("CheckpointConfig");
        }
        if constexpr (ModelFormat<Format>)
            if (config_.saved_network || !policy_.append_dict.empty() || policy_.append_epoch_num || policy_.append_step_num)
                throw ConfigError("ModelCheckpoint<" + std::string(Format::extension) + ">: a model file holds the "
                                  "trained network's weights only; saved_network and append_info need a checkpoint "
                                  "format (format::ckpt) beside it");
        std::error_code ec;
        std::filesystem::create_directories(directory_, ec);
        if (!std::filesystem::is_directory(directory_))
            throw FileError(directory_, "cannot create the checkpoint directory: " + ec.message());
        detail::remove_stray_temp_files(directory_, {Format::extension, graph_meta_extension});
        files_directory_ = directory_;
        base_prefix_ = prefix;
        prefix_ = detail::run_prefix(directory_, prefix, false, Format::extension);
        trigger_.configure(policy_, Clock::now());
    }
    ModelCheckpoint(const ModelCheckpoint&) = delete;
    ModelCheckpoint& operator=(const ModelCheckpoint&) = delete;

    const std::string& prefix() const noexcept { return prefix_; }
    const std::filesystem::path& directory() const noexcept { return directory_; }
    // Where this process's files go: directory(), or directory()/rank_{r} in a data-parallel run.
    const std::filesystem::path& files_directory() const noexcept { return files_directory_; }
    const std::filesystem::path& latest_ckpt_file_name() const noexcept { return latest_; }
    const CheckpointStats& stats() const {
        if (optimizer_gate_) {
            std::lock_guard lock(optimizer_gate_->mutex);
            stats_.optimizer_waited = optimizer_gate_->waited;
        }
        return stats_;
    }

    // A resumed run counts save intervals from its first step. With async_save, the optimizer's second
    // buffers (when it writes aside) and the snapshot buffers for the rest are allocated and touched now,
    // in the background: the first save then faults no page in on the training thread.
    template <class Ctx>
    void on_train_begin(Ctx& ctx) {
        if constexpr (requires { ctx.group; })
            if (ctx.group && ctx.group->size() > 1) begin_distributed(*ctx.group);
        if (!config_.exception_save_signals.empty()) signals_.install(config_.exception_save_signals, "ModelCheckpoint");
        if (ctx.cur_step_num > 0) {  // a resumed run: steps are counted from where it stands, not from 0
            last_step_ = ctx.cur_step_num;
            trigger_.saved(trigger::Moment<Clock>{ctx.cur_step_num, Clock::now()});
        }
        if (!config_.async_save || !writes_files() || writer_.running() || !snapshots_[0].records.empty()) return;
        collect_aside_memory(ctx);
        std::vector<std::size_t> sizes;  // of the records a save copies
        std::size_t in_place = 0;
        with_views(ctx, [&](std::span<const RecordView> views) {
            for (const auto& v : views) {
                const bool held = held_aside(v);
                sizes.push_back(held ? 0 : v.data.size());
                in_place += held ? v.data.size() : 0;
            }
        });
        // With most bytes read in place, the small rest is copied into two buffer sets in turn, so a save
        // waits for the writer before the last one, not for the last one itself. When most is copied (a
        // frozen backbone, an optimizer that cannot write aside), one set, as memory is then the cost.
        std::size_t copied = 0;
        for (auto n : sizes) copied += n;
        snapshot_sets_ = in_place > copied ? 2 : 1;
        writer_.start([this, &opt = ctx.optimizer, sizes = std::move(sizes)](auto&&, auto&&) {
            if constexpr (WritesAside<std::remove_cvref_t<decltype(opt)>>) opt.reserve_aside_buffers();
            for (std::size_t k = 0; k < snapshot_sets_; ++k) {
                auto& records = snapshots_[k].records;
                records.resize(sizes.size());
                for (std::size_t i = 0; i < sizes.size(); ++i) records[i].data.assign(sizes[i], std::byte{0});
            }
        });
    }

    template <class Ctx>
    void on_train_step_begin(Ctx&) {
        // A failed background write surfaces on the training thread; in a group, at its step's commit, on every rank.
        if (!group_) writer_.rethrow_error();
    }

    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        write_graph_once(ctx);
        const trigger::Moment<Clock> now{ctx.cur_step_num, Clock::now()};
        bool due = ctx.cur_step_num != last_step_ && trigger_.due(now);
        auto sig = signals_.pending();
        std::string where;
        if (group_ && agree_each_step_) {  // rank 0's clock decides a timed save; a signal on any rank stops all
            const int fallback = config_.exception_save_signals.empty() ? SIGTERM : config_.exception_save_signals.front();
            const auto vote = group_.vote(due, sig, fallback);
            due = vote.due && ctx.cur_step_num != last_step_;
            sig = vote.signal;
            if (vote.signal_elsewhere) where = " on another rank";
            interrupted_by_group_ = sig.has_value();
        }
        if (due) save(ctx, file_name(ctx), now);
        if (sig) {  // the handler stays until the breakpoint save is done
            if (where.empty()) signals_.acknowledge();
            throw TrainingInterrupted(*sig, "training interrupted by " + detail::signal_label(*sig) + where +
                                                " after epoch " + std::to_string(ctx.cur_epoch_num) + " step " +
                                                std::to_string(ctx.step_in_epoch()) + "; exception_save writes its "
                                                "_breakpoint checkpoint to " + files_directory_.string());
        }
    }

    // The last step is always saved, unless it just was.
    template <class Ctx>
    void on_train_end(Ctx& ctx) {
        if (ctx.cur_step_num != last_step_ && ctx.cur_step_num > 0)
            save(ctx, file_name(ctx), {ctx.cur_step_num, Clock::now()});
        writer_.wait();
        commit_pending();
        signals_.release_and_redeliver();  // a signal during the last step or save: the handler from before
    }

    template <class Ctx>
    void on_train_exception(Ctx& ctx) {
        writer_.wait_quietly();
        writer_.forget_error();  // the training error is the one reported; don't replay this later
        // Every rank stopped at this step (an agreed signal): the group can still commit. Any other error may
        // have stopped this rank alone, so collectives could wait for ranks that are elsewhere.
        const bool together = group_ && interrupted_by_group_;
        if (together) {
            try {
                commit_pending();
            } catch (const Error&) {  // every rank knows the step failed; the interruption is what is reported
            }
        }
        pending_.reset();
        if (trigger_.saves_on_exception() && ctx.cur_step_num > 0) {
            std::string prefix;
            if (!together || group_.rank() == 0)
                prefix = detail::run_prefix(files_directory_, base_prefix_, true, Format::extension);
            if (together) prefix = group_.from_rank_0(prefix);
            const auto name = prefix + "-" + std::to_string(ctx.cur_epoch_num) + "_" +
                              std::to_string(ctx.step_in_epoch()) + "_breakpoint" + std::string(Format::extension);
            try {
                if (together) write_and_commit(ctx, files_directory_ / name, /*keep=*/false);
                else write_now(ctx, files_directory_ / name, /*keep=*/false);
            } catch (...) {
                signals_.release_and_redeliver();
                throw;
            }
        }
        signals_.release_and_redeliver();
    }

private:
    // What an async save's writer reads: records with copied bytes, or (in_place[i] not empty) the name,
    // dtype and shape of a tensor read in place from the optimizer's memory.
    struct Snapshot {
        std::vector<TensorRecord> records;
        std::vector<std::span<const std::byte>> in_place;
    };

    // {prefix}-graph.meta at the first step, as MindSpore writes it in graph mode; a network with
    // a layer the tracer does not know gets none (MindSpore's PyNative mode writes none either).
    template <class Ctx>
    void write_graph_once(Ctx& ctx) {
        using Net = std::remove_cvref_t<decltype(ctx.network)>;
        using Opt = std::remove_cvref_t<decltype(ctx.optimizer)>;
        if constexpr (graph::Traceable<Net>) {
            if (graph_written_ || !ctx.batch || !writes_files()) return;
            graph_written_ = true;
            auto train = train_network(ctx.network, ctx.optimizer);
            const auto& images = ctx.batch->images;
            const auto bytes = graph::training_graph_meta<Net>(
                train, cell_name<Net>, ctx.loss_name, cell_name<Opt>,
                Shape(images.shape().begin(), images.shape().end()), Shape{ctx.batch->labels.size()});
            graph::write_graph_meta(files_directory_ / (prefix_ + "-graph" + std::string(graph_meta_extension)), bytes);
        }
    }

    template <class Ctx>
    std::filesystem::path file_name(const Ctx& ctx) const {
        return files_directory_ / (prefix_ + "-" + std::to_string(ctx.cur_epoch_num) + "_" +
                             std::to_string(ctx.step_in_epoch()) + std::string(Format::extension));
    }

    // The records of one save: the saved network (or the train network), then append_info.
    template <class Ctx>
    std::vector<TensorRecord> append_records(const Ctx& ctx) const {
        std::vector<TensorRecord> out;
        std::int64_t epoch0 = 0, step0 = 0;
        for (const auto& v : policy_.append_dict) {
            if (v.record.is_string() || v.record.data.size() != sizeof(std::int64_t) || v.record.dtype != DType::Int64)
                continue;
            if (v.record.name == "epoch_num") epoch0 = v.record.as<std::int64_t>()[0];
            if (v.record.name == "step_num") step0 = v.record.as<std::int64_t>()[0];
        }
        // MindSpore keeps epoch_num / step_num current whether listed by name or given in the dict
        auto in_dict = [&](std::string_view key) {
            return std::any_of(policy_.append_dict.begin(), policy_.append_dict.end(),
                               [&](const NamedValue& v) { return v.record.name == key; });
        };
        if (policy_.append_epoch_num || in_dict("epoch_num"))
            out.push_back(TensorRecord::scalar<std::int64_t>("epoch_num", epoch0 + static_cast<std::int64_t>(ctx.cur_epoch_num)));
        if (policy_.append_step_num || in_dict("step_num"))
            out.push_back(TensorRecord::scalar<std::int64_t>("step_num", step0 + static_cast<std::int64_t>(ctx.cur_step_num)));
        for (const auto& v : policy_.append_dict)
            if (v.record.name != "epoch_num" && v.record.name != "step_num") out.push_back(v.record);
        return out;
    }

    template <class Ctx, class F>
    void with_views(Ctx& ctx, F&& f) {
        RecordViews records;
        if constexpr (ModelFormat<Format>) {  // a model file holds the network's weights only
            records.add_parameters(ctx.network);
            f(records.views());
            return;
        }
        if (config_.saved_network) records.add_parameters(*config_.saved_network);
        else {
            auto train = train_network(ctx.network, ctx.optimizer);
            records.add_parameters(train);
        }
        const auto extra = append_records(ctx);  // lives as long as the views into it
        for (const auto& r : extra) records.add(r);
        f(records.views());
    }

    typename Format::WriteOptions write_options() const {
        auto w = format::detail::write_options_with_crc<Format>(config_.crc_check);
        if constexpr (requires { w.enc_key = config_.enc_key; }) {
            w.enc_key = config_.enc_key;
            w.enc_mode = config_.enc_mode;
        }
        return w;
    }

    // MindIR / ONNX: the network traced once, for the input shape of the batches it trains on.
    template <class Ctx>
    void trace_model_once(Ctx& ctx) {
        if (model_graph_) return;
        if (!ctx.batch)
            throw ConfigError("ModelCheckpoint<" + std::string(Format::extension) +
                              ">: the first save has no batch to take the model's input shape from");
        const auto& images = ctx.batch->images;
        const Shape shape(images.shape().begin(), images.shape().end());
        model_graph_ = export_graph(ctx.network, std::span<const Shape>(&shape, 1));
    }

    void write_file(const std::filesystem::path& path, std::span<const RecordView> views) {
        if constexpr (ModelFormat<Format>) Format::write(path, *model_graph_, views, write_options());
        else Format::write(path, views, write_options());
    }

    template <class Ctx>
    void write_now(Ctx& ctx, const std::filesystem::path& path, bool keep) {
        if constexpr (ModelFormat<Format>) trace_model_once(ctx);
        with_views(ctx, [&](std::span<const RecordView> views) { write_file(path, views); });
        latest_ = path;
        if (keep) retain(path, Clock::now());
    }

    template <class Ctx>
    void save(Ctx& ctx, const std::filesystem::path& path, const trigger::Moment<Clock>& now) {
        const auto start = std::chrono::steady_clock::now();
        if constexpr (ModelFormat<Format>) trace_model_once(ctx);
        commit_pending();  // in a group, the async save before this one is committed first
        if (!config_.async_save) {
            if (group_) write_and_commit(ctx, path, /*keep=*/true);
            else write_now(ctx, path, /*keep=*/true);
        } else if (!writes_files()) {  // rank_0_only, another rank: it commits when rank 0 does
            pending_ = Pending{step_of(ctx, path), path, nullptr};
        } else {
            writer_.wait_for_room();  // fewer writers than the limit run; an earlier one's error is raised here
            const std::size_t set = next_set_;
            next_set_ = (next_set_ + 1) % snapshot_sets_;
            snapshot_gate_->wait_until_unread(static_cast<int>(set));  // the writer that last used this set
            AsideLease copies(snapshot_gate_, static_cast<int>(set));
            AsideLease lease = snapshot(ctx, snapshots_[set]);  // released with the job, even if it never starts
            // in a group the job measures its file for the commit instead of pruning old ones
            auto digest = group_ ? std::make_shared<FileDigest>() : nullptr;
            writer_.start([this, path, t = now.now, set, digest, copies = std::move(copies), lease = std::move(lease)](
                              auto&& release_snapshot, auto&& after_previous) mutable {
                release_snapshot();  // the snapshot's buffers are held by the leases, not by the AsyncWriter
                const Snapshot& snap = snapshots_[set];
                RecordViews views;
                views.reserve(snap.records.size());
                for (std::size_t i = 0; i < snap.records.size(); ++i) {
                    if (snap.in_place[i].empty()) views.add(snap.records[i]);
                    else views.add(snap.records[i], snap.in_place[i]);
                }
                if constexpr (StagedFormat<Format>) {
                    auto file = Format::write_staged(path, views.views(), write_options());
                    lease.release();   // the bytes are in the page cache: the optimizer may write that memory
                    copies.release();  // and the next save but one may refill these buffers
                    after_previous();  // files become durable, and old ones go, in save order
                    file.commit();
                } else {
                    after_previous();
                    write_file(path, views.views());
                    lease.release();
                    copies.release();
                }
                if (digest) *digest = digest_file(path);
                else retain(path, t);
            });
            if (group_) pending_ = Pending{step_of(ctx, path), path, std::move(digest)};
            else latest_ = path;
        }
        const auto blocked = std::chrono::steady_clock::now() - start;
        ++stats_.saves;
        stats_.last_blocked = blocked;
        stats_.blocked_total += blocked;
        stats_.blocked_max = std::max<std::chrono::nanoseconds>(stats_.blocked_max, blocked);
        last_step_ = ctx.cur_step_num;
        trigger_.saved(now);
    }

    // The memory the optimizer leaves as it is after write_aside(), sorted for held_aside().
    template <class Ctx>
    void collect_aside_memory(Ctx& ctx) {
        aside_.clear();
        if constexpr (WritesAside<std::remove_cvref_t<decltype(ctx.optimizer)>>) {
            ctx.optimizer.visit_aside_memory([&](std::span<const std::byte> m) {
                if (!m.empty()) aside_.push_back(m);
            });
        }
        std::sort(aside_.begin(), aside_.end(),
                  [](auto a, auto b) { return std::less<const std::byte*>{}(a.data(), b.data()); });
    }
    bool held_aside(const RecordView& v) const {
        if (v.is_string || v.data.empty()) return false;
        const auto it = std::lower_bound(aside_.begin(), aside_.end(), v.data.data(),
                                         [](std::span<const std::byte> m, const std::byte* p) {
                                             return std::less<const std::byte*>{}(m.data(), p);
                                         });
        return it != aside_.end() && it->data() == v.data.data() && it->size() == v.data.size();
    }

    // The records of a save, for the background writer. An optimizer writing aside (Momentum) leaves its
    // values and moments in place for the writer to read, under a lease; the rest (moving statistics, the
    // step count, frozen parameters, append_info) is copied into buffers kept from the previous save, so
    // after the first save the training thread is held up by a few small copies and no allocation.
    // Returns the optimizer's lease on what is read in place (empty when nothing is).
    template <class Ctx>
    AsideLease snapshot(Ctx& ctx, Snapshot& snap) {
        collect_aside_memory(ctx);
        std::size_t copied = 0, in_place = 0;
        with_views(ctx, [&](std::span<const RecordView> views) {
            snap.records.resize(views.size());
            snap.in_place.resize(views.size());
            for (std::size_t i = 0; i < views.size(); ++i) {
                auto& r = snap.records[i];
                const auto& v = views[i];
                r.name.assign(v.name);
                r.dtype = v.dtype;
                r.shape = v.shape;
                snap.in_place[i] = {};
                r.text.reset();
                if (v.is_string) {
                    r.text = detail::utf32le_to_utf8(v.data);
                    r.data.clear();
                } else if (held_aside(v)) {
                    snap.in_place[i] = v.data;
                    in_place += v.data.size();
                } else {
                    r.data.resize(v.data.size());
                    std::memcpy(r.data.data(), v.data.data(), v.data.size());
                    copied += v.data.size();
                }
            }
        });
        stats_.last_copied_bytes = copied;
        stats_.last_in_place_bytes = in_place;
        AsideLease lease;
        if constexpr (WritesAside<std::remove_cvref_t<decltype(ctx.optimizer)>>) {
            if (in_place > 0) {
                lease = ctx.optimizer.write_aside();
                optimizer_gate_ = lease.gate();
            }
        }
        return lease;
    }

    // Deletes old files of this run once the new one is durable: keep_checkpoint_max newest, or one
    // per keep_checkpoint_per_n_minutes. Files of other runs (other prefixes) are never touched.
    void retain(const std::filesystem::path& newest, typename Clock::time_point now) {
        std::error_code ec;
        for (const auto& old : expired(directory_, Format::extension, newest, now)) std::filesystem::remove(old, ec);
    }

    // The files of this run in dir (ending in ext: checkpoints, or a group's manifests) that retention drops
    // now that newest is durable.
    std::vector<std::filesystem::path> expired(const std::filesystem::path& dir, std::string_view extension,
                                               const std::filesystem::path& newest, typename Clock::time_point now) {
        std::lock_guard lock(retain_mutex_);
        std::vector<std::filesystem::path> drop;
        if (policy_.keep_checkpoint_max > 0) {
            // oldest first: by modification time, then (file times are coarse) by epoch and step
            struct Managed {
                std::filesystem::file_time_type time;
                std::uint64_t epoch, step;
                std::filesystem::path path;
                bool operator<(const Managed& o) const { return std::tie(time, epoch, step) < std::tie(o.time, o.epoch, o.step); }
            };
            std::vector<Managed> managed;
            std::error_code ec;
            const std::string ext(extension);
            for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
                const std::string name = e.path().filename().string();
                if (!name.starts_with(prefix_ + "-") || !name.ends_with(ext)) continue;
                const std::string middle = name.substr(prefix_.size(), name.size() - prefix_.size() - ext.size());
                if (detail::has_letter(middle)) continue;
                std::uint64_t epoch = 0, step = 0;  // middle is "-E_S"
                if (const auto us = middle.find('_'); us != std::string::npos && middle.size() < 40) {
                    epoch = std::strtoull(middle.c_str() + 1, nullptr, 10);
                    step = std::strtoull(middle.c_str() + us + 1, nullptr, 10);
                }
                managed.push_back({std::filesystem::last_write_time(e.path(), ec), epoch, step, e.path()});
            }
            std::sort(managed.begin(), managed.end());
            const auto keep = static_cast<std::size_t>(policy_.keep_checkpoint_max);
            for (std::size_t i = 0; i + keep < managed.size(); ++i)
                if (managed[i].path != newest) drop.push_back(managed[i].path);
        } else if (policy_.keep_checkpoint_per_n_minutes > 0) {
            saved_.push_back({newest, now});
            // MindSpore's keep_one_ckpoint_per_minutes: of the files saved within the window, keep the oldest.
            const auto window = std::chrono::minutes(policy_.keep_checkpoint_per_n_minutes);
            const Saved* oldest = nullptr;
            for (const auto& s : saved_)
                if (s.path != newest && now - s.time < window && (!oldest || s.time < oldest->time)) oldest = &s;
            for (const auto& s : saved_)
                if (s.path != newest && now - s.time < window && &s != oldest) drop.push_back(s.path);
            std::erase_if(saved_, [&](const Saved& s) {  // dropped, or out of the window: forget it
                return s.path != newest && (now - s.time >= window || &s != oldest);
            });
        }
        return drop;
    }

    // Data parallel (see the class comment). ----------------------------------------------------------------

    bool writes_files() const noexcept { return !group_rank_0_only_; }

    // Joins group: this rank's folder, rank 0's run prefix for all, and whether each step needs rank 0's word.
    void begin_distributed(CommunicatorRef& group) {
        if (group_) return;  // a second train() continues this run's files
        group_rank_0_only_ = config_.rank_0_only && group.rank() != 0;
        files_directory_ = group_.join(group, directory_, writes_files());
        if (writes_files()) detail::remove_stray_temp_files(files_directory_, {Format::extension, graph_meta_extension});
        if (group_.rank() == 0) detail::remove_stray_temp_files(directory_, {manifest_extension});
        prefix_ = group_.from_rank_0(group_.rank() == 0 ? detail::run_prefix(files_directory_, base_prefix_, false, Format::extension) : "");
        agree_each_step_ = !config_.exception_save_signals.empty() || trigger::clock_decides<Trigger>(policy_);
    }

    // The manifest of the step whose file is path (files added at the commit).
    template <class Ctx>
    CheckpointManifest step_of(const Ctx& ctx, const std::filesystem::path& path) const {
        CheckpointManifest m;
        const std::string file = path.filename().string();
        m.name = file.substr(0, file.size() - Format::extension.size());
        m.epoch = ctx.cur_epoch_num;
        m.step_in_epoch = ctx.step_in_epoch();
        m.global_step = ctx.cur_step_num;
        m.group_size = group_.size();
        return m;
    }

    // This rank's file written now (rank_0_only: rank 0's alone), then the step committed.
    template <class Ctx>
    void write_and_commit(Ctx& ctx, const std::filesystem::path& path, bool keep) {
        std::optional<FileDigest> digest;
        std::string error;
        if (writes_files()) {
            try {
                write_now(ctx, path, /*keep=*/false);
                digest = digest_file(path);
            } catch (const std::exception& e) {
                error = e.what();
            }
        }
        commit(step_of(ctx, path), digest, error, path, keep);
    }

    // The async save waiting for its commit: committed once its writer is done (at the next save or the end).
    void commit_pending() {
        if (!pending_) return;
        Pending p = std::move(*pending_);
        pending_.reset();
        std::optional<FileDigest> digest;
        std::string error;
        try {
            writer_.wait();
            if (p.digest) digest = *p.digest;
        } catch (const std::exception& e) {
            error = e.what();
        }
        commit(std::move(p.step), digest, error, p.file, /*keep=*/true);
    }

    // The global commit (GroupCommit::commit), with this run's retention applied to the manifests when keep.
    void commit(CheckpointManifest step, const std::optional<FileDigest>& digest, const std::string& error,
                const std::filesystem::path& file, bool keep) {
        latest_ = group_.commit(std::move(step), digest, error, file, Format::extension, [&](const std::filesystem::path& manifest) {
            return keep ? expired(directory_, manifest_extension, manifest, Clock::now()) : std::vector<std::filesystem::path>{};
        });
    }

    struct Saved {
        std::filesystem::path path;
        typename Clock::time_point time;
    };
    struct Pending {
        CheckpointManifest step;
        std::filesystem::path file;
        std::shared_ptr<FileDigest> digest;  // filled by the writer; none when this rank writes nothing
    };

    CheckpointConfig config_;
    CheckpointPolicy policy_;
    std::optional<OpGraph> model_graph_;  // MindIR / ONNX formats only
    std::filesystem::path directory_, files_directory_;
    std::string base_prefix_, prefix_;
    Trigger trigger_{};
    std::size_t last_step_ = 0;
    bool graph_written_ = false;
    std::filesystem::path latest_;
    mutable CheckpointStats stats_;
    std::shared_ptr<detail::AsideGate> optimizer_gate_;  // the gate of the optimizer's leases, for stats()
    std::array<Snapshot, 2> snapshots_;  // async saves fill them in turn (only the first when most is copied)
    std::size_t snapshot_sets_ = 1, next_set_ = 0;
    std::shared_ptr<detail::AsideGate> snapshot_gate_ = std::make_shared<detail::AsideGate>();  // their readers
    std::vector<std::span<const std::byte>> aside_;  // what the optimizer writes aside, sorted
    std::vector<Saved> saved_;
    std::mutex retain_mutex_;
    SignalRequest signals_;  // CheckpointConfig::exception_save_signals, caught during train()
    detail::GroupCommit group_;  // a data-parallel run of more than one rank; empty otherwise
    bool group_rank_0_only_ = false;  // in a group with rank_0_only, on a rank other than 0: writes no file
    bool agree_each_step_ = false, interrupted_by_group_ = false;
    std::optional<Pending> pending_;  // an async save of a group, not yet committed
    // last: destroyed first, so its writers are joined while the snapshot and the rest still live
    // three writers: one handing its bytes to the kernel while the two before it make theirs durable
    detail::AsyncWriter writer_{/*max_in_flight=*/3};
};

}  // namespace mindsave
