// The exception family of mindsave: one root, one child per kind of failure.
// Messages name the file, the parameter and the fix; callers build them, these types carry them.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace mindsave {

// Root of every error mindsave throws on bad input or a failed operation.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A file could not be opened, read, written or renamed (errno-style failures).
class FileError : public Error {
public:
    FileError(const std::filesystem::path& path, const std::string& what)
        : Error(path.string() + ": " + what), path_(path) {}
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

// A file's content breaks its format: bad magic, truncated, lengths past the end, counts that disagree.
class FormatError : public FileError {
public:
    using FileError::FileError;
};

// A tensor's shape does not fit where it is used.
class ShapeError : public Error {
public:
    using Error::Error;
};

// A dtype is unknown, or cannot be converted to the one required.
class DTypeError : public Error {
public:
    using Error::Error;
};

// A named parameter is missing, unexpected or ambiguous.
class ParameterError : public Error {
public:
    using Error::Error;
};

// An encrypted file did not decrypt: a wrong dec_key or dec_mode, or damaged cipher blocks.
class DecryptError : public FormatError {
public:
    using FormatError::FormatError;
};

// An option or configuration value is out of range or contradicts another.
class ConfigError : public Error {
public:
    using Error::Error;
};

// A collective operation among the processes of a distributed run failed (an MPI call returned an error,
// a peer process died): the message names the call.
class CommunicationError : public Error {
public:
    using Error::Error;
};

// Training produced a non-finite loss (LossMonitor stops the run with this).
class NonFiniteLossError : public Error {
public:
    using Error::Error;
};

// Training stopped at a step boundary because the process was asked to end (SIGTERM, SIGINT): thrown by
// ModelCheckpoint when CheckpointConfig::exception_save_signals lists the signal, after callbacks
// saw on_train_exception. signal() says which; 128 + signal() is the exit status a shell would report.
class TrainingInterrupted : public Error {
public:
    TrainingInterrupted(int signal, const std::string& what) : Error(what), signal_(signal) {}
    int signal() const noexcept { return signal_; }

private:
    int signal_;
};

}  // namespace mindsave
