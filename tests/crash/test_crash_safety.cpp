// Crash safety of ModelCheckpoint: crash_saver is SIGKILLed at random moments, hundreds of times, and
// the folder must only ever hold whole checkpoints under final names, the newest one loadable.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "crash_support.hpp"
#include "mindsave/mindsave.hpp"

using namespace mindsave;
using mindsave::testing::RandomBatches;
using mindsave::testing::describe_status;
using mindsave::testing::ScratchDir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kills_required = 200;
constexpr std::size_t extra_rounds_max = 60;   // after 200 kills, until one leaves a temp file behind
constexpr auto time_budget = std::chrono::seconds(25);  // the whole test stays under 30 s
constexpr int max_delay_us = 40'000;


std::vector<fs::path> files_ending(const fs::path& dir, std::string_view suffix) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().ends_with(suffix)) out.push_back(e.path());
    return out;
}

// AtomicFile's temp name is "<final>.<pid>-<k>.tmp": the pid says which process left it.
std::optional<pid_t> temp_owner(const fs::path& temp) {
    const std::string name = temp.filename().string();
    const auto stem = name.substr(0, name.size() - 4);  // without ".tmp"
    const auto dot = stem.rfind('.'), dash = stem.rfind('-');
    if (dot == std::string::npos || dash == std::string::npos || dash < dot) return std::nullopt;
    try {
        return static_cast<pid_t>(std::stol(stem.substr(dot + 1, dash - dot - 1)));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The run a checkpoint belongs to: "CKP-..." is run 0, "CKP_<n>-..." run n (MindSpore's _N rule).
std::optional<std::size_t> run_of(const fs::path& ckpt) {
    const std::string name = ckpt.filename().string();
    if (name.starts_with("CKP-")) return 0;
    const auto dash = name.find('-');
    if (!name.starts_with("CKP_") || dash == std::string::npos || dash == 4) return std::nullopt;
    const std::string digits = name.substr(4, dash - 4);
    if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoul(digits);
}

// Keeps the files of the two newest runs that have checkpoints (the one just killed and the one
// before), so the folder stays small while a restart always finds earlier runs' files beside it.
// Older runs go whole: their checkpoints and their {prefix}-graph.meta.
void prune_old_runs(const fs::path& dir) {
    std::map<std::size_t, std::vector<fs::path>> runs;
    for (const auto& f : files_ending(dir, ".ckpt"))
        if (const auto run = run_of(f)) runs[*run].push_back(f);
    if (runs.size() <= 2) return;
    const std::size_t oldest_kept = std::prev(runs.end(), 2)->first;
    std::vector<fs::path> old;
    for (const auto& e : fs::directory_iterator(dir)) {
        const auto run = run_of(e.path());
        const bool finished = !e.path().filename().string().ends_with(".tmp");  // temps: the next ModelCheckpoint's
        if (run && *run < oldest_kept && finished) old.push_back(e.path());
    }
    for (const auto& f : old) fs::remove(f);
}

// Every file under a final name must read back whole: framing, CRC footer, all 19 records of
// LeNet5 + Momentum. Returns the problems found, empty when there are none.
std::string torn_files(const fs::path& dir) {
    std::string problems;
    for (const auto& f : files_ending(dir, ".ckpt")) {
        try {
            const format::ckpt::Mapped file(f, {.crc_check = true});
            if (!file.contents().has_crc()) problems += f.string() + ": no CRC footer\n";
            if (file.records().size() != 19)
                problems += f.string() + ": " + std::to_string(file.records().size()) + " records, not 19\n";
        } catch (const Error& e) {
            problems += std::string(e.what()) + "\n";
        }
    }
    return problems;
}

}  // namespace

TEST_CASE("ModelCheckpoint killed at random moments never leaves a torn checkpoint, and the newest one "
          "always loads",
          "[checkpoint][crash]") {
    ScratchDir dir("mindsave_crash");
    std::mt19937 rng(20240611);  // fixed seed: the same schedule of delays on every run
    std::uniform_int_distribution<int> delay_us(0, max_delay_us);
    const auto start = Clock::now();

    std::size_t kills = 0, mid_write = 0, partial = 0, rounds_with_files = 0, files_checked = 0;
    std::int64_t last_step = -1;
    std::uintmax_t whole_size = 0;
    bool last_left_temp = false;

    for (std::size_t round = 0;; ++round) {
        if (Clock::now() - start > time_budget) break;
        if (kills >= kills_required && (last_left_temp || kills >= kills_required + extra_rounds_max)) break;

        const auto before = files_ending(dir.path, ".ckpt").size();
        testing::ChildProcess saver(MINDSAVE_CRASH_SAVER, dir.path.string());
        if (saver.pid() < 0) FAIL("fork: " << std::strerror(errno));
        if (round == 0) {
            // the first kill needs a file to exist, so the later rounds always have one to resume from
            const auto deadline = Clock::now() + std::chrono::seconds(10);
            while (files_ending(dir.path, ".ckpt").empty() && Clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            REQUIRE_FALSE(files_ending(dir.path, ".ckpt").empty());
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
        }
        if (const auto status = saver.ended()) FAIL("crash_saver ended before the kill: " << describe_status(*status));
        const pid_t pid = saver.pid();
        const int status = saver.kill_and_reap();
        REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
        ++kills;

        // A temp file of the killed pid means the kill landed between its creation and its rename.
        last_left_temp = false;
        for (const auto& t : files_ending(dir.path, ".tmp")) {
            const auto owner = temp_owner(t);
            INFO("temp file " << t.string());
            REQUIRE(owner);
            REQUIRE((::kill(*owner, 0) != 0 && errno == ESRCH));  // only dead writers leave temps
            if (*owner != pid) continue;
            last_left_temp = true;
            if (whole_size && fs::file_size(t) < whole_size) ++partial;
        }
        mid_write += last_left_temp;

        INFO("round " << round << ", folder " << dir.path.string());
        const std::string problems = torn_files(dir.path);
        REQUIRE(problems == "");  // on failure, the expansion lists every torn file
        const auto checkpoints = files_ending(dir.path, ".ckpt");
        REQUIRE_FALSE(checkpoints.empty());  // the newest durable checkpoint is never deleted
        files_checked += checkpoints.size();
        rounds_with_files += checkpoints.size() > before;
        if (!whole_size) whole_size = fs::file_size(checkpoints.front());

        const auto latest = latest_checkpoint(dir.path);
        REQUIRE(latest);
        REQUIRE(latest->extension() == ".ckpt");
        const std::int64_t step = checkpoint_step(format::ckpt::Mapped(*latest)).value_or(-1);
        CHECK(step >= last_step);  // the newest durable step never goes back
        last_step = step;
        LeNet5<> net(round + 1);
        Momentum opt(net, 0.01f, 0.9f);
        auto train = train_network(net, opt);
        REQUIRE_NOTHROW(load_param_into_net<match::strict>(train, load_checkpoint(*latest), {.require_all = true}));
        CHECK(opt.global_step() == step);

        prune_old_runs(dir.path);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    // A new ModelCheckpoint in the folder removes the temp files the killed writers left.
    const auto stray = files_ending(dir.path, ".tmp").size();
    { const ModelCheckpoint<> cleaner("CKP", dir.path, {.save_checkpoint_steps = 1, .keep_checkpoint_max = 3}); }
    CHECK(files_ending(dir.path, ".tmp").empty());

    std::printf("crash test: %zu kills in %.1f s; %zu landed mid-write (temp file of the killed pid left, %zu of "
                "them with partial bytes); %zu runs wrote a file; %zu checkpoint files verified; newest step %lld; "
                "%zu stray temp files removed by the final ModelCheckpoint\n",
                kills, seconds, mid_write, partial, rounds_with_files, files_checked,
                static_cast<long long>(last_step), stray);
    REQUIRE(kills >= kills_required);
    REQUIRE(mid_write > 0);
    CHECK(stray > 0);  // the final round was kept going until a kill left one, so the cleanup was exercised
}
