// detail::AsyncWriter, the one background writer behind save_checkpoint's async_save and ModelCheckpoint:
// writes end in order, never more than max_in_flight run, the snapshot is refilled only once released,
// and a failure is raised once, on the caller's thread.
#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "mindsave/checkpoint/async_writer.hpp"

using mindsave::detail::AsyncWriter;

TEST_CASE("each write's after_previous returns only once the write before it has ended", "[async_writer]") {
    AsyncWriter writer(2);
    std::vector<int> ended;
    std::mutex m;
    for (int i = 0; i < 8; ++i) {
        writer.wait_for_room();
        writer.start([&, i](auto&& release_snapshot, auto&& after_previous) {
            release_snapshot();
            after_previous();
            std::lock_guard lock(m);
            ended.push_back(i);
        });
    }
    writer.wait();
    CHECK(ended == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("a write starts only when the snapshot is released and fewer than max_in_flight run", "[async_writer]") {
    for (const int max_in_flight : {1, 2}) {
        INFO("max_in_flight " << max_in_flight);
        AsyncWriter writer(max_in_flight);
        std::promise<void> hold_first;
        auto first_may_end = hold_first.get_future().share();
        std::promise<void> first_released;
        writer.start([&](auto&& release_snapshot, auto&&) {
            release_snapshot();
            first_released.set_value();
            first_may_end.wait();
        });
        first_released.get_future().wait();
        // the first write still runs: with one allowed, a second must not start; with two, it may
        std::atomic<bool> second_ran{false};
        std::promise<void> second_started;
        std::thread starter([&] {
            writer.start([&](auto&&, auto&&) { second_ran = true; });
            second_started.set_value();
        });
        if (max_in_flight == 2) {
            second_started.get_future().wait();  // start returned while the first write still runs
        }
        if (max_in_flight == 1) CHECK_FALSE(second_ran.load());
        hold_first.set_value();
        starter.join();
        writer.wait();
        CHECK(second_ran.load());
    }
}

TEST_CASE("a write holding the snapshot keeps the next one from starting", "[async_writer]") {
    AsyncWriter writer(2);
    std::promise<void> hold;
    auto may_release = hold.get_future().share();
    std::atomic<bool> released{false};
    writer.start([&](auto&& release_snapshot, auto&&) {
        may_release.wait();
        released = true;
        release_snapshot();
    });
    std::thread releaser([&] { hold.set_value(); });
    writer.wait_for_room();  // returns only after the first write let go of the snapshot
    CHECK(released.load());
    releaser.join();
    writer.wait();
}

TEST_CASE("a failed write is raised once, by the next wait or wait_for_room, and can be forgotten", "[async_writer]") {
    AsyncWriter writer(2);
    writer.start([](auto&&, auto&&) { throw std::runtime_error("disk full"); });
    writer.start([](auto&&, auto&&) { throw std::runtime_error("second failure"); });
    CHECK_THROWS_WITH(writer.wait(), "disk full");  // the first failure, not the last
    CHECK_NOTHROW(writer.wait());
    writer.start([](auto&&, auto&&) { throw std::runtime_error("again"); });
    writer.wait_quietly();
    CHECK_THROWS_WITH(writer.wait_for_room(), "again");
    writer.start([](auto&&, auto&&) { throw std::runtime_error("dropped"); });
    writer.wait_quietly();
    writer.forget_error();
    CHECK_NOTHROW(writer.rethrow_error());
    CHECK_FALSE(writer.running());
}
