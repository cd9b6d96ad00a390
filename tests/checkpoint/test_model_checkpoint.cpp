// ModelCheckpoint and CheckpointConfig: MindSpore's file names and lists, retention, triggers by
// steps, seconds (on an injected clock) and exception, async saves, and a bit-exact resume.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "mindsave/data/mnist.hpp"
#include "mindsave/data/pipeline.hpp"
#include "mindsave/data/transforms.hpp"
#include "mindsave/mindsave.hpp"
#include "support/shared_data.hpp"
#include "support/file_bytes.hpp"
#include "support/same_parameters.hpp"
#include "support/tsv_format.hpp"

using namespace mindsave;
namespace fs = std::filesystem;
namespace vision = mindsave::data::vision;
using mindsave::testing::bytes_of;

namespace {

using mindsave::testing::TempDir;

std::set<std::string> files_in(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

// A small real dataset: `steps` batches of 8 MNIST test images per epoch, shuffled by (seed, epoch).
auto small_dataset(std::size_t steps) {
    return data::MnistDataset(testing::require_shared("data/mnist"), "test")
        .take(steps * 8 + 24)
        .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255.0, 0.0}, vision::HWC2CHW{})
        .shuffle(64, 7)
        .batch(8, true)
        .take(steps);
}

struct Trainer {
    LeNet5<> net{1};
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt{net, 0.01f, 0.9f};
    Model<LeNet5<>, SoftmaxCrossEntropyWithLogits<>, Momentum> model{net, loss, opt};
};

struct ThrowAt {
    std::size_t step;
    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        if (ctx.cur_step_num == step) throw std::runtime_error("boom at step " + std::to_string(step));
    }
};

struct StopAt {
    std::size_t step;
    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        if (ctx.cur_step_num == step) ctx.request_stop();
    }
};

// A clock the test moves by hand: trigger-by-seconds tests never sleep.
struct ManualClock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<ManualClock>;
    static constexpr bool is_steady = true;
    static inline time_point current{};
    static time_point now() noexcept { return current; }
};
struct AdvanceClock {
    template <class Ctx>
    void on_train_step_begin(Ctx&) { ManualClock::current += std::chrono::seconds(1); }
};

// Runs a check at the end of one step, after the callbacks before it.
struct AtStep {
    std::size_t step;
    std::function<void()> run;
    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        if (ctx.cur_step_num == step) run();
    }
};

// Calls run(step) at the end of every step (after the callbacks before it in the list).
struct AfterEachStep {
    std::function<void(std::size_t)> run;
    template <class Ctx>
    void on_train_step_end(Ctx& ctx) {
        run(ctx.cur_step_num);
    }
};

// format::ckpt whose commit (fsync + rename) waits until the test opens the gate, or 20 s pass: what
// a save waits for is then visible without timing anything.
struct Gate {
    static inline std::mutex mutex;
    static inline std::condition_variable cv;
    static inline bool open = false;
    static inline int committed = 0;
    static void set_open() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
    static int commits() {
        std::lock_guard lock(mutex);
        return committed;
    }
};
struct GatedCommit {
    io::AtomicFile file;
    void commit() {
        {
            std::unique_lock lock(Gate::mutex);
            Gate::cv.wait_for(lock, std::chrono::seconds(20), [] { return Gate::open; });
        }
        file.commit();
        std::lock_guard lock(Gate::mutex);
        ++Gate::committed;
    }
};
struct gated_ckpt : format::ckpt {
    static GatedCommit write_staged(const fs::path& path, std::span<const RecordView> records,
                                    const WriteOptions& options = {}) {
        return {format::ckpt::write_staged(path, records, options)};
    }
};

// format::ckpt whose writer waits, before it reads a byte, until the test opens this gate (or 20 s pass):
// training then goes on while a save has not read its records yet.
struct ReadGate {
    static inline std::mutex mutex;
    static inline std::condition_variable cv;
    static inline bool open = false;
    static void set_open() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
};
struct held_ckpt : format::ckpt {
    static io::AtomicFile write_staged(const fs::path& path, std::span<const RecordView> records,
                                      const WriteOptions& options = {}) {
        {
            std::unique_lock lock(ReadGate::mutex);
            ReadGate::cv.wait_for(lock, std::chrono::seconds(20), [] { return ReadGate::open; });
        }
        return format::ckpt::write_staged(path, records, options);
    }
};

}  // namespace

