# llama.cpp for the in-process `llama` backend and embedder (src/llama, *llama* sources).
# Headers come from the pinned source and the prebuilt CPU libraries from the pinned npm
# package, both fetched by scripts/fetch-llama.sh into a cache outside the repository.
# -DSMACS_WITH_LLAMA=OFF builds everything else without it.
option(SMACS_WITH_LLAMA "Build the in-process llama.cpp backend and embedder" ON)
if(DEFINED ENV{SMACS_LLAMA_DIR})
  set(_llama_default "$ENV{SMACS_LLAMA_DIR}")
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(_llama_default "$ENV{XDG_CACHE_HOME}/smacs/llama-cpp-3.22.1")
else()
  set(_llama_default "$ENV{HOME}/.cache/smacs/llama-cpp-3.22.1")
endif()
set(SMACS_LLAMA_DIR "${_llama_default}" CACHE PATH "llama.cpp fetched by scripts/fetch-llama.sh")

if(SMACS_WITH_LLAMA)
  if(NOT EXISTS "${SMACS_LLAMA_DIR}/.complete")
    message(FATAL_ERROR "llama.cpp not found in ${SMACS_LLAMA_DIR}: run scripts/fetch-llama.sh "
                        "(scripts/setup.sh does), or configure with -DSMACS_WITH_LLAMA=OFF")
  endif()
  set(_lib "${SMACS_LLAMA_DIR}/lib")
  add_library(smacs_llama_cpp INTERFACE)
  target_include_directories(smacs_llama_cpp SYSTEM INTERFACE
    "${SMACS_LLAMA_DIR}/src/include" "${SMACS_LLAMA_DIR}/src/ggml/include")
  target_link_libraries(smacs_llama_cpp INTERFACE
    "${_lib}/libllama.v0.5.0.so" "${_lib}/libggml.v0.5.0.so" "${_lib}/libggml-base.so" ${CMAKE_DL_LIBS})
  # The CPU variants (libggml-cpu-*.so) are opened at run time from the folder of libggml.
  set(CMAKE_BUILD_RPATH "${_lib}")
endif()

# llama.cpp's own llama-bench, built from the pinned source against the same prebuilt
# libraries, so the in-process backend is compared with it on equal terms (bench/).
function(smacs_add_llama_bench)
  set(_src "${SMACS_LLAMA_DIR}/src")
  add_executable(llama-bench "${_src}/tools/llama-bench/llama-bench.cpp"
                             "${_src}/tools/llama-bench/main.cpp")
  target_include_directories(llama-bench SYSTEM PRIVATE "${_src}/common" "${_src}/vendor")
  target_link_libraries(llama-bench PRIVATE smacs_llama_cpp "${SMACS_LLAMA_DIR}/lib/libllama-common.so")
  target_compile_options(llama-bench PRIVATE -w)
  set_target_properties(llama-bench PROPERTIES CXX_STANDARD 17)
endfunction()
