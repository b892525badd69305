# cli_chat_save.cmake: checks that `mola chat` /save and /load continue a conversation
# in another process exactly as the original process would; used by tests/cli.cmake.
#
#   cmake -DWORK_DIR=dir -P cli_chat_save.cmake -- MOLA chat MODEL ARGS...
#
# Process 1 chats two turns with a /save between them; process 2 (/load) and process 3
# (--load) chat only the second turn and must print the same reply as process 1 did.
# A truncated and a corrupted copy of the file fail /load with exit status 1 and a
# message naming the file and the problem.
cmake_minimum_required(VERSION 3.19)

include(${CMAKE_CURRENT_LIST_DIR}/cli_command.cmake)
if(NOT command OR NOT DEFINED WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DWORK_DIR=dir -P cli_chat_save.cmake -- MOLA chat MODEL ARGS...")
endif()
file(MAKE_DIRECTORY ${WORK_DIR})
set(saved ${WORK_DIR}/chat.mola)
file(REMOVE ${saved})
set(turn2 "Now one that subtracts them.\n")
file(WRITE ${WORK_DIR}/both.txt "Write a function that adds two numbers.\n/save ${saved}\n${turn2}")
file(WRITE ${WORK_DIR}/load.txt "/load ${saved}\n${turn2}")
file(WRITE ${WORK_DIR}/second.txt "${turn2}")

set(failures "")
function(chat input out_var err_var rc_var)
  execute_process(COMMAND ${command} ${ARGN} INPUT_FILE ${input}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REPLACE ";" " " shown "${command} ${ARGN} < ${input}")
  message(STATUS "command: ${shown}\nexit status: ${rc}\n--- stdout ---\n${out}--- stderr ---\n${err}--------------")
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

chat(${WORK_DIR}/both.txt original err rc)
if(NOT rc EQUAL 0 OR NOT err MATCHES "saved 1 turn, [1-9][0-9]* tokens")
  string(APPEND failures "the first process did not save its turn (exit status ${rc})\n")
endif()
chat(${WORK_DIR}/load.txt loaded err rc)
if(NOT rc EQUAL 0 OR NOT err MATCHES "loaded .*chat.mola: 1 turn, [1-9][0-9]* tokens")
  string(APPEND failures "/load did not report the restored conversation (exit status ${rc})\n")
endif()
chat(${WORK_DIR}/second.txt started err rc --load ${saved})
if(NOT rc EQUAL 0)
  string(APPEND failures "--load: exit status ${rc}\n")
endif()

string(STRIP "${loaded}" stripped)
string(LENGTH "${original}" n_original)
string(LENGTH "${loaded}" n_loaded)
if(stripped STREQUAL "" OR n_loaded GREATER n_original)
  string(APPEND failures "the loaded chat printed no reply, or more than the original\n")
else()
  math(EXPR from "${n_original} - ${n_loaded}")
  string(SUBSTRING "${original}" ${from} -1 original_second)
  if(NOT original_second STREQUAL loaded)
    string(APPEND failures "the second reply after /load differs from the original process's\n")
  endif()
endif()
if(NOT started STREQUAL loaded)
  string(APPEND failures "the second reply after --load differs from the one after /load\n")
endif()

# A truncated and a corrupted copy.
execute_process(COMMAND dd if=${saved} of=${WORK_DIR}/cut.mola bs=100 count=3 RESULT_VARIABLE rc ERROR_QUIET)
file(COPY_FILE ${saved} ${WORK_DIR}/flipped.mola)
file(WRITE ${WORK_DIR}/junk.txt "XXXX")
execute_process(COMMAND dd if=${WORK_DIR}/junk.txt of=${WORK_DIR}/flipped.mola bs=1 seek=300 conv=notrunc
                RESULT_VARIABLE rc2 ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0)
  string(APPEND failures "dd could not prepare the damaged files\n")
endif()
foreach(pair "cut.mola=truncated" "flipped.mola=checksum mismatch")
  string(REGEX MATCH "^([^=]+)=(.*)$" _ "${pair}")
  set(file ${WORK_DIR}/${CMAKE_MATCH_1})
  set(want "${CMAKE_MATCH_2}")
  file(WRITE ${WORK_DIR}/bad.txt "/load ${file}\n${turn2}")
  chat(${WORK_DIR}/bad.txt out err rc)
  if(NOT rc EQUAL 1 OR NOT err MATCHES "${file}: .*${want}" OR NOT out STREQUAL "")
    string(APPEND failures "/load ${file}: exit status ${rc}, expected 1 with '${want}' and no reply\n")
  endif()
endforeach()

if(failures)
  message(FATAL_ERROR "${failures}")
endif()