TEST_CASE("CheckpointConfig applies MindSpore's defaults, precedence and validation", "[config]") {
    const auto p = CheckpointConfig{}.policy();
    CHECK(p.save_checkpoint_steps == 1);
    CHECK(p.keep_checkpoint_max == 5);
    CHECK(CheckpointConfig{.save_checkpoint_steps = 10, .save_checkpoint_seconds = 30}.policy().save_checkpoint_seconds == 0);
    CHECK(CheckpointConfig{.save_checkpoint_steps = 0, .save_checkpoint_seconds = 30}.policy().save_checkpoint_seconds == 30);
    const auto by_minutes = CheckpointConfig{.keep_checkpoint_max = 0, .keep_checkpoint_per_n_minutes = 2}.policy();
    CHECK(by_minutes.keep_checkpoint_max == 0);
    CHECK(by_minutes.keep_checkpoint_per_n_minutes == 2);
    CHECK(CheckpointConfig{.keep_checkpoint_max = 3, .keep_checkpoint_per_n_minutes = 2}.policy().keep_checkpoint_per_n_minutes == 0);
    CHECK(CheckpointConfig{.save_checkpoint_steps = 4, .keep_checkpoint_max = 0}.policy().keep_checkpoint_max == 1);
    CHECK_THROWS_WITH((CheckpointConfig{.save_checkpoint_steps = 0, .keep_checkpoint_max = 0}.policy()),
                      Catch::Contains("can't be all None or 0"));
    CHECK_THROWS_WITH((CheckpointConfig{.save_checkpoint_steps = -1}.policy()), Catch::Contains("must >= 0"));
    CHECK_THROWS_WITH((CheckpointConfig{.append_info = {"epoch_num", "lr"}}.policy()),
                      Catch::Contains("must be in ['epoch_num', 'step_num']"));
    CHECK_THROWS_AS((CheckpointConfig{.append_info = {std::vector<NamedValue>{}, std::vector<NamedValue>{}}}.policy()),
                    ConfigError);
    CHECK_THROWS_AS(ModelCheckpoint<>("a/b", fs::temp_directory_path()), ConfigError);
}

TEST_CASE("ModelCheckpoint names files as MindSpore does, with _N for a second run in the same folder",
          "[model_checkpoint]") {
    TempDir dir("mc_names");
    auto ds = small_dataset(6);
    {
        Trainer t;
        ModelCheckpoint<> ckpt("lenet", dir.path, {.save_checkpoint_steps = 6});
        t.model.train(2, ds, ckpt);
        CHECK(ckpt.latest_ckpt_file_name() == dir.path / "lenet-2_6.ckpt");
    }
    CHECK(files_in(dir.path) == std::set<std::string>{"lenet-1_6.ckpt", "lenet-2_6.ckpt", "lenet-graph.meta"});
    {
        Trainer t;
        ModelCheckpoint<> ckpt("lenet", dir.path, {.save_checkpoint_steps = 6});
        CHECK(ckpt.prefix() == "lenet_1");
        t.model.train(2, ds, ckpt);
    }
    CHECK(files_in(dir.path) ==
          std::set<std::string>{"lenet-1_6.ckpt", "lenet-2_6.ckpt", "lenet-graph.meta", "lenet_1-1_6.ckpt",
                                "lenet_1-2_6.ckpt", "lenet_1-graph.meta"});
    ModelCheckpoint<> third("lenet", dir.path);
    CHECK(third.prefix() == "lenet_2");
    ModelCheckpoint<> other("lenetx", dir.path);  // a letter after the prefix: another run's name
    CHECK(other.prefix() == "lenetx");
    // files are left read-only, and hold the train network: 8 weights + global_step, lr, momentum, 8 moments
    CHECK((fs::status(dir.path / "lenet-1_6.ckpt").permissions() & fs::perms::all) == fs::perms::owner_read);
    CHECK(load_checkpoint(dir.path / "lenet-1_6.ckpt").size() == 19);
}

