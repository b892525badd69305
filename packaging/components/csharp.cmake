# csharp.cmake: CPack settings of the csharp component, Mola.dll with its native
# library (libmola-cil .deb, mola-cil .rpm). Included by packaging/CMakeLists.txt.
include(${CMAKE_CURRENT_LIST_DIR}/../exact_versions.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../package_docs.cmake)

set(CPACK_COMPONENT_CSHARP_DISPLAY_NAME "C# binding")
set(_mola_csharp_summary "C# (Mono) binding of mola, the embeddable inference SDK")
set(_mola_csharp_description
    "The Mola assembly (/usr/lib/cli/mola/Mola.dll) and its native library\nlibmola_csharp.so: load DeepSeek-class models, tokenize, chat, fill in the\nmiddle and stream generated text from C# under Mono, over libmola0's C++\nAPI. Compile against it with: mcs $(pkg-config --libs mola-sharp) app.cs")

set(CPACK_DEBIAN_CSHARP_PACKAGE_NAME libmola-cil)
mola_install_package_docs(csharp ${CPACK_DEBIAN_CSHARP_PACKAGE_NAME})
set(CPACK_DEBIAN_CSHARP_DESCRIPTION "${_mola_csharp_summary}\n${_mola_csharp_description}")
set(CPACK_DEBIAN_CSHARP_PACKAGE_SECTION cli-mono)
# libmola_csharp.so lives in the library directory: the ldconfig trigger (.deb)
# and scriptlets (.rpm) refresh the linker cache.
set(CPACK_DEBIAN_CSHARP_PACKAGE_CONTROL_EXTRA ${MOLA_DEB_LDCONFIG_TRIGGERS})
# Mola.dll references mscorlib and System (the 4.5 profile).
set(CPACK_DEBIAN_CSHARP_PACKAGE_DEPENDS
    "libmola0 (= ${MOLA_DEB_EXACT_VERSION}), mono-runtime (>= 6.8), libmono-corlib4.5-cil (>= 6.8), libmono-system4.0-cil (>= 6.8)")

set(CPACK_RPM_CSHARP_PACKAGE_NAME mola-cil)
set(CPACK_RPM_CSHARP_PACKAGE_SUMMARY "${_mola_csharp_summary}")
set(CPACK_RPM_CSHARP_PACKAGE_DESCRIPTION "${_mola_csharp_description}")
set(CPACK_RPM_CSHARP_PACKAGE_GROUP "Development/Libraries")
set(CPACK_RPM_CSHARP_POST_INSTALL_SCRIPT_FILE ${MOLA_RPM_LDCONFIG_SCRIPT})
set(CPACK_RPM_CSHARP_POST_UNINSTALL_SCRIPT_FILE ${MOLA_RPM_LDCONFIG_SCRIPT})
set(CPACK_RPM_CSHARP_PACKAGE_REQUIRES "libmola0 = ${MOLA_RPM_EXACT_VERSION}, mono-core >= 6.8")
