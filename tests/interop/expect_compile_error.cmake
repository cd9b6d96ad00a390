# Compiles SOURCE and passes only if compilation fails with export's message naming the layer type.
execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDE} ${SOURCE}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but exporting a layer without an export rule must not")
endif()
string(FIND "${err}" "has no export rule" has_message)
string(FIND "${err}" "Unexportable" names_layer)
if(has_message EQUAL -1 OR names_layer EQUAL -1)
  message(FATAL_ERROR "the compile error does not explain itself or name the layer:\n${err}")
endif()
message(STATUS "compile error as expected: names 'Unexportable' and says it has no export rule")