TEST_CASE("the last step is always saved, and keep_checkpoint_max keeps exactly the newest N",
          "[model_checkpoint]") {
    TempDir dir("mc_keep");
    auto ds = small_dataset(7);
    Trainer t;
    ModelCheckpoint<> ckpt("lenet", dir.path, {.save_checkpoint_steps = 5, .keep_checkpoint_max = 3});
    t.model.train(3, ds, ckpt);  // saves at steps 5 (1_5), 10 (2_3), 15 (3_1), 20 (3_6) and the final 21 (3_7)
    CHECK(files_in(dir.path) ==
          std::set<std::string>{"lenet-3_1.ckpt", "lenet-3_6.ckpt", "lenet-3_7.ckpt", "lenet-graph.meta"});
    CHECK(ckpt.stats().saves == 5);
    CHECK(load_checkpoint(dir.path / "lenet-3_7.ckpt").at("global_step").as<std::int32_t>()[0] == 21);
}

TEST_CASE("another run's files are never deleted by retention", "[model_checkpoint]") {
    TempDir dir("mc_owners");
    auto ds = small_dataset(4);
    {
        Trainer t;
        ModelCheckpoint<> first("lenet", dir.path, {.keep_checkpoint_max = 2});
        t.model.train(1, ds, first);
    }
    const auto before = files_in(dir.path);
    CHECK(before == std::set<std::string>{"lenet-1_3.ckpt", "lenet-1_4.ckpt", "lenet-graph.meta"});
    Trainer t;
    ModelCheckpoint<> second("lenet", dir.path, {.keep_checkpoint_max = 1});
    t.model.train(2, ds, second);
    CHECK(files_in(dir.path) == std::set<std::string>{"lenet-1_3.ckpt", "lenet-1_4.ckpt", "lenet-graph.meta",
                                                      "lenet_1-2_4.ckpt", "lenet_1-graph.meta"});
}

TEST_CASE("exception_save writes {prefix}-{epoch}_{step}_breakpoint.ckpt when training throws, then rethrows",
          "[model_checkpoint]") {
    TempDir dir("mc_breakpoint");
    auto ds = small_dataset(4);
    Trainer t;
    ModelCheckpoint<> ckpt("lenet", dir.path, {.save_checkpoint_steps = 100, .exception_save = true});
    CHECK_THROWS_WITH(t.model.train(3, ds, ckpt, ThrowAt{6}), "boom at step 6");
    CHECK(files_in(dir.path) == std::set<std::string>{"lenet-2_2_breakpoint.ckpt", "lenet-graph.meta"});
    CHECK(load_checkpoint(dir.path / "lenet-2_2_breakpoint.ckpt").at("global_step").as<std::int32_t>()[0] == 6);

    Trainer quiet;  // without exception_save nothing is written
    ModelCheckpoint<> off("quiet", dir.path, {.save_checkpoint_steps = 100});
    CHECK_THROWS(quiet.model.train(3, ds, off, ThrowAt{3}));
    CHECK_FALSE(files_in(dir.path).contains("quiet-1_3_breakpoint.ckpt"));

    // a compile-time on_exception trigger saves on exceptions only
    Trainer chosen;
    ModelCheckpoint<format::ckpt, trigger::on_exception> only("chosen", dir.path);
    CHECK_THROWS(chosen.model.train(3, ds, only, ThrowAt{5}));
    CHECK(files_in(dir.path).contains("chosen-2_1_breakpoint.ckpt"));
    CHECK(files_in(dir.path) == std::set<std::string>{"lenet-2_2_breakpoint.ckpt", "lenet-graph.meta", "quiet-graph.meta",
                                                      "chosen-2_1_breakpoint.ckpt", "chosen-graph.meta"});
}

TEST_CASE("trigger::every_seconds saves when more than N seconds passed, on an injected clock",
          "[model_checkpoint][trigger]") {
    TempDir dir("mc_seconds");
    auto ds = small_dataset(10);
    ManualClock::current = {};
    Trainer t;
    ModelCheckpoint<format::ckpt, trigger::every_seconds, ManualClock> ckpt(
        "timed", dir.path, {.save_checkpoint_steps = 0, .save_checkpoint_seconds = 3, .keep_checkpoint_max = 10});
    t.model.train(1, ds, AdvanceClock{}, ckpt);  // one second per step: > 3 s at steps 4 and 8, then the final 10
    CHECK(files_in(dir.path) ==
          std::set<std::string>{"timed-1_4.ckpt", "timed-1_8.ckpt", "timed-1_10.ckpt", "timed-graph.meta"});
}

