// MindSpore's OnRequestExit callback: a signal (SIGTERM by default: a scheduler's pre-emption) ends
// training at the next step boundary with the train network saved as {file_name}_train.ckpt / .mindir.
#pragma once

#include <signal.h>

#include <array>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "mindsave/checkpoint/export.hpp"
#include "mindsave/checkpoint/load.hpp"
#include "mindsave/checkpoint/load_param.hpp"
#include "mindsave/checkpoint/save.hpp"
#include "mindsave/checkpoint/train_network.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/graph/anf_meta.hpp"
#include "mindsave/io/signal_request.hpp"

namespace mindsave {

// As mindspore.train.OnRequestExit(save_ckpt, save_mindir, file_name, directory, sig):
// - on_train_begin installs the handler, which only counts the signal; when save_ckpt and
//   {directory}/{file_name}_train.ckpt exists, it is loaded into the network and optimizer first, as
//   MindSpore does (parameters only: to continue the step count too, model.resume() from the file).
// - at the end of the step (or epoch) during which the signal came, training stops; on_train_end then
//   writes {file_name}_train.ckpt (network, then optimizer with its global_step: the steps done) and,
//   with save_mindir, {file_name}_train.mindir (the network for the last batch's input shape). Both
//   writes are atomic and durable; the handler stays until they are done, then the previous one returns.
// - model.train() returns normally. requested() says the run was asked to end; a program that then
//   ends returns exit_status() from main: 128 + the signal (143 for SIGTERM), what a shell reports for a
//   process the signal ended, so job schedulers read it as a clean pre-emption.
class OnRequestExit {
public:
    explicit OnRequestExit(bool save_ckpt = true, bool save_mindir = true, std::string file_name = "Net",
                           std::filesystem::path directory = "./", int sig = SIGTERM)
        : save_ckpt_(save_ckpt), save_mindir_(save_mindir), sig_(sig) {
        detail::check_catchable(sig, "OnRequestExit");
        if (save_ckpt || save_mindir) {
            if (file_name.empty() || file_name.find('/') != std::string::npos)
                throw ConfigError("OnRequestExit: file_name must be a non-empty name without '/', got '" + file_name + "'");
            std::error_code ec;
            std::filesystem::create_directories(directory, ec);
            if (!std::filesystem::is_directory(directory))
                throw FileError(directory, "OnRequestExit: cannot create the directory to save in: " + ec.message());
            train_file_ = std::filesystem::absolute(directory) / (file_name + "_train");
        }
    }
    OnRequestExit(const OnRequestExit&) = delete;
    OnRequestExit& operator=(const OnRequestExit&) = delete;
    OnRequestExit(OnRequestExit&&) = delete;

    template <class Ctx>
    void on_train_begin(Ctx& ctx) {
        using Net = std::remove_cvref_t<decltype(ctx.network)>;
        if constexpr (!graph::Traceable<Net>)
            if (save_mindir_)
                throw ConfigError("OnRequestExit: this network has a layer MindIR export does not know, so it cannot "
                                  "be saved as " + mindir_path().string() + "; pass save_mindir = false");
        requested_ = false;
        const std::array<int, 1> sigs{sig_};
        signals_.install(sigs, "OnRequestExit");
        if (save_ckpt_ && std::filesystem::is_regular_file(checkpoint_path())) {
            auto train = train_network(ctx.network, ctx.optimizer);
            load_param_into_net<match::strict>(train, load_checkpoint(checkpoint_path()));
        }
    }
    template <class Ctx>
    void on_train_step_end(Ctx& ctx) { check(ctx); }
    template <class Ctx>
    void on_train_epoch_end(Ctx& ctx) { check(ctx); }

    template <class Ctx>
    void on_train_end(Ctx& ctx) {
        requested_ = requested_ || signals_.pending().has_value();  // a signal during the last step
        if (requested_) {
            if (save_ckpt_) save_checkpoint(train_network(ctx.network, ctx.optimizer), checkpoint_path());
            using Net = std::remove_cvref_t<decltype(ctx.network)>;
            if constexpr (graph::Traceable<Net>)
                if (save_mindir_ && ctx.batch) export_model<format::mindir>(ctx.network, ctx.batch->images, train_file_);
            signals_.acknowledge();  // served: a second signal during the save asked for the same
        }
        signals_.release_and_redeliver();  // one after this point goes to the handler from before
    }
    // Training failed: a signal that came meanwhile still reaches the handler from before.
    template <class Ctx>
    void on_train_exception(Ctx&) { signals_.release_and_redeliver(); }

    // Whether the signal came during the last train(); what main should then return.
    bool requested() const noexcept { return requested_; }
    int exit_status() const noexcept { return 128 + sig_; }
    int signal() const noexcept { return sig_; }
    std::filesystem::path checkpoint_path() const { return train_file_.string() + ".ckpt"; }
    std::filesystem::path mindir_path() const { return train_file_.string() + ".mindir"; }

private:
    template <class Ctx>
    void check(Ctx& ctx) noexcept {
        if (signals_.pending()) {
            signals_.acknowledge();  // this callback serves it; another watcher does not act on it again
            requested_ = true;
            ctx.request_stop();
        }
    }

    bool save_ckpt_, save_mindir_;
    int sig_;
    std::filesystem::path train_file_;
    bool requested_ = false;
    SignalRequest signals_;
};

}  // namespace mindsave
