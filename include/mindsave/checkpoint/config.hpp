// CheckpointConfig as MindSpore's: when to save, how many files to keep, what goes in them; the
// same defaults, the same precedence rules (steps over seconds, keep_max over per_n_minutes), the same errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mindsave/checkpoint/parameter_source.hpp"
#include "mindsave/core/errors.hpp"
#include "mindsave/core/record.hpp"
#include "mindsave/io/signal_request.hpp"

namespace mindsave {

// An append_info item: "epoch_num", "step_num", or a dict of extra values (at most one).
using AppendInfoItem = std::variant<std::string, std::vector<NamedValue>>;

// What CheckpointConfig resolves to once its rules are applied (MindSpore's get_checkpoint_policy()).
struct CheckpointPolicy {
    std::int64_t save_checkpoint_steps = 0;          // 0: not by steps
    std::int64_t save_checkpoint_seconds = 0;        // 0: not by time
    std::int64_t keep_checkpoint_max = 0;            // 0: not by count
    std::int64_t keep_checkpoint_per_n_minutes = 0;  // 0: not by age
    bool exception_save = false;
    bool append_epoch_num = false, append_step_num = false;
    std::vector<NamedValue> append_dict;  // the user's dict, after epoch_num / step_num
};

struct CheckpointConfig {
    std::int64_t save_checkpoint_steps = 1;
    std::int64_t save_checkpoint_seconds = 0;
    std::int64_t keep_checkpoint_max = 5;
    std::int64_t keep_checkpoint_per_n_minutes = 0;
    bool integrated_save = true;  // accepted: data parallel has no sliced parameters to merge
    // Data parallel: rank 0 alone writes (its file is a full copy; BatchNorm statistics are rank 0's unless
    // Model::average_batchnorm_statistics ran); by default every rank writes rank_{r}/, as MindSpore.
    bool rank_0_only = false;
    bool async_save = false;      // write in the background; see ModelCheckpoint::snapshot for what is copied
    std::optional<ParameterSource> saved_network{};  // save only this (e.g. the network, not the optimizer)
    std::vector<AppendInfoItem> append_info{};       // e.g. {"epoch_num", "step_num"}
    bool exception_save = false;  // write {prefix}-{epoch}_{step}_breakpoint.ckpt when training throws
    // With exception_save, these signals (e.g. {SIGTERM, SIGINT}) end training at the next step boundary as
    // an exception would: the _breakpoint checkpoint, then TrainingInterrupted out of model.train().
    std::vector<int> exception_save_signals{};
    bool crc_check = false;
    // MindSpore's enc_key / enc_mode: every checkpoint written encrypted (see SaveOptions::enc_key).
    std::string enc_key{};
    std::string enc_mode = "AES-GCM";

    // Applies MindSpore's validation and precedence; throws ConfigError with MindSpore's message.
    CheckpointPolicy policy() const {
        auto non_negative = [](std::int64_t v, const char* name) {
            if (v < 0)
                throw ConfigError(std::string("CheckpointConfig: '") + name +
                                  "' must be int and must >= 0, but got '" + std::to_string(v) + "'");
        };
        non_negative(save_checkpoint_steps, "save_checkpoint_steps");
        non_negative(save_checkpoint_seconds, "save_checkpoint_seconds");
        non_negative(keep_checkpoint_max, "keep_checkpoint_max");
        non_negative(keep_checkpoint_per_n_minutes, "keep_checkpoint_per_n_minutes");
        if (!save_checkpoint_steps && !save_checkpoint_seconds && !keep_checkpoint_max && !keep_checkpoint_per_n_minutes)
            throw ConfigError("For 'CheckpointConfig', the input arguments 'save_checkpoint_steps', "
                              "'save_checkpoint_seconds', 'keep_checkpoint_max' and "
                              "'keep_checkpoint_per_n_minutes' can't be all None or 0.");
        CheckpointPolicy p;
        p.save_checkpoint_steps = save_checkpoint_steps;
        p.save_checkpoint_seconds = save_checkpoint_steps > 0 ? 0 : save_checkpoint_seconds;  // steps win
        if (keep_checkpoint_max > 0) {
            p.keep_checkpoint_max = keep_checkpoint_max;  // keep_max wins
        } else if (keep_checkpoint_per_n_minutes > 0) {
            p.keep_checkpoint_per_n_minutes = keep_checkpoint_per_n_minutes;
        } else {
            p.keep_checkpoint_max = 1;
        }
        p.exception_save = exception_save;
        if (crc_check && !enc_key.empty())
            throw ConfigError("CheckpointConfig: crc_check and enc_key cannot be used together (MindSpore documents "
                              "them as exclusive)");
        for (const int sig : exception_save_signals) detail::check_catchable(sig, "CheckpointConfig");
        if (!exception_save_signals.empty() && !exception_save)
            throw ConfigError("CheckpointConfig: exception_save_signals needs exception_save = true (the signals "
                              "end training with the _breakpoint checkpoint exception_save writes)");
        bool have_dict = false;
        for (const auto& item : append_info) {
            if (const auto* s = std::get_if<std::string>(&item)) {
                if (*s == "epoch_num") p.append_epoch_num = true;
                else if (*s == "step_num") p.append_step_num = true;
                else
                    throw ConfigError("For 'CheckpointConfig', the value of element in the argument 'append_info' "
                                      "must be in ['epoch_num', 'step_num'], but got '" + *s + "'");
            } else {
                if (have_dict)
                    throw ConfigError("For 'CheckpointConfig', 'append_info' can hold at most one dict");
                have_dict = true;
                p.append_dict = std::get<std::vector<NamedValue>>(item);
            }
        }
        return p;
    }
};

}  // namespace mindsave