TEST_CASE("keep_checkpoint_per_n_minutes keeps the oldest file of the window and the newest",
          "[model_checkpoint][trigger]") {
    TempDir dir("mc_minutes");
    auto ds = small_dataset(10);
    ManualClock::current = {};
    Trainer t;
    ModelCheckpoint<format::ckpt, trigger::from_config, ManualClock> ckpt(
        "lenet", dir.path, {.save_checkpoint_steps = 1, .keep_checkpoint_max = 0, .keep_checkpoint_per_n_minutes = 1});
    t.model.train(1, ds, AdvanceClock{}, ckpt);  // a save a second, all within one minute
    CHECK(files_in(dir.path) == std::set<std::string>{"lenet-1_1.ckpt", "lenet-1_10.ckpt", "lenet-graph.meta"});
}

TEST_CASE("append_info and saved_network decide what a checkpoint holds", "[model_checkpoint]") {
    TempDir dir("mc_contents");
    auto ds = small_dataset(3);
    Trainer t;
    ModelCheckpoint<> ckpt("net", dir.path,
                           {.save_checkpoint_steps = 3,
                            .saved_network = t.net,
                            .append_info = {"step_num", "epoch_num", std::vector<NamedValue>{{"epoch_num", 10}, {"lr", 0.01}}}});
    t.model.train(2, ds, ckpt);
    const auto d = load_checkpoint(dir.path / "net-2_3.ckpt");
    CHECK(d.size() == 8 + 3);  // the network only: no optimizer state
    const auto keys = d.keys();
    CHECK(std::vector<std::string>(keys.end() - 3, keys.end()) == std::vector<std::string>{"epoch_num", "step_num", "lr"});
    CHECK(d.at("epoch_num").as<std::int64_t>()[0] == 12);  // initial 10 + epoch 2
    CHECK(d.at("step_num").as<std::int64_t>()[0] == 6);
    const auto full = fs::file_size(dir.path / "net-2_3.ckpt");
    save_checkpoint(train_network(t.net, t.opt), dir.path / "full.ckpt");
    CHECK(full < fs::file_size(dir.path / "full.ckpt") * 6 / 10);  // about half, as in the seed
}

TEST_CASE("async saves write the same bytes as synchronous ones and report the time training was held up",
          "[model_checkpoint][async]") {
    TempDir sync_dir("sync"), async_dir("async");
    auto ds = small_dataset(5);
    {
        Trainer t;
        ModelCheckpoint<> ckpt("lenet", sync_dir.path, {.save_checkpoint_steps = 2, .keep_checkpoint_max = 10});
        t.model.train(2, ds, ckpt);
    }
    Trainer t;
    ModelCheckpoint<> ckpt("lenet", async_dir.path,
                           {.save_checkpoint_steps = 2, .keep_checkpoint_max = 10, .async_save = true});
    // After each step, what the last save reported: the totals must be these reports' sum and maximum.
    std::size_t seen_saves = 0;
    std::chrono::nanoseconds sum{}, max{};
    std::vector<std::size_t> saved_at;
    AfterEachStep observe{[&](std::size_t step) {
        if (ckpt.stats().saves == seen_saves) return;
        seen_saves = ckpt.stats().saves;
        saved_at.push_back(step);
        sum += ckpt.stats().last_blocked;
        max = std::max(max, ckpt.stats().last_blocked);
    }};
    t.model.train(2, ds, ckpt, observe);
    REQUIRE(files_in(sync_dir.path) == files_in(async_dir.path));
    for (const auto& name : files_in(sync_dir.path)) {
        INFO(name);
        CHECK(bytes_of(sync_dir.path / name) == bytes_of(async_dir.path / name));
    }
    CHECK(ckpt.stats().saves == 5);  // steps 2, 4, 6, 8, 10: the last step was just saved
    CHECK(saved_at == std::vector<std::size_t>{2, 4, 6, 8, 10});  // each reported at its own step
    CHECK(ckpt.stats().last_blocked > std::chrono::nanoseconds{0});  // a save takes some time, at least
    CHECK(ckpt.stats().blocked_total == sum);
    CHECK(ckpt.stats().blocked_max == max);
}

