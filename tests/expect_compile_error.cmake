# Compiles SOURCE (-fsyntax-only, FLAGS added) and passes only if compilation fails with an error that
# contains every string of EXPECT (a ;-list): a compile-time check must fire and explain itself.
separate_arguments(extra UNIX_COMMAND "${FLAGS}")
execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only ${extra} -I${INCLUDE} ${SOURCE}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not: it breaks a compile-time check")
endif()
foreach(expected IN LISTS EXPECT)
  string(FIND "${err}" "${expected}" found)
  if(found EQUAL -1)
    message(FATAL_ERROR "the compile error does not say '${expected}':\n${err}")
  endif()
endforeach()
message(STATUS "compile error as expected, saying: ${EXPECT}")
