// Momentum writing aside (WritesAside), what ModelCheckpoint's async_save reads in place: the same
// numbers as the update in place, the leased memory untouched, and a step that needs it waiting.
#include <algorithm>
#include <array>
#include <cmath>
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

// One large parameter (more than the 65,536 floats a step splits over threads and streams when writing
// aside, with an odd tail) beside a small one.
struct Wide {
    Parameter<1> big{std::array<std::size_t, 1>{70001}};
    Parameter<1> gamma{std::array<std::size_t, 1>{9}};  // no weight decay, as MindSpore's decay_filter
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("big"), big);
        f(std::string_view("bn.gamma"), gamma);
    }
};

// MindSpore's ApplyMomentum written out element by element, with weight decay first (nn.Momentum).
void reference_step(std::vector<float>& var, std::vector<float>& accum, std::vector<float> grad, float lr, float m,
                    float wd, bool nesterov) {
    for (std::size_t i = 0; i < var.size(); ++i) {
        grad[i] += wd * var[i];
        accum[i] = std::fma(accum[i], m, grad[i]);
        var[i] = std::fma(-lr, nesterov ? std::fma(accum[i], m, grad[i]) : accum[i], var[i]);
    }
}

static_assert(WritesAside<Momentum>);

TEST_CASE("Momentum's update of a large parameter, in place and written aside, equals ApplyMomentum element by "
          "element",
          "[optim][async]") {
    for (const bool nesterov : {false, true}) {
        INFO("use_nesterov " << nesterov);
        Wide w;
        for (std::size_t i = 0; i < w.big.size(); ++i) {
            w.big.value(i) = static_cast<float>(i % 101) * 0.01f - 0.5f;
            w.big.grad(i) = static_cast<float>(i % 37) * 0.003f - 0.05f;
        }
        for (std::size_t i = 0; i < w.gamma.size(); ++i) w.gamma.value(i) = 1.0f, w.gamma.grad(i) = 0.01f * i;
        std::vector<float> var(w.big.value.begin(), w.big.value.end()), accum(var.size(), 0.0f);
        const std::vector<float> grad(w.big.grad.begin(), w.big.grad.end());
        std::vector<float> gvar(w.gamma.value.begin(), w.gamma.value.end()), gaccum(gvar.size(), 0.0f);
        const std::vector<float> ggrad(w.gamma.grad.begin(), w.gamma.grad.end());
        Momentum opt(w, {.learning_rate = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f, .use_nesterov = nesterov});
        for (int step = 1; step <= 4; ++step) {
            std::copy(grad.begin(), grad.end(), w.big.grad.begin());  // as backward writes them each step
            std::copy(ggrad.begin(), ggrad.end(), w.gamma.grad.begin());
            AsideLease lease;
            if (step % 2 == 0) lease = opt.write_aside();  // steps 2 and 4 write aside (and stream)
            opt.step();
            lease.release();
            reference_step(var, accum, grad, 0.1f, 0.9f, 0.01f, nesterov);
            reference_step(gvar, gaccum, ggrad, 0.1f, 0.9f, 0.0f, nesterov);
            INFO("step " << step);
            REQUIRE(std::equal(var.begin(), var.end(), w.big.value.begin()));
            REQUIRE(std::equal(gvar.begin(), gvar.end(), w.gamma.value.begin()));
            std::vector<float> moment;
            visit_parameters(opt, [&](std::string_view name, auto& t) {
                if (name == "moments.big") moment.assign(t.begin(), t.end());
            });
            REQUIRE(moment == accum);
        }
    }
}

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