TEST_CASE("an async save waits for the previous write's bytes, not for its fsync and rename; files land in order",
          "[model_checkpoint][async]") {
    TempDir dir("mc_async_overlap");
    auto ds = small_dataset(4);
    Trainer t;
    ModelCheckpoint<gated_ckpt> ckpt("lenet", dir.path,
                                     {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2, .async_save = true});
    int commits_at_step_2 = -1;
    std::set<std::string> files_at_step_2;
    AtStep probe{2, [&] {  // steps 1 and 2 are saved, step 1's file still waits at the gate
                     commits_at_step_2 = Gate::commits();
                     files_at_step_2 = files_in(dir.path);
                     Gate::set_open();
                 }};
    t.model.train(1, ds, ckpt, probe);
    CHECK(commits_at_step_2 == 0);
    CHECK_FALSE(files_at_step_2.contains("lenet-1_1.ckpt"));
    CHECK(Gate::commits() == 4);
    CHECK(files_in(dir.path) == std::set<std::string>{"lenet-1_3.ckpt", "lenet-1_4.ckpt", "lenet-graph.meta"});
    save_checkpoint(train_network(t.net, t.opt), dir.path / "now.ckpt");
    CHECK(bytes_of(dir.path / "lenet-1_4.ckpt") == bytes_of(dir.path / "now.ckpt"));
}

TEST_CASE("an async save reads Momentum's weights and moments in place: training goes on writing aside, and the "
          "file holds the step it was taken at",
          "[model_checkpoint][async]") {
    TempDir sync_dir("mc_inplace_sync"), async_dir("mc_inplace_async");
    ReadGate::open = false;
    auto ds = small_dataset(5);
    {
        Trainer t;
        ModelCheckpoint<> ckpt("lenet", sync_dir.path, {.save_checkpoint_steps = 3});
        t.model.train(1, ds, ckpt);
    }
    Trainer t;
    ModelCheckpoint<held_ckpt> ckpt("lenet", async_dir.path, {.save_checkpoint_steps = 3, .async_save = true});
    CheckpointStats at_step_3;
    bool written_before_open = true;
    AtStep after_save{3, [&] { at_step_3 = ckpt.stats(); }};
    AtStep open{5, [&] {  // steps 4 and 5 have updated the network; the step-3 writer has read nothing yet
                    written_before_open = fs::exists(async_dir.path / "lenet-1_3.ckpt");
                    ReadGate::set_open();
                }};
    t.model.train(1, ds, ckpt, after_save, open);
    CHECK_FALSE(written_before_open);
    for (const char* name : {"lenet-1_3.ckpt", "lenet-1_5.ckpt"}) {
        INFO(name);
        CHECK(bytes_of(sync_dir.path / name) == bytes_of(async_dir.path / name));
    }
    // The training thread copied the optimizer's three scalars only: weights and moments were read in place.
    std::size_t weights = 0;
    visit_parameters(t.net, [&](std::string_view, auto& p) { weights += view_of(p).bytes.size(); });
    CHECK(at_step_3.last_copied_bytes == 3 * 4);  // global_step, learning_rate, momentum
    CHECK(at_step_3.last_in_place_bytes == 2 * weights);
}

TEST_CASE("a step that would write the memory an unfinished async save still reads waits for it: saves at every "
          "step with their writers held give the files of a synchronous run",
          "[model_checkpoint][async]") {
    TempDir sync_dir("mc_lease_sync"), async_dir("mc_lease_async");
    auto ds = small_dataset(4);
    const CheckpointConfig every_step{.save_checkpoint_steps = 1, .keep_checkpoint_max = 10};
    {
        Trainer t;
        ModelCheckpoint<> ckpt("lenet", sync_dir.path, every_step);
        t.model.train(1, ds, ckpt);
    }
    ReadGate::open = false;
    Trainer t;
    auto config = every_step;
    config.async_save = true;
    ModelCheckpoint<held_ckpt> ckpt("lenet", async_dir.path, config);
    // The writers of steps 1 and 2 wait at the gate; step 3 needs the buffers step 1's writer reads, so training
    // stops there until this thread opens the gate. Had the lease been dropped early, step 3 would have
    // overwritten what the first file was to hold.
    std::thread opener([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        ReadGate::set_open();
    });
    t.model.train(1, ds, ckpt);
    opener.join();
    REQUIRE(files_in(sync_dir.path) == files_in(async_dir.path));
    for (const auto& name : files_in(sync_dir.path)) {
        INFO(name);
        CHECK(bytes_of(sync_dir.path / name) == bytes_of(async_dir.path / name));
    }
}

