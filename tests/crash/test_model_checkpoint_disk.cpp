// ModelCheckpoint when a file cannot be written whole (RLIMIT_FSIZE standing in for a full disk): the
// save fails with a FileError naming the file and the cause, older checkpoints stay byte for byte, no temp remains.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "crash_support.hpp"
#include "mindsave/mindsave.hpp"

using namespace mindsave;
using mindsave::testing::RandomBatches;
using mindsave::testing::ScratchDir;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// Below one LeNet5 + Momentum checkpoint (494 KB), above nothing else the children write.
constexpr rlim_t file_size_limit = 200 << 10;



// Every checkpoint of a folder, name -> bytes: equal maps mean none was added, removed or changed.
std::map<std::string, std::vector<char>> checkpoints(const fs::path& dir) {
    std::map<std::string, std::vector<char>> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".ckpt") continue;
        std::ifstream in(e.path(), std::ios::binary);
        out[e.path().filename().string()].assign(std::istreambuf_iterator<char>(in), {});
    }
    return out;
}

std::size_t temp_files(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".tmp";
    return n;
}

struct ChildResult {
    int code = -1;        // the child's exit code, -1 if it did not exit normally
    std::string message;  // what it reported
};

// Runs body(message) in a forked child whose file size limit is file_size_limit, and returns its exit
// code and message. The child reports through a pipe and _exits: no Catch2 assertions run there.
template <class Body>
ChildResult run_with_file_size_limit(Body body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string message;
        int code = 0;
        try {
            const rlimit limit{file_size_limit, file_size_limit};
            // without SIGXFSZ ignored the kernel kills the writer; ignored, write() fails with EFBIG
            if (::setrlimit(RLIMIT_FSIZE, &limit) != 0 || ::signal(SIGXFSZ, SIG_IGN) == SIG_ERR) {
                message = std::string("cannot limit the file size: ") + std::strerror(errno);
                code = 10;
            } else {
                code = body(message);
            }
        } catch (const std::exception& e) {
            message = std::string("unexpected exception: ") + e.what();
            code = 11;
        } catch (...) {
            message = "unexpected non-standard exception";
            code = 12;
        }
        for (std::size_t done = 0; done < message.size();) {
            const ssize_t w = ::write(fds[1], message.data() + done, message.size() - done);
            if (w <= 0) break;
            done += static_cast<std::size_t>(w);
        }
        ::_exit(code);
    }
    ::close(fds[1]);
    ChildResult result;
    char buf[4096];
    for (ssize_t r; (r = ::read(fds[0], buf, sizeof buf)) != 0;) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        result.message.append(buf, static_cast<std::size_t>(r));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// Codes the child bodies return.
enum : int { threw_file_error = 0, did_not_throw = 1, threw_too_early = 2 };

// Steps the hooks of a ModelCheckpoint by hand, as Model::train would (2 steps per epoch).
template <class Ckpt, class Ctx>
void begin_step(Ckpt& ckpt, Ctx& ctx, std::size_t step) {
    ctx.cur_step_num = step;
    ctx.cur_epoch_num = (step - 1) / ctx.batch_num + 1;
    ckpt.on_train_step_begin(ctx);
}

}  // namespace

TEST_CASE("A save over the file size limit throws FileError naming the file, older checkpoints stay "
          "byte-identical and no temp file remains",
          "[checkpoint][disk]") {
    ScratchDir dir("mindsave_disk_sync");
    LeNet5<> net;
    SoftmaxCrossEntropyWithLogits<> loss;
    Momentum opt(net, 0.01f, 0.9f);
    Model model(net, loss, opt);
    RandomBatches data(2, 4, 7);
    // keep_checkpoint_max = 2 with two files present: a save that deleted before writing would show
    ModelCheckpoint<> ckpt("CKP", dir.path, {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2, .crc_check = true});
    model.train(1, data, ckpt);  // CKP-1_1.ckpt and CKP-1_2.ckpt, before the limit
    const auto before = checkpoints(dir.path);
    REQUIRE(before.size() == 2);
    for (const auto& [name, bytes] : before) REQUIRE(bytes.size() > file_size_limit);

    const auto result = run_with_file_size_limit([&](std::string& message) {
        try {
            model.train(2, data, ckpt);  // epoch 2, step 3: CKP-2_1.ckpt cannot be written
        } catch (const FileError& e) {
            message = e.what();
            return e.path() == dir.path / "CKP-2_1.ckpt" ? threw_file_error : threw_too_early;
        }
        return did_not_throw;
    });
    INFO("child message: " << result.message);
    REQUIRE(result.code == threw_file_error);
    CHECK_THAT(result.message, Contains((dir.path / "CKP-2_1.ckpt").string()));
    CHECK_THAT(result.message, Contains("file size limit"));
    CHECK_THAT(result.message, Contains("the previous file under this name, if any, is unchanged"));
    CHECK(checkpoints(dir.path) == before);  // no new or torn checkpoint, the old ones byte for byte
    CHECK(temp_files(dir.path) == 0);
    CHECK(latest_checkpoint(dir.path) == dir.path / "CKP-1_2.ckpt");
}

