// Counts heap allocations (global operator new, replaced in allocation_counter.cpp), so a test can
// prove a code path makes none. Link allocation_counter.cpp into the test program that uses it.
#pragma once

#include <cstddef>

namespace mindsave::testing {

std::size_t allocation_count() noexcept;
// The largest single allocation since reset_largest_allocation(): proves a path allocates nothing
// proportional to its input.
std::size_t largest_allocation_since_reset() noexcept;
void reset_largest_allocation() noexcept;

}  // namespace mindsave::testing
