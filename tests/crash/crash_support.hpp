// What the crash and signal tests share: an in-memory dataset of random batches (they need steps and
// saves, not learning), a scratch folder removed however a test ends, and a child program run and reaped.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mindsave/core/concepts.hpp"
#include "mindsave/core/rng.hpp"

namespace mindsave::testing {

namespace fs = std::filesystem;

// A few random batches held in memory, modelling mindsave::Dataset.
class RandomBatches {
public:
    RandomBatches(std::size_t batches, std::size_t batch_size, std::uint64_t seed) {
        Generator g(seed);
        for (std::size_t b = 0; b < batches; ++b) {
            Tensor images = Tensor::from_shape({batch_size, 1, 32, 32});
            for (auto& v : images) v = static_cast<float>(g.uniform(-1.0, 1.0));
            Labels labels = Labels::from_shape({batch_size});
            for (auto& l : labels) l = static_cast<std::int32_t>(g.below(10));
            images_.push_back(std::move(images));
            labels_.push_back(std::move(labels));
        }
    }
    std::size_t get_dataset_size() const noexcept { return images_.size(); }
    void reset(std::size_t) noexcept { next_ = 0; }
    bool next(Batch& batch) {
        if (next_ == images_.size()) return false;
        batch.images = images_[next_];
        batch.labels = labels_[next_];
        ++next_;
        return true;
    }

private:
    std::vector<Tensor> images_;
    std::vector<Labels> labels_;
    std::size_t next_ = 0;
};

// A scratch folder, removed when the test ends, pass or fail.
struct ScratchDir {
    fs::path path;
    explicit ScratchDir(const std::string& name)
        : path(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// A child program started with one argument (stdout optionally to out_fd); killed and reaped however a
// test ends. fork() failing leaves pid() < 0 for the test to report.
class ChildProcess {
public:
    ChildProcess(const std::string& program, const std::string& argument, int out_fd = -1) {
        std::string exe = program, arg = argument;
        char* argv[] = {exe.data(), arg.data(), nullptr};  // built before fork: the child only execs
        pid_ = ::fork();
        if (pid_ == 0) {
            if (out_fd >= 0) ::dup2(out_fd, STDOUT_FILENO);
            ::execv(argv[0], argv);
            ::_exit(127);
        }
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() {
        if (pid_ > 0) kill_and_reap();
    }
    pid_t pid() const noexcept { return pid_; }

    // The wait status if the child already ended, without waiting.
    std::optional<int> ended() {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
        pid_ = -1;
        return status;
    }
    // Waits for the child to end; returns its wait status.
    int wait() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
        pid_ = -1;
        return status;
    }
    // SIGKILL, then wait.
    int kill_and_reap() {
        ::kill(pid_, SIGKILL);
        return wait();
    }

private:
    pid_t pid_ = -1;
};

inline std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

}  // namespace mindsave::testing
