# Installs mindsave into a scratch prefix, then builds and runs a consumer that finds it with
# find_package(mindsave CONFIG): the path a user takes after `cmake --install`.
foreach(var SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

step(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/lib-build" -DCMAKE_INSTALL_PREFIX=${prefix}
     -DMINDSAVE_BUILD_TESTS=OFF -DMINDSAVE_BUILD_BENCHMARKS=OFF -DMINDSAVE_BUILD_EXAMPLES=OFF
     -DMINDSAVE_BUILD_TOOLS=OFF)
step(${CMAKE_COMMAND} --install "${WORK_DIR}/lib-build")
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install_consumer" -B "${WORK_DIR}/consumer-build"
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
step(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer-build")
execute_process(COMMAND "${WORK_DIR}/consumer-build/consumer" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "conv1.weight \\[6, 1, 5, 5\\]")
  message(FATAL_ERROR "consumer failed (${rc}):\n${out}")
endif()
message(STATUS "consumer output:\n${out}")

# The cipher component round-trips an encrypted checkpoint; only its program needs libcrypto.
execute_process(COMMAND "${WORK_DIR}/consumer-build/crypto_consumer" "${WORK_DIR}/enc.ckpt" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "encrypted round trip ok")
  message(FATAL_ERROR "crypto_consumer failed (${rc}):\n${out}")
endif()
find_program(READELF readelf REQUIRED)
execute_process(COMMAND ${READELF} -d "${WORK_DIR}/consumer-build/consumer" OUTPUT_VARIABLE core_needs)
execute_process(COMMAND ${READELF} -d "${WORK_DIR}/consumer-build/crypto_consumer" OUTPUT_VARIABLE crypto_needs)
if(core_needs MATCHES "libcrypto" OR NOT crypto_needs MATCHES "libcrypto")
  message(FATAL_ERROR "libcrypto must be linked by the cipher consumer only:\n${core_needs}\n${crypto_needs}")
endif()

# The image component decodes what it encodes; only its program needs libturbojpeg and libpng.
execute_process(COMMAND "${WORK_DIR}/consumer-build/vision_consumer" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "vision round trip ok")
  message(FATAL_ERROR "vision_consumer failed (${rc}):\n${out}")
endif()
execute_process(COMMAND ${READELF} -d "${WORK_DIR}/consumer-build/vision_consumer" OUTPUT_VARIABLE vision_needs)
if(core_needs MATCHES "turbojpeg|libpng" OR NOT vision_needs MATCHES "libturbojpeg" OR NOT vision_needs MATCHES "libpng")
  message(FATAL_ERROR "libturbojpeg and libpng must be linked by the vision consumer only:\n${core_needs}\n${vision_needs}")
endif()
# Data-parallel training is opt-in too: a program that does not include distributed/mpi.hpp links no MPI.
if(core_needs MATCHES "libmpi" OR vision_needs MATCHES "libmpi")
  message(FATAL_ERROR "a program without distributed/mpi.hpp links MPI:\n${core_needs}")
endif()
