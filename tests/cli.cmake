# cli.cmake: tests of the shipped artefacts (included by tests/CMakeLists.txt): the
# exported symbol set and SONAME of libmola, and the `mola` command-line tool.

# The API tests run the CLI (test_c_api.cpp's golden comparison) and read JSON.
add_dependencies(mola_api_tests mola_cli)
target_link_libraries(mola_api_tests PRIVATE nlohmann_json::nlohmann_json)
# The header must stay strict C99: no C++ or GNU extensions leak into mola.h.
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/api/c_header_check.c PROPERTIES
  COMPILE_OPTIONS "-std=c99;-pedantic-errors;-Wstrict-prototypes;-Werror=strict-prototypes")

set(MOLA_RUN_CLI ${CMAKE_CURRENT_SOURCE_DIR}/run_cli.cmake)
set(MOLA_V3 ${MOLA_TEST_DATA}/v3)

# ---------------------------------------------------------------- libmola's ABI surface
find_program(MOLA_NM NAMES nm)
find_program(MOLA_READELF NAMES readelf)
if(MOLA_NM)
  add_test(NAME "lib: libmola exports only the mola_ functions of mola.h"
           COMMAND ${CMAKE_COMMAND} -DMODE=exports -DLIB=$<TARGET_FILE:mola> -DNM=${MOLA_NM}
                   -DHEADER=${PROJECT_SOURCE_DIR}/include/mola/mola.h
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/check_library.cmake)
endif()
if(MOLA_READELF)
  add_test(NAME "lib: libmola has SONAME libmola.so.${MOLA_ABI_VERSION}"
           COMMAND ${CMAKE_COMMAND} -DMODE=soname -DLIB=$<TARGET_FILE:mola> -DREADELF=${MOLA_READELF}
                   -DSONAME=libmola.so.${MOLA_ABI_VERSION}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/check_library.cmake)
endif()

# ---------------------------------------------------------------- the mola CLI
# Golden case 1 of the V3 test model: its tokens and logits shape.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${MOLA_V3}/golden.json ${MOLA_V3}/config.json)
file(READ ${MOLA_V3}/golden.json mola_golden)
string(JSON mola_case1_tokens GET "${mola_golden}" cases 1 tokens)
string(REGEX REPLACE "[][ \t\r\n]" "" mola_case1_tokens "${mola_case1_tokens}")
string(REPLACE "," " " mola_case1_tokens "${mola_case1_tokens}")
string(REGEX MATCHALL "[0-9]+" mola_case1_list "${mola_case1_tokens}")
list(LENGTH mola_case1_list mola_case1_n)
file(READ ${MOLA_V3}/config.json mola_v3_config)
string(JSON mola_v3_vocab GET "${mola_v3_config}" vocab_size)
math(EXPR mola_case1_bytes "${mola_case1_n} * ${mola_v3_vocab} * 4")

add_test(NAME "cli: info prints parameter counts and KV bytes per token"
         COMMAND ${CMAKE_COMMAND}
                 "-DSTDOUT_MATCH=parameters: +[1-9][0-9]* "
                 "-DSTDOUT_MATCH2=active per token: +[1-9][0-9]* "
                 "-DSTDOUT_MATCH3=KV cache per token: +[1-9][0-9]* bytes"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3})

# The numeric comparison with logits_1.npy is in test_c_api.cpp ("[cli][golden]"),
# so that no Python is needed; this checks the command and the .npy it writes.
add_test(NAME "cli: logits writes a float32 .npy of golden case 1"
         COMMAND ${CMAKE_COMMAND} -DNPY_FILE=${CMAKE_CURRENT_BINARY_DIR}/cli_logits_case1.npy
                 -DNPY_DATA_BYTES=${mola_case1_bytes}
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> logits ${MOLA_V3}
                 --tokens "${mola_case1_tokens}" --out ${CMAKE_CURRENT_BINARY_DIR}/cli_logits_case1.npy)

add_test(NAME "cli: generate -n 5 prints 5 token ids"
         COMMAND ${CMAKE_COMMAND} -DSTDOUT_INT_COUNT=5
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1 2 3" -n 5)

add_test(NAME "cli: bench --json prints one valid JSON object"
         COMMAND ${CMAKE_COMMAND}
                 -DSTDOUT_JSON_KEYS=model,backend,prefill_tokens_per_s,decode_tokens_per_s,weight_bytes_per_token,decode_weight_GB_per_s
                 -DSTDOUT_JSON_EXPECT=prompt_tokens=16,gen_tokens=4
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> bench ${MOLA_V3}
                 --prompt-tokens 16 --gen-tokens 4 --json)

add_test(NAME "cli: --version prints the build line"
         COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=mola ${PROJECT_VERSION}"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> --version)

# Bad usage exits 2 with the usage text; a bad model exits 1 with "error" on stderr.
add_test(NAME "cli: no arguments exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=usage:
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli>)
add_test(NAME "cli: an unknown command exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=frobnicate -DSTDERR_MATCH2=usage:
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> frobnicate ${MOLA_V3})
add_test(NAME "cli: an unknown option exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=--no-such-option
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3} --no-such-option)
add_test(NAME "cli: a missing model argument exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=usage:
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info)
add_test(NAME "cli: logits without --out exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=--out
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> logits ${MOLA_V3} --tokens "1 2 3")
add_test(NAME "cli: a non-numeric token exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=banana
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1 banana" -n 2)
add_test(NAME "cli: a bad -n value exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=-n
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1" -n five)
add_test(NAME "cli: a bad model path exits 1 with an error naming it"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 -DSTDERR_MATCH=error
                 -DSTDERR_MATCH2=${CMAKE_CURRENT_BINARY_DIR}/no_such_model
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${CMAKE_CURRENT_BINARY_DIR}/no_such_model)
add_test(NAME "cli: a token outside the vocabulary exits 1 with an error"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 -DSTDERR_MATCH=error -DSTDERR_MATCH2=vocabulary
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1 999999" -n 2)