TEST_CASE("With async_save, the background writer's FileError is raised on the training thread at the "
          "next step begin or at train end, and older checkpoints stay byte-identical",
          "[checkpoint][disk][async]") {
    ScratchDir dir("mindsave_disk_async");
    LeNet5<> net;
    Momentum opt(net, 0.01f, 0.9f);
    RunContext<LeNet5<>, Momentum> ctx{net, opt};
    ctx.epoch_num = 10;
    ctx.batch_num = 2;
    ModelCheckpoint<> ckpt("CKP", dir.path,
                           {.save_checkpoint_steps = 1, .keep_checkpoint_max = 2, .async_save = true, .crc_check = true});
    for (std::size_t step = 1; step <= 2; ++step) {
        begin_step(ckpt, ctx, step);
        ckpt.on_train_step_end(ctx);
    }
    ckpt.on_train_end(ctx);  // waits for the write of step 2
    const auto before = checkpoints(dir.path);
    REQUIRE(before.size() == 2);
    const auto expected = dir.path / "CKP-2_1.ckpt";

    SECTION("the next on_train_step_begin raises it") {
        const auto result = run_with_file_size_limit([&](std::string& message) {
            try {
                begin_step(ckpt, ctx, 3);
                ckpt.on_train_step_end(ctx);  // snapshot taken, the write goes on in the background
            } catch (const Error& e) {
                message = std::string("step 3 threw before its write could fail: ") + e.what();
                return threw_too_early;
            }
            // the training thread goes on (step ends not called: no new save); the first step begin
            // after the failure reports it
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            for (std::size_t step = 4; std::chrono::steady_clock::now() < deadline; ++step) {
                try {
                    begin_step(ckpt, ctx, step);
                } catch (const FileError& e) {
                    message = e.what();
                    return e.path() == expected ? threw_file_error : threw_too_early;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            return did_not_throw;
        });
        INFO("child message: " << result.message);
        REQUIRE(result.code == threw_file_error);
        CHECK_THAT(result.message, Contains(expected.string()) && Contains("file size limit") &&
                                       Contains("the previous file under this name, if any, is unchanged"));
    }
    SECTION("on_train_end raises it") {
        const auto result = run_with_file_size_limit([&](std::string& message) {
            try {
                begin_step(ckpt, ctx, 3);
                ckpt.on_train_step_end(ctx);
            } catch (const Error& e) {
                message = std::string("step 3 threw before its write could fail: ") + e.what();
                return threw_too_early;
            }
            try {
                ckpt.on_train_end(ctx);  // step 3 was just saved: no new save, only the wait
            } catch (const FileError& e) {
                message = e.what();
                return e.path() == expected ? threw_file_error : threw_too_early;
            }
            return did_not_throw;
        });
        INFO("child message: " << result.message);
        REQUIRE(result.code == threw_file_error);
        CHECK_THAT(result.message, Contains(expected.string()) && Contains("file size limit"));
    }
    SECTION("Model::train stops with it") {
        SoftmaxCrossEntropyWithLogits<> loss;
        Model model(net, loss, opt);
        model.set_initial_step(2);
        RandomBatches data(2, 4, 7);
        const auto result = run_with_file_size_limit([&](std::string& message) {
            try {
                model.train(3, data, ckpt);  // step 3 starts CKP-2_1.ckpt in the background
            } catch (const FileError& e) {
                message = e.what();
                return e.path() == expected ? threw_file_error : threw_too_early;
            }
            return did_not_throw;
        });
        INFO("child message: " << result.message);
        REQUIRE(result.code == threw_file_error);
    }
    CHECK(checkpoints(dir.path) == before);  // no new or torn checkpoint, the old ones byte for byte
    CHECK(temp_files(dir.path) == 0);
}
