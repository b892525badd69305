# runtime component: libmola0, the shared library with the CPU backend.
set(CPACK_COMPONENT_RUNTIME_DISPLAY_NAME "mola runtime library")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
"Embeddable inference SDK for DeepSeek-class models (runtime library)
mola loads DeepSeek-class checkpoints (multi-head latent attention and
mixture-of-experts) and generates text through a small C API with a C++
facade. This package holds the shared library libmola.so.0 with the CPU
backend (AVX2 and AVX-512 kernels chosen at run time).")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libmola${MOLA_ABI_VERSION})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_RPM_RUNTIME_PACKAGE_NAME libmola${MOLA_ABI_VERSION})
set(CPACK_RPM_RUNTIME_PACKAGE_SUMMARY "Embeddable inference SDK for DeepSeek-class models (runtime library)")
set(CPACK_RPM_RUNTIME_PACKAGE_GROUP "System Environment/Libraries")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${MOLA_DEB_LDCONFIG_TRIGGERS})
set(CPACK_RPM_RUNTIME_POST_INSTALL_SCRIPT_FILE ${MOLA_RPM_LDCONFIG_SCRIPT})
set(CPACK_RPM_RUNTIME_POST_UNINSTALL_SCRIPT_FILE ${MOLA_RPM_LDCONFIG_SCRIPT})
