# cli_seed.cmake: checks that a generating `mola` command is reproducible by seed; used
# by tests/cli.cmake.
#
#   cmake -DSEED=S -DOTHER_SEEDS=s1,s2 -P cli_seed.cmake -- PROGRAM ARGS...
#
# Runs PROGRAM ARGS --seed S twice and once with each other seed. Every run must exit
# 0; the two runs with S must print the same non-empty stdout, and at least one other
# seed must print something different.
cmake_minimum_required(VERSION 3.19)

include(${CMAKE_CURRENT_LIST_DIR}/cli_command.cmake)
if(NOT command OR NOT DEFINED SEED OR NOT DEFINED OTHER_SEEDS)
  message(FATAL_ERROR "usage: cmake -DSEED=S -DOTHER_SEEDS=a,b -P cli_seed.cmake -- PROGRAM ARGS...")
endif()

set(failures "")
function(run_with seed out_var)
  execute_process(COMMAND ${command} --seed ${seed} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REPLACE ";" " " shown "${command} --seed ${seed}")
  message(STATUS "command: ${shown}\nexit status: ${rc}\n--- stdout ---\n${out}--- stderr ---\n${err}--------------")
  if(NOT rc EQUAL 0)
    set(failures "${failures}--seed ${seed}: exit status ${rc}, expected 0\n" PARENT_SCOPE)
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

run_with(${SEED} first)
run_with(${SEED} second)
string(STRIP "${first}" stripped)
if(stripped STREQUAL "")
  string(APPEND failures "--seed ${SEED} printed no text\n")
endif()
if(NOT first STREQUAL second)
  string(APPEND failures "two runs with --seed ${SEED} printed different text\n")
endif()

string(REPLACE "," ";" others "${OTHER_SEEDS}")
set(any_different FALSE)
foreach(seed IN LISTS others)
  run_with(${seed} other)
  if(NOT other STREQUAL first)
    set(any_different TRUE)
  endif()
endforeach()
if(NOT any_different)
  string(APPEND failures "seeds ${OTHER_SEEDS} all printed the same text as --seed ${SEED}\n")
endif()

if(failures)
  message(FATAL_ERROR "${failures}")
endif()
