# python.cmake: CPack settings of the python component, the mola Python package
# (python3-mola, .deb and .rpm). Included by packaging/CMakeLists.txt.
include(${CMAKE_CURRENT_LIST_DIR}/../exact_versions.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../package_docs.cmake)

set(CPACK_COMPONENT_PYTHON_DISPLAY_NAME "Python 3 binding")
set(_mola_python_summary "Python 3 binding of mola, the embeddable inference SDK")
set(_mola_python_description
    "The mola package: load DeepSeek-class models, tokenize, chat, fill in the\nmiddle and stream generated text from Python 3, over libmola0's C++ API.\nLogits come back as numpy arrays when python3-numpy is installed.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-mola)
mola_install_package_docs(python ${CPACK_DEBIAN_PYTHON_PACKAGE_NAME})
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "${_mola_python_summary}\n${_mola_python_description}")
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
# The extension is built for one Python minor version (3.11's ABI).
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
    "libmola0 (= ${MOLA_DEB_EXACT_VERSION}), python3 (>= 3.11), python3 (<< 3.12)")
set(CPACK_DEBIAN_PYTHON_PACKAGE_RECOMMENDS "python3-numpy")
# Byte-compiled files are made on installation and removed on removal, as for
# Debian's own Python packages.
set(MOLA_PYTHON_FULL_PACKAGE_DIR ${CMAKE_INSTALL_PREFIX}/${MOLA_PYTHON_INSTALL_DIR}/mola)
set(_mola_python_scripts ${CMAKE_BINARY_DIR}/packaging/python3-mola)
configure_file(${CMAKE_CURRENT_LIST_DIR}/../python3-mola/postinst.in ${_mola_python_scripts}/postinst @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/../python3-mola/prerm.in ${_mola_python_scripts}/prerm @ONLY)
set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_EXTRA ${_mola_python_scripts}/postinst ${_mola_python_scripts}/prerm)
set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_RPM_PYTHON_PACKAGE_NAME python3-mola)
set(CPACK_RPM_PYTHON_PACKAGE_SUMMARY "${_mola_python_summary}")
set(CPACK_RPM_PYTHON_PACKAGE_DESCRIPTION "${_mola_python_description}")
set(CPACK_RPM_PYTHON_PACKAGE_GROUP "Development/Languages")
configure_file(${CMAKE_CURRENT_LIST_DIR}/../python3-mola/preun.rpm.in ${_mola_python_scripts}/preun.rpm @ONLY)
set(CPACK_RPM_PYTHON_PRE_UNINSTALL_SCRIPT_FILE ${_mola_python_scripts}/preun.rpm)
set(CPACK_RPM_PYTHON_PACKAGE_REQUIRES
    "libmola0 = ${MOLA_RPM_EXACT_VERSION}, python3 >= 3.11, python3 < 3.12")
