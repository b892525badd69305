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

add_test(NAME "cli: info prints the model fingerprint saved sessions check"
         COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=fingerprint: +[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f] "
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3})

add_test(NAME "cli: info prints KV bytes per token for each cache dtype and the budget"
         COMMAND ${CMAKE_COMMAND}
                 "-DSTDOUT_MATCH=KV cache per token: +252 bytes \\(fp8_e4m3"
                 "-DSTDOUT_MATCH2=KV bytes per token: +f32 768, bf16 384, fp8_e4m3 252"
                 "-DSTDOUT_MATCH3=KV cache budget: +1048576 bytes.*blocks of 16 tokens"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3} --kv-dtype fp8 --kv-budget 1M
                 --kv-block 16)
add_test(NAME "cli: info says whether the prefix cache is on"
         COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=prefix cache: +on"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3})
add_test(NAME "cli: --no-prefix-cache turns the prefix cache off"
         COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=prefix cache: +off"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3} --no-prefix-cache)
add_test(NAME "cli: generate --verbose reports the KV cache's blocks and the prefix cache"
         COMMAND ${CMAKE_COMMAND}
                 "-DSTDERR_MATCH=kv cache: +1 of [0-9]+ blocks in use, 0 cached; prefix cache: 0 hits, 0 tokens reused"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1 2 3" -n 4 -v)
add_test(NAME "cli: a KV block size that is not a power of two exits 1 naming it"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 "-DSTDERR_MATCH=kv_block_tokens 48" -DSTDERR_MATCH2=power
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3} --kv-block 48)
add_test(NAME "cli: an unknown --kv-dtype exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=--kv-dtype
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> info ${MOLA_V3} --kv-dtype fp4)
# One block of 16 tokens: the 14th generated token has no room.
add_test(NAME "cli: generate past the KV-cache budget exits 1 saying the cache is full"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 "-DSTDERR_MATCH=KV cache is full" -DSTDERR_MATCH2=6144
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1 2 3" -n 20
                 --ignore-eos --kv-block 16 --kv-budget 6144)

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

add_test(NAME "cli: bench --batch adds solo and batched decode speeds to the JSON"
         COMMAND ${CMAKE_COMMAND}
                 -DSTDOUT_JSON_KEYS=decode_tokens_per_s,solo_decode_tokens_per_s,batched_decode_tokens_per_s
                 -DSTDOUT_JSON_EXPECT=batch_sessions=3,gen_tokens=3
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> bench ${MOLA_V3}
                 --prompt-tokens 8 --gen-tokens 3 --batch 3 --json)
add_test(NAME "cli: bench --depths --json prints one valid JSON object"
         COMMAND ${CMAKE_COMMAND}
                 -DSTDOUT_JSON_KEYS=model,backend,depths,prefill,ttft,kv_bytes_per_token
                 -DSTDOUT_JSON_EXPECT=gen_tokens=2
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> bench ${MOLA_V3}
                 --depths 40,8 --gen-tokens 2 --json)
add_test(NAME "cli: bench --depths with a bad depth exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 "-DSTDERR_MATCH=positive token counts"
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> bench ${MOLA_V3} --depths 8,x)

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

# ---------------------------------------------------------------- text generation: run, chat, complete
set(MOLA_CLI_SEED ${CMAKE_CURRENT_SOURCE_DIR}/cli_seed.cmake)

# Checked without a text model: bad sampling values exit 2 before loading anything,
# and a model without a tokenizer, a missing file or a missing default model exit 1.
add_test(NAME "cli: run --temperature abc exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=--temperature -DSTDERR_MATCH2=abc
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${MOLA_V3} -p hi --temperature abc)
add_test(NAME "cli: run --top-p 2 exits 2 naming top_p"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=top_p
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${MOLA_V3} -p hi --top-p 2)
add_test(NAME "cli: run --seed -1 exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=--seed
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${MOLA_V3} -p hi --seed -1)
add_test(NAME "cli: run with a second positional argument exits 2"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=2 -DSTDERR_MATCH=-p
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${MOLA_V3} "a prompt")
add_test(NAME "cli: run on a model without a tokenizer exits 1 saying so"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 -DSTDERR_MATCH=tokenizer -DSTDERR_MATCH2=${MOLA_V3}
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${MOLA_V3} -p hi -n 2)
add_test(NAME "cli: chat on a model without a tokenizer exits 1 saying so"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 -DSTDERR_MATCH=tokenizer -DSTDIN_FILE=/dev/null
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> chat ${MOLA_V3})
add_test(NAME "cli: complete with a missing prefix file exits 1 naming it"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 -DSTDERR_MATCH=${CMAKE_CURRENT_BINARY_DIR}/no_such_prefix.py
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> complete ${MOLA_V3}
                 --prefix-file ${CMAKE_CURRENT_BINARY_DIR}/no_such_prefix.py)
add_test(NAME "cli: run without MODEL loads MOLA_DEFAULT_MODEL"
         COMMAND ${CMAKE_COMMAND} -DEXPECT_RC=1 -DSTDERR_MATCH=${CMAKE_CURRENT_BINARY_DIR}/no_such_default
                 -P ${MOLA_RUN_CLI} -- ${CMAKE_COMMAND} -E env
                 MOLA_DEFAULT_MODEL=${CMAKE_CURRENT_BINARY_DIR}/no_such_default
                 $<TARGET_FILE:mola_cli> run -p hi)
add_test(NAME "cli: generate with --temperature and --seed prints 5 token ids"
         COMMAND ${CMAKE_COMMAND} -DSTDOUT_INT_COUNT=5
                 -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> generate ${MOLA_V3} --tokens "1 2 3" -n 5
                 --ignore-eos --temperature 1 --seed 7)

# With a trained text model: the bundled one once it is committed (or any checkpoint
# with a tokenizer and FIM tokens, given as -DMOLA_CLI_TEST_MODEL=DIR).
set(MOLA_CLI_TEST_MODEL ${PROJECT_SOURCE_DIR}/share/models/mola-tiny-code CACHE PATH
    "a checkpoint with a tokenizer for the CLI's text-generation tests")
set(MOLA_BUNDLED_MODEL ${PROJECT_SOURCE_DIR}/share/models/mola-tiny-code)
if(EXISTS ${MOLA_CLI_TEST_MODEL}/config.json)
  set(M ${MOLA_CLI_TEST_MODEL})
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/cli_prompt.py "import os\n\n\ndef main():\n")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/cli_fim_prefix.py "def add(a, b):\n    return ")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/cli_fim_suffix.py "\n\n\nprint(add(1, 2))\n")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/cli_chat_two.txt
       "Write a function that adds two numbers.\nNow one that subtracts them.\n")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/cli_chat_reset.txt "def f():\n/reset\ndef f():\n/help\n/quit\nnever read\n")

  if(EXISTS ${MOLA_BUNDLED_MODEL}/config.json)
    add_test(NAME "cli: run without MODEL streams text from the bundled model"
             COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=[^ \t\r\n]" -DSTDERR_MATCH=mola-tiny-code
                     -P ${MOLA_RUN_CLI} -- ${CMAKE_COMMAND} -E env --unset=MOLA_DEFAULT_MODEL
                     $<TARGET_FILE:mola_cli> run -p "import os\n" -n 8)
    add_test(NAME "cli: tokenize without MODEL or --tokenizer uses the bundled model's tokenizer"
             COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=^[0-9]+ [0-9]+"
                     -P ${MOLA_RUN_CLI} -- ${CMAKE_COMMAND} -E env --unset=MOLA_DEFAULT_MODEL
                     $<TARGET_FILE:mola_cli> tokenize --text "import os" --ids)
  endif()
  add_test(NAME "cli: run -f prints text and --verbose the generation statistics"
           COMMAND ${CMAKE_COMMAND} "-DSTDOUT_MATCH=[^ \t\r\n]"
                   "-DSTDERR_MATCH=prompt: +[1-9][0-9]* tokens.*tokens/s"
                   "-DSTDERR_MATCH2=generated: +8 tokens" "-DSTDERR_MATCH3=finish: +length"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${M} -f ${CMAKE_CURRENT_BINARY_DIR}/cli_prompt.py
                   -n 8 --ignore-eos --verbose)
  add_test(NAME "cli: run --ctx stops at the context by default"
           COMMAND ${CMAKE_COMMAND} "-DSTDERR_MATCH=finish: +length" "-DSTDERR_NOT_MATCH=generated: +60 tokens"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${M} -f ${CMAKE_CURRENT_BINARY_DIR}/cli_prompt.py
                   -n 60 --ignore-eos --ctx 32 -v)
  add_test(NAME "cli: run --ctx --keep slides the context and generates past it"
           COMMAND ${CMAKE_COMMAND} "-DSTDERR_MATCH=generated: +60 tokens" "-DSTDERR_MATCH2=finish: +length"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${M} -f ${CMAKE_CURRENT_BINARY_DIR}/cli_prompt.py
                   -n 60 --ignore-eos --ctx 32 --keep 4 -v)
  add_test(NAME "cli: chat --slide goes on from the slid context on its next turn"
           COMMAND ${CMAKE_COMMAND} "-DSTDERR_MATCH=reused 0 tokens.*reused [1-9][0-9]* tokens, prefilled [0-9]+.*finish"
                   -DSTDIN_FILE=${CMAKE_CURRENT_BINARY_DIR}/cli_chat_two.txt
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> chat ${M} -n 40 --ignore-eos --ctx 48 --slide -v)
  add_test(NAME "cli: run with the same --seed prints the same text, other seeds other text"
           COMMAND ${CMAKE_COMMAND} -DSEED=1 -DOTHER_SEEDS=2,3,4
                   -P ${MOLA_CLI_SEED} -- $<TARGET_FILE:mola_cli> run ${M} -f ${CMAKE_CURRENT_BINARY_DIR}/cli_prompt.py
                   -n 16 --ignore-eos --temperature 1.2 --top-k 0 --top-p 1 --min-p 0 -q)
  add_test(NAME "cli: run --stop never prints the stop text"
           COMMAND ${CMAKE_COMMAND} "-DSTDOUT_NOT_MATCH=[e(]" "-DSTDERR_MATCH=finish: +stop"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> run ${M} -f ${CMAKE_CURRENT_BINARY_DIR}/cli_prompt.py
                   -n 64 --seed 1 --stop e --stop "(" -v)
  add_test(NAME "cli: chat reads one turn per line from stdin and reuses the cached conversation"
           COMMAND ${CMAKE_COMMAND} -DSTDIN_FILE=${CMAKE_CURRENT_BINARY_DIR}/cli_chat_two.txt
                   "-DSTDOUT_MATCH=\n.*\n"
                   "-DSTDERR_MATCH=reused 0 tokens, prefilled [1-9].*reused [1-9][0-9]* tokens, prefilled [1-9]"
                   "-DSTDERR_MATCH2=finish:.*finish:" "-DSTDERR_NOT_MATCH=finish:.*finish:.*finish:"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> chat ${M} -n 8 --system "You write Python." -v)
  add_test(NAME "cli: chat /reset forgets the conversation and /quit ends it"
           COMMAND ${CMAKE_COMMAND} -DSTDIN_FILE=${CMAKE_CURRENT_BINARY_DIR}/cli_chat_reset.txt
                   "-DSTDERR_MATCH=conversation reset" "-DSTDERR_MATCH2=finish:.*finish:"
                   "-DSTDERR_MATCH3=/reset" "-DSTDERR_NOT_MATCH=reused [1-9]|finish:.*finish:.*finish:"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> chat ${M} -n 4 -v)
  add_test(NAME "cli: chat /save and /load continue a conversation in another process"
           COMMAND ${CMAKE_COMMAND} -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/cli_chat_save
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/cli_chat_save.cmake -- $<TARGET_FILE:mola_cli> chat ${M}
                   -n 12 --temperature 1 --seed 3 -q)
  # The second conversation starts with the first one's prompt: its first full
  # block (of 4 tokens) comes from the prefix cache.
  add_test(NAME "cli: chat after /reset takes the prompt's cached blocks"
           COMMAND ${CMAKE_COMMAND} -DSTDIN_FILE=${CMAKE_CURRENT_BINARY_DIR}/cli_chat_reset.txt
                   "-DSTDERR_MATCH=prefix cache: 0 hits.*conversation reset.*prefix cache: 1 hits, [1-9][0-9]* tokens reused"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> chat ${M} -n 4 -v --kv-block 4)
  add_test(NAME "cli: complete fills in the middle between a prefix and a suffix file"
           COMMAND ${CMAKE_COMMAND} "-DSTDERR_MATCH=finish: +(eos|length)"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> complete ${M}
                   --prefix-file ${CMAKE_CURRENT_BINARY_DIR}/cli_fim_prefix.py
                   --suffix-file ${CMAKE_CURRENT_BINARY_DIR}/cli_fim_suffix.py -n 16 -v)
  add_test(NAME "cli: complete takes an inline prefix and suffix"
           COMMAND ${CMAKE_COMMAND} "-DSTDERR_MATCH=finish:"
                   -P ${MOLA_RUN_CLI} -- $<TARGET_FILE:mola_cli> complete ${M}
                   --prefix "x = [1, 2, 3]\ntotal = " --suffix "\nprint(total)\n" --path demo.py -n 8 -v)
endif()
