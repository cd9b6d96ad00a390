// ModelCheckpoint in a data-parallel run (CTest runs this under mpirun -np 2 and -np 4): per-rank files in
// {dir}/rank_{r}/, one manifest per committed step written by rank 0, retention decided by rank 0 after the newer
// commit, a failure on one rank failing the step on all, rank 0's clock and any rank's signal deciding for all,
// and a resume from the newest committed step that ends bit for bit where an uninterrupted run ends.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/data/mnist.hpp"
#include "mindsave/distributed/mpi.hpp"
#include "mindsave/io/crc32.hpp"
#include "mindsave/mindsave.hpp"
#include "support/parameter_values.hpp"
#include "support/shared_data.hpp"
#include "support/temp_dir.hpp"

using namespace mindsave;
namespace vision = mindsave::data::vision;

namespace {

mpi::Communicator& world() { return mpi::init(); }

// One folder for the whole group: rank 0's temp folder, named to all; removed once every rank is done with it.
struct SharedDir {
    mpi::Communicator& comm;
    std::optional<testing::TempDir> owned;
    std::filesystem::path path;
    explicit SharedDir(mpi::Communicator& c) : comm(c) {
        if (comm.rank() == 0) owned.emplace("dist_ckpt");
        path = broadcast_string(comm, owned ? owned->path.string() : std::string(), 0);
    }
    ~SharedDir() {
        try {
            comm.barrier();
        } catch (...) {
        }
    }
};

const data::MnistDataset& source() {
    static const data::MnistDataset s(testing::require_shared("data/mnist"), "test");
    return s;
}

auto shard(mpi::Communicator& comm, std::size_t steps, bool shuffle = false) {
    return source()
        .map(vision::Resize{32, 32}, vision::Rescale{1.0 / 255, 0.0}, vision::HWC2CHW{})
        .shard(static_cast<std::size_t>(comm.size()), static_cast<std::size_t>(comm.rank()), shuffle, 3)
        .batch(4, true)
        .take(steps);
}

using Ctx = RunContext<LeNet5<>, Momentum>;

// A LeNet5 trainer in data parallel over comm.
struct Trainer {
    LeNet5<> net;
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt{net, {.learning_rate = 0.01f, .momentum = 0.9f}};
    Model<LeNet5<>, SoftmaxCrossEntropyWithLogits<>, Momentum> model{net, loss, opt};
    Trainer(mpi::Communicator& comm, std::uint64_t seed) : net(seed) { model.set_data_parallel(comm); }
};

std::vector<std::string> names(const std::vector<CheckpointManifest>& steps) {
    std::vector<std::string> out;
    for (const auto& s : steps) out.push_back(s.name);
    return out;
}

std::set<std::string> files_in(const std::filesystem::path& dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
    return out;
}

std::filesystem::path rank_file(const std::filesystem::path& dir, int rank, const std::string& name) {
    return rank_directory(dir, rank) / name;
}

}  // namespace

