# Runs COMPILER with ARGS (a ;-list) and fails with the compiler's output when it fails or warns.
# A compiler that is not installed skips the test, but fails it in CI (CI=true), where it must be there.
if(NOT COMPILER OR NOT EXISTS "${COMPILER}")
  if("$ENV{CI}" STREQUAL "true")
    message(FATAL_ERROR "${LABEL}: no such compiler (apt-get install clang clang-16, as README's command does)")
  endif()
  message("SKIPPED: ${LABEL}: compiler not installed")
  return()
endif()
execute_process(COMMAND ${COMPILER} ${ARGS} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0 OR NOT "${err}" STREQUAL "")
  message(FATAL_ERROR "${COMPILER} failed (${result}):\n${out}${err}")
endif()
