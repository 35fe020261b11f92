# Toolchain for the fully static musl /init: musl-gcc, linking only against
# the prefix that deps/build-static produces.
#
#   cmake -S . -B build-static -DEMBER_STATIC=ON \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/musl-toolchain.cmake \
#         [-DEMBER_STATIC_PREFIX=$(deps/build-static)]
#
# The prefix comes from the EMBER_STATIC_PREFIX cache variable, else from the
# environment variable of that name, else from running deps/build-static
# (about a second once its cache is warm; a cold cache builds it first).

if(NOT EMBER_STATIC_PREFIX)
  if(DEFINED ENV{EMBER_STATIC_PREFIX} AND NOT "$ENV{EMBER_STATIC_PREFIX}" STREQUAL "")
    set(_ember_prefix "$ENV{EMBER_STATIC_PREFIX}")
  else()
    message(STATUS "EMBER_STATIC_PREFIX not set: running deps/build-static")
    execute_process(
      COMMAND "${CMAKE_CURRENT_LIST_DIR}/../deps/build-static"
      OUTPUT_VARIABLE _ember_out
      RESULT_VARIABLE _ember_rc)
    if(NOT _ember_rc EQUAL 0)
      message(FATAL_ERROR "deps/build-static failed (exit ${_ember_rc})")
    endif()
    # The prefix is the last line; anything before it is not ours to parse.
    string(STRIP "${_ember_out}" _ember_out)
    string(REGEX REPLACE "^.*\n" "" _ember_prefix "${_ember_out}")
  endif()
  set(EMBER_STATIC_PREFIX "${_ember_prefix}" CACHE PATH
      "static musl prefix made by deps/build-static")
endif()

if(NOT EXISTS "${EMBER_STATIC_PREFIX}/bin/pkg-config"
   OR NOT EXISTS "${EMBER_STATIC_PREFIX}/kheaders/linux")
  message(FATAL_ERROR
    "EMBER_STATIC_PREFIX='${EMBER_STATIC_PREFIX}' is not a deps/build-static prefix")
endif()

# try_compile() projects re-read this file without the main project's cache.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EMBER_STATIC_PREFIX)

set(CMAKE_C_COMPILER musl-gcc)

# musl-gcc passes -nostdinc, so the kernel UAPI headers are only visible
# through the prefix's private copy; -idirafter keeps musl's own headers first.
set(CMAKE_C_FLAGS_INIT "-idirafter ${EMBER_STATIC_PREFIX}/kheaders")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Libraries, headers and packages come from the prefix only (the host's glibc
# -dev packages would link but not run); programs are the host's.
set(CMAKE_FIND_ROOT_PATH "${EMBER_STATIC_PREFIX}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The prefix's wrapper always answers for a static link (--static) and sees
# only the prefix's .pc files.
set(PKG_CONFIG_EXECUTABLE "${EMBER_STATIC_PREFIX}/bin/pkg-config" CACHE FILEPATH
    "pkg-config limited to the static musl prefix" FORCE)