TEST_CASE("ModelCheckpoint on N ranks writes rank_{r}/ files, commits each step with rank 0's manifest, and keeps "
          "keep_checkpoint_max committed steps",
          "[distributed][checkpoint]") {
    auto& comm = world();
    const int n = comm.size(), me = comm.rank();
    for (const bool async : {false, true}) {
        INFO((async ? "async_save" : "sync save") << ", " << n << " ranks");
        SharedDir dir(comm);
        Trainer t(comm, 1);
        auto data = shard(comm, 12);
        ModelCheckpoint ckpt("lenet", dir.path, {.save_checkpoint_steps = 3, .keep_checkpoint_max = 2, .async_save = async});
        t.model.train(1, data, ckpt);
        CHECK(ckpt.prefix() == "lenet");
        CHECK(ckpt.files_directory() == rank_directory(dir.path, me));

        // steps 3 and 6 were dropped after 9 and 12 were committed; only those two remain, on every rank
        const auto steps = committed_steps(dir.path);
        REQUIRE(names(steps) == std::vector<std::string>{"lenet-1_9", "lenet-1_12"});
        CHECK(files_in(rank_directory(dir.path, me)) ==
              std::set<std::string>{"lenet-1_9.ckpt", "lenet-1_12.ckpt", "lenet-graph.meta"});
        CHECK(files_in(dir.path).count("lenet-1_12.manifest") == 1);
        for (const auto& step : steps) {
            CHECK(step.group_size == n);
            CHECK(step.epoch == 1);
            REQUIRE(step.files.size() == static_cast<std::size_t>(n));
            for (int r = 0; r < n; ++r) {
                const auto& f = step.files[static_cast<std::size_t>(r)];
                CHECK(f.rank == r);
                CHECK(f.path == "rank_" + std::to_string(r) + "/" + step.name + ".ckpt");
                const auto bytes = io::read_whole_file(dir.path / f.path);  // size and CRC-32 computed apart
                CHECK(f.digest.size == bytes.size());
                CHECK(f.digest.crc32 == io::crc32(bytes));
                CHECK(f.digest.crc32 == step.files.front().digest.crc32);  // a full copy on every rank (no BatchNorm)
            }
            CHECK(!verify_step(step));
        }
        CHECK(steps.back().global_step == 12);
        CHECK(steps.front().step_in_epoch == 9);
        CHECK(ckpt.latest_ckpt_file_name() == rank_file(dir.path, me, "lenet-1_12.ckpt"));

        // each rank resumes from its own file of the newest committed step; a damaged file there sends every
        // rank back to the step before
        comm.barrier();
        CHECK(latest_checkpoint(dir.path) == rank_file(dir.path, me, "lenet-1_12.ckpt"));
        CHECK(latest_checkpoint(comm, dir.path) == rank_file(dir.path, me, "lenet-1_12.ckpt"));  // the collective one
        comm.barrier();
        if (me == n - 1) {
            const auto damaged = rank_file(dir.path, me, "lenet-1_12.ckpt");
            std::filesystem::permissions(damaged, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
            std::filesystem::resize_file(damaged, std::filesystem::file_size(damaged) - 1);
        }
        comm.barrier();
        CHECK(latest_checkpoint(dir.path) == rank_file(dir.path, me, "lenet-1_9.ckpt"));
        CHECK(latest_committed_step(dir.path)->name == "lenet-1_9");
        // collectively: only the last rank finds its file of step 12 damaged, and every rank goes back with it
        CHECK(latest_checkpoint(comm, dir.path) == rank_file(dir.path, me, "lenet-1_9.ckpt"));
    }
}

TEST_CASE("Ranks that name different checkpoint directories are told to name one (rank_{r}/ is made inside it)",
          "[distributed][checkpoint]") {
    auto& comm = world();
    SharedDir dir(comm);
    Trainer t(comm, 1);
    auto data = shard(comm, 2);
    // MindSpore's tutorials give each rank a folder of its own; here the commit needs one shared folder
    ModelCheckpoint ckpt("lenet", dir.path / ("ckpt_" + std::to_string(comm.rank())));
    REQUIRE_THROWS_AS(t.model.train(1, data, ckpt), ConfigError);
    REQUIRE_THROWS_WITH(t.model.train(1, data, ckpt), Catch::Matchers::Contains("give every rank the same one"));
}

TEST_CASE("A run resumed on N ranks from the newest committed step ends bit for bit where an uninterrupted run ends",
          "[distributed][checkpoint]") {
    auto& comm = world();
    SharedDir dir(comm);
    Trainer whole(comm, 5);
    auto data = shard(comm, 6, /*shuffle=*/true);
    whole.model.train(2, data);
    const auto expected = testing::parameter_values(whole.net);

    struct CrashAt {  // the process dies after step 9; 8 was the last committed
        std::size_t step;
        void on_train_step_end(Ctx& ctx) {
            if (ctx.cur_step_num == step) throw std::runtime_error("simulated crash");
        }
    };
    {
        Trainer broken(comm, 5);
        auto data2 = shard(comm, 6, true);
        ModelCheckpoint ckpt("run", dir.path, {.save_checkpoint_steps = 4, .keep_checkpoint_max = 3});
        REQUIRE_THROWS_WITH(broken.model.train(2, data2, ckpt, CrashAt{9}), "simulated crash");
        CHECK(testing::parameter_values(broken.net) != expected);
    }
    comm.barrier();
    Trainer resumed(comm, 77);  // other weights: everything must come from the files
    const auto file = latest_checkpoint(dir.path);
    REQUIRE(file);
    CHECK(*file == rank_file(dir.path, comm.rank(), "run-2_2.ckpt"));
    CHECK(resumed.model.resume(load_checkpoint(*file)) == 8);
    auto data3 = shard(comm, 6, true);
    resumed.model.train(2, data3);
    CHECK(testing::parameter_values(resumed.net) == expected);
}

TEST_CASE("A rank that cannot write its file fails the step on every rank, and the step gets no manifest",
          "[distributed][checkpoint]") {
    auto& comm = world();
    const int n = comm.size(), me = comm.rank(), victim = n - 1;
    SharedDir dir(comm);
    Trainer t(comm, 2);
    auto data = shard(comm, 6);
    struct DiskFullFrom {  // the victim's files may not grow past 4 KiB from step 3 on (as a full disk: writes fail)
        int rank, victim;
        rlimit before{};
        void on_train_step_begin(Ctx& ctx) {
            if (rank != victim || ctx.cur_step_num != 3) return;
            ::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing the process
            ::getrlimit(RLIMIT_FSIZE, &before);
            rlimit small = before;
            small.rlim_cur = 4096;
            ::setrlimit(RLIMIT_FSIZE, &small);
        }
        void on_train_exception(Ctx&) {
            if (rank == victim && before.rlim_max) ::setrlimit(RLIMIT_FSIZE, &before);
        }
    };
    ModelCheckpoint ckpt("lenet", dir.path, {.save_checkpoint_steps = 2, .keep_checkpoint_max = 5});
    try {
        t.model.train(1, data, DiskFullFrom{me, victim}, ckpt);
        FAIL("the save of step 4 did not fail");
    } catch (const FileError& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("'lenet-1_4' was not committed") != std::string::npos);
        CHECK(what.find("rank " + std::to_string(victim) + ": ") != std::string::npos);
        CHECK(what.find("File too large") != std::string::npos);
    }
    comm.barrier();
    CHECK(names(committed_steps(dir.path)) == std::vector<std::string>{"lenet-1_2"});
    CHECK(!std::filesystem::exists(rank_file(dir.path, me, "lenet-1_4.ckpt")));  // an uncommitted file is removed
    CHECK(latest_checkpoint(dir.path) == rank_file(dir.path, me, "lenet-1_2.ckpt"));
}

