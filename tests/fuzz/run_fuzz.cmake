# Builds fuzz_ckpt with clang++ (libFuzzer, ASan, UBSan) and fuzzes the .ckpt reader for a bounded
# time from a seed corpus in the build tree; on a crash, prints the reproducer as hex. Run by CTest.
foreach(var SOURCE DICT INCLUDE_DIRS WORK_DIR REPLAY SECONDS DEADLINE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake needs -D${var}=...")
  endif()
endforeach()
string(TIMESTAMP started "%s")
set(in_ci FALSE)
if("$ENV{CI}" STREQUAL "true")
  set(in_ci TRUE)
endif()

# A missing tool skips on a developer's machine but fails in CI, where it is installed on purpose.
macro(skip reason)
  if(in_ci)
    message(FATAL_ERROR "fuzz_ckpt cannot run in CI: ${reason}")
  endif()
  message(STATUS "SKIPPED: ${reason}")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.29)
    cmake_language(EXIT 4)
  endif()
  return()
endmacro()

if(NOT CLANGXX)
  find_program(found_clang NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
  if(found_clang)
    set(CLANGXX "${found_clang}")
  endif()
endif()
if(NOT CLANGXX)
  skip("clang++ not found (apt-get install clang libclang-rt-14-dev, or set MINDSAVE_FUZZ_CXX)")
endif()

file(MAKE_DIRECTORY "${WORK_DIR}/corpus" "${WORK_DIR}/artifacts")
set(sanitize -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# A trivial target first, so a missing fuzzer runtime skips while a harness that fails to compile fails.
file(WRITE "${WORK_DIR}/probe.cpp"
  "#include <cstddef>\n#include <cstdint>\n"
  "extern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
execute_process(COMMAND "${CLANGXX}" ${sanitize} "${WORK_DIR}/probe.cpp" -o "${WORK_DIR}/probe"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  skip("${CLANGXX} cannot link with -fsanitize=fuzzer (apt-get install libclang-rt-14-dev):\n${out}")
endif()

string(REPLACE "|" ";" include_list "${INCLUDE_DIRS}")
string(REPLACE "|" ";" definition_list "${DEFINITIONS}")
# -I/usr/include would put the system folder ahead of libstdc++'s own and break its #include_next.
list(REMOVE_DUPLICATES include_list)
list(REMOVE_ITEM include_list /usr/include /usr/local/include)
list(TRANSFORM include_list PREPEND "-I")
list(TRANSFORM definition_list PREPEND "-D")
set(fuzzer "${WORK_DIR}/fuzz_ckpt")
execute_process(
  COMMAND "${CLANGXX}" -std=c++20 -g -O1 ${sanitize} -Wall -Wextra ${include_list} ${definition_list}
    "${SOURCE}" -lprotobuf -o "${fuzzer}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling the fuzz target failed:\n${out}")
endif()
if(out)
  message(WARNING "the fuzz target compiles with warnings:\n${out}")
endif()

set(ENV{ASAN_OPTIONS} "detect_leaks=1:abort_on_error=1:symbolize=1")
set(ENV{UBSAN_OPTIONS} "print_stacktrace=1:halt_on_error=1")

# Reports a failed run: the end of its log, and every reproducer written, as hex. NOTICE prints
# the text as it is (the error modes re-wrap it).
function(report_crash what log)
  file(READ "${log}" text)
  string(LENGTH "${text}" n)
  if(n GREATER 8000)
    math(EXPR from "${n} - 8000")
    string(SUBSTRING "${text}" ${from} -1 text)
  endif()
  set(repro "")
  file(GLOB artifacts "${WORK_DIR}/artifacts/*")
  foreach(a IN LISTS artifacts)
    file(READ "${a}" hex HEX)
    string(APPEND repro "${a}:\n${hex}\n")
  endforeach()
  message(NOTICE "--- end of ${log} ---\n${text}\n--- reproducers (hex) ---\n${repro}")
  message(FATAL_ERROR "${what}")
endfunction()

# Seeds: the real MindSpore files (in full) and the hand-made ones, copied into the build tree;
# libFuzzer adds what it finds to the same folder, so later runs start from there.
if(FIXTURES AND IS_DIRECTORY "${FIXTURES}")
  file(GLOB fixtures "${FIXTURES}/*.ckpt")
  file(COPY ${fixtures} DESTINATION "${WORK_DIR}/corpus" NO_SOURCE_PERMISSIONS)
elseif(in_ci)
  message(FATAL_ERROR "the fixtures folder ${FIXTURES} is missing (set MINDSAVE_SHARED_DIR)")
else()
  message(STATUS "fixtures not found at ${FIXTURES}: fuzzing from the hand-made seeds only")
endif()
if(NOT EXISTS "${REPLAY}")
  message(FATAL_ERROR "${REPLAY} is not built: cmake --build <build> --target replay_ckpt")
endif()
execute_process(COMMAND "${REPLAY}" --write-seeds "${WORK_DIR}/corpus" RESULT_VARIABLE rc
  OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "writing the seeds failed:\n${out}")
endif()

# First every seed once, whole, under the sanitizers (the fuzzing run below caps input sizes).
file(GLOB seeds "${WORK_DIR}/corpus/seed_*" ${fixtures})
file(REMOVE_RECURSE "${WORK_DIR}/artifacts")
file(MAKE_DIRECTORY "${WORK_DIR}/artifacts")
execute_process(COMMAND "${fuzzer}" "-artifact_prefix=${WORK_DIR}/artifacts/" ${seeds}
  RESULT_VARIABLE rc OUTPUT_FILE "${WORK_DIR}/replay.log" ERROR_FILE "${WORK_DIR}/replay.log")
if(NOT rc EQUAL 0)
  report_crash("a seed file crashes the reader (exit ${rc})" "${WORK_DIR}/replay.log")
endif()
list(LENGTH seeds seed_count)

# Then fuzz, within what is left of the deadline; inputs up to 64 KiB keep mutations fast.
string(TIMESTAMP now "%s")
math(EXPR budget "${DEADLINE} - (${now} - ${started})")
if(budget GREATER SECONDS)
  set(budget ${SECONDS})
endif()
if(budget LESS 5)
  set(budget 5)
endif()
execute_process(
  COMMAND "${fuzzer}" "${WORK_DIR}/corpus" "-dict=${DICT}" -max_total_time=${budget} -rss_limit_mb=2048
    -max_len=65536 -timeout=10 -print_final_stats=1 "-artifact_prefix=${WORK_DIR}/artifacts/"
  RESULT_VARIABLE rc OUTPUT_FILE "${WORK_DIR}/fuzz.log" ERROR_FILE "${WORK_DIR}/fuzz.log")
if(NOT rc EQUAL 0)
  report_crash("the fuzzer found a failure (exit ${rc}); the reproducer is in ${WORK_DIR}/artifacts"
    "${WORK_DIR}/fuzz.log")
endif()

# A summary: executions, edges covered out of those instrumented, corpus size, the seed to rerun with.
file(READ "${WORK_DIR}/fuzz.log" log)
set(summary "")
foreach(pattern "Seed: [0-9]+" "\\([0-9]+ inline 8-bit counters\\)" "#[0-9]+\tDONE[^\n]*"
        "stat::number_of_executed_units: *[0-9]+" "stat::peak_rss_mb: *[0-9]+")
  string(REGEX MATCH "${pattern}" found "${log}")
  string(APPEND summary "\n  ${found}")
endforeach()
string(TIMESTAMP now "%s")
math(EXPR total "${now} - ${started}")
message(STATUS "fuzz_ckpt: ${seed_count} seeds replayed, ${budget} s of fuzzing, no failure (${total} s in all)${summary}")