TEST_CASE("stray temp files of dead writers are removed; latest_checkpoint passes over damaged files",
          "[model_checkpoint][resume]") {
    TempDir dir("mc_stray");
    auto ds = small_dataset(4);
    { std::ofstream(dir.path / "lenet-1_1.ckpt.999999999-0.tmp") << "torn"; }
    { std::ofstream(dir.path / ("lenet-1_2.ckpt." + std::to_string(::getpid()) + "-0.tmp")) << "ours, in flight"; }
    Trainer t;
    ModelCheckpoint<> ckpt("lenet", dir.path, {.save_checkpoint_steps = 2});
    CHECK_FALSE(fs::exists(dir.path / "lenet-1_1.ckpt.999999999-0.tmp"));
    CHECK(fs::exists(dir.path / ("lenet-1_2.ckpt." + std::to_string(::getpid()) + "-0.tmp")));
    fs::remove(dir.path / ("lenet-1_2.ckpt." + std::to_string(::getpid()) + "-0.tmp"));
    t.model.train(1, ds, ckpt);
    CHECK(latest_checkpoint(dir.path) == dir.path / "lenet-1_4.ckpt");
    // damage the newest: resume falls back to the one before
    auto bytes = bytes_of(dir.path / "lenet-1_4.ckpt");
    fs::remove(dir.path / "lenet-1_4.ckpt");
    std::ofstream(dir.path / "lenet-1_4.ckpt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    CHECK(latest_checkpoint(dir.path) == dir.path / "lenet-1_2.ckpt");
    CHECK_FALSE(latest_checkpoint(dir.path / "nothing").has_value());
}

TEMPLATE_TEST_CASE("ModelCheckpoint<F> clears a dead writer's temp files, keeps the newest, and latest_checkpoint<F> "
                   "finds the last one, which loads back as the trained network, in every format",
                   "[model_checkpoint][formats]", format::ckpt, format::safetensors, format::pth, format::mindir,
                   format::onnx, testing::tsv) {
    TempDir dir("mc_formats");
    const std::string ext(TestType::extension);
    const fs::path stray = dir.path / ("lenet-1_1" + ext + ".999999999-0.tmp");
    const fs::path ours = dir.path / ("lenet-1_2" + ext + "." + std::to_string(::getpid()) + "-0.tmp");
    { std::ofstream(stray) << "torn"; }
    { std::ofstream(ours) << "ours, in flight"; }
    auto ds = small_dataset(3);
    Trainer t;
    {
        ModelCheckpoint<TestType> ckpt("lenet", dir.path, {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2});
        CHECK_FALSE(fs::exists(stray));
        CHECK(fs::exists(ours));  // a live writer's (this process) stays
        fs::remove(ours);
        t.model.train(1, ds, ckpt);
    }
    std::set<std::string> saved;
    for (const auto& name : files_in(dir.path))
        if (name.ends_with(ext)) saved.insert(name);
    CHECK(saved == std::set<std::string>{"lenet-1_2" + ext, "lenet-1_3" + ext});
    const auto latest = latest_checkpoint<TestType>(dir.path, "lenet");
    REQUIRE(latest);
    CHECK(latest->filename() == "lenet-1_3" + ext);
    LeNet5<> fresh{77};
    load_checkpoint<match::suffix, TestType>(*latest, fresh);
    testing::check_same_parameters(t.net, fresh);
    CHECK_FALSE(latest_checkpoint<TestType>(dir.path, "other").has_value());
}

TEST_CASE("a resumed run is bit-identical to an uninterrupted one, and is not without the momentum state",
          "[model_checkpoint][resume]") {
    TempDir dir("mc_resume");
    auto ds = small_dataset(6);  // 2 epochs x 6 steps; the stop at step 8 is mid-epoch
    Trainer straight;
    straight.model.train(2, ds);
    save_checkpoint(train_network(straight.net, straight.opt), dir.path / "straight.ckpt");

    {  // the first process: trains, checkpoints every step, stops after step 8
        Trainer first;
        ModelCheckpoint<> ckpt("run", dir.path / "ckpt", {.save_checkpoint_steps = 1});
        first.model.train(2, ds, ckpt, StopAt{8});
    }
    const auto latest = latest_checkpoint(dir.path / "ckpt");
    REQUIRE(latest);
    CHECK(latest->filename() == "run-2_2.ckpt");

    Trainer second;  // a fresh process: other initial weights, resumed from the file
    second.net = LeNet5<>(99);
    CHECK(second.model.resume(load_checkpoint(*latest)) == 8);
    ModelCheckpoint<> resumed_ckpt("run", dir.path / "ckpt", {.save_checkpoint_steps = 3});
    second.model.train(2, ds, resumed_ckpt);
    CHECK(resumed_ckpt.stats().saves == 2);  // step 11, 3 after the resume at 8, and the final step 12
    CHECK(resumed_ckpt.latest_ckpt_file_name().filename() == "run_1-2_6.ckpt");
    save_checkpoint(train_network(second.net, second.opt), dir.path / "resumed.ckpt");
    CHECK(bytes_of(dir.path / "resumed.ckpt") == bytes_of(dir.path / "straight.ckpt"));  // mindsave diff: identical

    // Restoring the weights but not the moments breaks it: the check above can fail.
    Trainer partial;
    auto dict = load_checkpoint(*latest, {.filter_prefix = {"moments."}});
    load_param_into_net(partial.net, dict);
    load_param_into_net(partial.opt, dict);  // global_step and hyper-parameters, moments left at zero
    partial.model.set_initial_step(8);
    partial.model.train(2, ds);
    save_checkpoint(train_network(partial.net, partial.opt), dir.path / "partial.ckpt");
    CHECK(bytes_of(dir.path / "partial.ckpt") != bytes_of(dir.path / "straight.ckpt"));
    CHECK_THROWS_AS(Trainer().model.resume(dict), ParameterError);  // resume insists on every parameter
}

namespace {
// Decodes an anf_ir file with protoc and the schema the tests carry; counts op types and lists
// parameter names (top-level "parameters" of the graph).
struct DecodedGraph {
    std::map<std::string, int> op_types;
    std::set<std::string> parameters;
    bool ok = false;
};
DecodedGraph decode_graph(const fs::path& file) {
    const std::string cmd = "protoc --decode=mindspore.irpb.ModelProto -I" MINDSAVE_SOURCE_DIR
                            "/tests/interop " MINDSAVE_SOURCE_DIR "/tests/interop/anf_ir.proto < '" +
                            file.string() + "' 2>&1";
    DecodedGraph g;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return g;
    char line[4096];
    bool in_parameters = false;
    while (std::fgets(line, sizeof line, pipe)) {
        const std::string l(line);
        if (l.starts_with("    op_type: \"")) ++g.op_types[l.substr(14, l.size() - 16)];
        if (l == "  parameters {\n") in_parameters = true;
        if (in_parameters && l.starts_with("    name: \"")) {
            g.parameters.insert(l.substr(11, l.size() - 13));
            in_parameters = false;
        }
    }
    g.ok = ::pclose(pipe) == 0;
    return g;
}
}  // namespace

TEST_CASE("the graph file has the structure of MindSpore's own LeNet5 graph.meta", "[model_checkpoint][graph]") {
    TempDir dir("mc_graph");
    auto ds = small_dataset(2);
    Trainer t;
    ModelCheckpoint<> ckpt("lenet", dir.path, {.save_checkpoint_steps = 2});
    t.model.train(1, ds, ckpt);
    REQUIRE(fs::exists(dir.path / "lenet-graph.meta"));
    const auto ours = decode_graph(dir.path / "lenet-graph.meta");
    const auto real = decode_graph(testing::require_shared("fixtures/mindspore/meta/xmu_ai_isp__checkpoint_lenet-graph.meta"));
    REQUIRE(ours.ok);
    REQUIRE(real.ok);
    // MindSpore's graph mode adds side-effect plumbing (Load, Depend, UpdateState, MakeTuple); the
    // computation itself must be the same primitives, as many times.
    auto computation = real.op_types;
    for (const char* plumbing : {"Load", "Depend", "UpdateState", "MakeTuple"}) computation.erase(plumbing);
    CHECK(ours.op_types == computation);
    CHECK(ours.parameters == real.parameters);
}
