# go.cmake: CPack settings of the go component, the source of Go module
# mola.dev/mola for building against the installed libmola (golang-mola-dev .deb,
# golang-mola-devel .rpm). Included by packaging/CMakeLists.txt.
include(${CMAKE_CURRENT_LIST_DIR}/../exact_versions.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../package_docs.cmake)

set(CPACK_COMPONENT_GO_DISPLAY_NAME "Go binding (source)")
set(_mola_go_summary "Go binding of mola, the embeddable inference SDK (source)")
set(_mola_go_description
    "The source of Go module mola.dev/mola, in\n/usr/share/gocode/src/mola.dev/mola: load DeepSeek-class models, tokenize,\nchat, fill in the middle and stream generated text from Go, over libmola's\nC++ API through cgo. go build compiles it against the installed libmola-dev;\npoint a module at it with the go.mod line\nreplace mola.dev/mola => /usr/share/gocode/src/mola.dev/mola")

set(CPACK_DEBIAN_GO_PACKAGE_NAME golang-mola-dev)
mola_install_package_docs(go ${CPACK_DEBIAN_GO_PACKAGE_NAME})
set(CPACK_DEBIAN_GO_DESCRIPTION "${_mola_go_summary}\n${_mola_go_description}")
set(CPACK_DEBIAN_GO_PACKAGE_SECTION golang)
# cgo compiles the C++ wrapper against libmola-dev's headers with g++ when the
# module is built.
set(CPACK_DEBIAN_GO_PACKAGE_DEPENDS
    "libmola0 (= ${MOLA_DEB_EXACT_VERSION}), libmola-dev (= ${MOLA_DEB_EXACT_VERSION}), golang-go, g++")

set(CPACK_RPM_GO_PACKAGE_NAME golang-mola-devel)
set(CPACK_RPM_GO_PACKAGE_SUMMARY "${_mola_go_summary}")
set(CPACK_RPM_GO_PACKAGE_DESCRIPTION "${_mola_go_description}")
set(CPACK_RPM_GO_PACKAGE_GROUP "Development/Libraries")
set(CPACK_RPM_GO_PACKAGE_REQUIRES
    "libmola0 = ${MOLA_RPM_EXACT_VERSION}, libmola-devel = ${MOLA_RPM_EXACT_VERSION}, golang, gcc-c++")
