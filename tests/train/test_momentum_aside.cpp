// Momentum writing aside (WritesAside), what ModelCheckpoint's async_save reads in place: the same
// numbers as the update in place, the leased memory untouched, and a step that needs it waiting.
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/mindsave.hpp"

using namespace mindsave;

namespace {

// Gradients that differ by parameter, element and step, so every update is visible.
template <class Net>
void set_grads(Net& net, int step) {
    int k = 0;
    visit_parameters(net, [&](std::string_view, auto& p) {
        if constexpr (is_parameter<std::remove_cvref_t<decltype(p)>>::value) {
            ++k;
            for (std::size_t i = 0; i < p.grad.size(); ++i)
                p.grad.data()[i] = static_cast<float>((i * 7 + k * 13 + step * 5) % 23) * 0.01f - 0.1f;
        }
    });
}

std::vector<std::byte> bytes_of_all(const std::vector<ParameterRef>& refs) {
    std::vector<std::byte> out;
    for (const auto& r : refs) {
        const auto b = r.value().bytes;
        out.insert(out.end(), b.begin(), b.end());
    }
    return out;
}

std::vector<std::byte> moments_of(Momentum& opt) {
    std::vector<std::byte> out;
    visit_parameters(opt, [&](std::string_view name, auto& t) {
        if (!name.starts_with("moments.")) return;
        const auto b = view_of(t).bytes;
        out.insert(out.end(), b.begin(), b.end());
    });
    return out;
}

// The memory a lease covers, with a copy of what it held when the lease was taken.
struct Leased {
    std::vector<std::span<const std::byte>> memory;
    std::vector<std::vector<std::byte>> copy;

    explicit Leased(const Momentum& opt) {
        opt.visit_aside_memory([&](std::span<const std::byte> m) {
            memory.push_back(m);
            copy.emplace_back(m.begin(), m.end());
        });
    }
    bool unchanged() const {
        for (std::size_t i = 0; i < memory.size(); ++i)
            if (std::memcmp(memory[i].data(), copy[i].data(), copy[i].size()) != 0) return false;
        return true;
    }
};

}  // namespace

static_assert(WritesAside<Momentum>);

TEST_CASE("Momentum writing aside computes bit for bit what it computes in place, and leaves the leased memory "
          "as it was",
          "[optim][async]") {
    for (const bool nesterov : {false, true}) {
        INFO("use_nesterov " << nesterov);
        const MomentumOptions options{.learning_rate = 0.05f, .momentum = 0.9f, .weight_decay = 1e-3f,
                                      .use_nesterov = nesterov};
        LeNet5<> in_place_net(3), aside_net(3);
        Momentum in_place(in_place_net, options), aside(aside_net, options);
        const auto in_place_refs = get_parameters(in_place_net);
        const auto aside_refs = get_parameters(aside_net);  // taken before any buffer moves
        auto step_both = [&](int step) {
            set_grads(in_place_net, step);
            set_grads(aside_net, step);
            in_place.step();
            aside.step();
            REQUIRE(bytes_of_all(aside_refs) == bytes_of_all(in_place_refs));
            REQUIRE(moments_of(aside) == moments_of(in_place));
        };
        step_both(1);

        const Leased first(aside);
        const auto* weight_before = aside_net.get<"conv1">().weight().value.data();
        auto lease = aside.write_aside();
        REQUIRE(lease);
        step_both(2);  // writes aside: the parameters now live in the second buffers
        CHECK(aside_net.get<"conv1">().weight().value.data() != weight_before);
        CHECK(aside_refs.front().value().bytes.data() ==
              reinterpret_cast<const std::byte*>(aside_net.get<"conv1">().weight().value.data()));
        step_both(3);  // in place, in the second buffers
        step_both(4);
        CHECK(first.unchanged());  // three steps on, what the lease covers is as it was at step 1
        lease.release();

        const Leased second(aside);
        auto lease2 = aside.write_aside();
        step_both(5);  // writes into the first buffers again
        CHECK(aside_net.get<"conv1">().weight().value.data() == weight_before);
        step_both(6);
        CHECK(second.unchanged());
        CHECK(aside.global_step() == in_place.global_step());
    }
}

TEST_CASE("a step that would write memory a save still reads waits until its lease is released", "[optim][async]") {
    LeNet5<> net(5);
    Momentum opt(net, 0.05f, 0.9f);
    set_grads(net, 1);
    const Leased held(opt);
    auto lease1 = opt.write_aside();
    opt.step();                     // moves to the second buffers; the first stay leased
    auto lease2 = opt.write_aside();  // a second reader, of the second buffers
    std::thread trainer([&] { opt.step(); });  // needs the first buffers back
    // A step of LeNet5 takes microseconds: had it not waited, it would have overwritten them by now.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(held.unchanged());
    lease1.release();
    trainer.join();
    CHECK_FALSE(held.unchanged());  // the step went on once released, into the first buffers
    CHECK(opt.global_step() == 2);
}