TEST_CASE("A signal to one rank stops every rank at the same step, and the breakpoint checkpoint is committed",
          "[distributed][checkpoint]") {
    auto& comm = world();
    const int n = comm.size(), me = comm.rank();
    SharedDir dir(comm);
    Trainer t(comm, 3);
    auto data = shard(comm, 8);
    struct SignalAt {  // the last rank alone gets the signal, during step 3
        bool raises;
        void on_train_step_begin(Ctx& ctx) {
            if (raises && ctx.cur_step_num == 3) ::raise(SIGUSR1);
        }
    };
    ModelCheckpoint ckpt("lenet", dir.path,
                         {.save_checkpoint_steps = 2, .keep_checkpoint_max = 5, .exception_save = true,
                          .exception_save_signals = {SIGUSR1}});
    try {
        t.model.train(1, data, SignalAt{me == n - 1}, ckpt);
        FAIL("training was not interrupted");
    } catch (const TrainingInterrupted& e) {
        CHECK(e.signal() == SIGUSR1);
        const std::string what = e.what();
        CHECK(what.find("after epoch 1 step 3") != std::string::npos);
        CHECK((what.find("on another rank") != std::string::npos) == (me != n - 1));
    }
    comm.barrier();
    CHECK(names(committed_steps(dir.path)) == std::vector<std::string>{"lenet-1_2", "lenet-1_3_breakpoint"});
    CHECK(latest_checkpoint(dir.path) == rank_file(dir.path, me, "lenet-1_3_breakpoint.ckpt"));
}

namespace {
// A clock each rank moves on its own: rank 0's advances a second a step, the others' stand still.
struct RankClock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<RankClock>;
    static constexpr bool is_steady = true;
    static inline time_point t{};
    static time_point now() noexcept { return t; }
};
}  // namespace

TEST_CASE("Timed saves follow rank 0's clock on every rank", "[distributed][checkpoint]") {
    auto& comm = world();
    SharedDir dir(comm);
    Trainer t(comm, 4);
    auto data = shard(comm, 7);
    struct Tick {
        bool moves;
        void on_train_step_end(Ctx&) {
            if (moves) RankClock::t += std::chrono::seconds(1);
        }
    };
    RankClock::t = {};
    ModelCheckpoint<format::ckpt, trigger::from_config, RankClock> ckpt(
        "timed", dir.path, {.save_checkpoint_steps = 0, .save_checkpoint_seconds = 2, .keep_checkpoint_max = 10});
    t.model.train(1, data, Tick{comm.rank() == 0}, ckpt);
    comm.barrier();
    // rank 0: more than 2 s passed at steps 3 and 6; the last step is always saved
    CHECK(names(committed_steps(dir.path)) == std::vector<std::string>{"timed-1_3", "timed-1_6", "timed-1_7"});
}

TEST_CASE("With rank_0_only, rank 0 alone writes, and every rank resumes from its file", "[distributed][checkpoint]") {
    auto& comm = world();
    const bool async = GENERATE(false, true);
    INFO((async ? "async_save" : "sync save"));
    SharedDir dir(comm);
    Trainer t(comm, 6);
    auto data = shard(comm, 6);
    ModelCheckpoint ckpt("lenet", dir.path,
                         {.save_checkpoint_steps = 3, .keep_checkpoint_max = 5, .rank_0_only = true, .async_save = async});
    t.model.train(1, data, ckpt);
    comm.barrier();
    const auto steps = committed_steps(dir.path);
    REQUIRE(names(steps) == std::vector<std::string>{"lenet-1_3", "lenet-1_6"});
    REQUIRE(steps.back().files.size() == 1);
    CHECK(steps.back().files.front().path == "rank_0/lenet-1_6.ckpt");
    CHECK(std::filesystem::exists(rank_directory(dir.path, 0)));
    CHECK(!std::filesystem::exists(rank_directory(dir.path, 1)));
    CHECK(latest_checkpoint(dir.path) == rank_file(dir.path, 0, "lenet-1_6.ckpt"));
    CHECK(latest_checkpoint(comm, dir.path) == rank_file(dir.path, 0, "lenet-1_6.ckpt"));
    CHECK(ckpt.latest_ckpt_file_name() == rank_file(dir.path, 0, "lenet-1_6.ckpt"));
}
