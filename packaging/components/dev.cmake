# dev component: libmola-dev / libmola-devel, headers, the libmola.so link, mola.pc and the
# CMake package (mola::mola).
set(CPACK_COMPONENT_DEV_DISPLAY_NAME "mola development files")
set(CPACK_COMPONENT_DEV_DESCRIPTION
"Embeddable inference SDK for DeepSeek-class models (development files)
mola loads DeepSeek-class checkpoints (multi-head latent attention and
mixture-of-experts) and generates text through a small C API with a C++
facade. This package holds the headers (mola/mola.h, mola/mola.hpp), the
libmola.so link, the pkg-config file mola.pc and the CMake package that
find_package(mola) loads (imported target mola::mola).")
set(CPACK_COMPONENT_DEV_DEPENDS runtime)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libmola-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_RPM_DEV_PACKAGE_NAME libmola-devel)
set(CPACK_RPM_DEV_PACKAGE_SUMMARY "Embeddable inference SDK for DeepSeek-class models (development files)")
set(CPACK_RPM_DEV_PACKAGE_GROUP "Development/Libraries")
set(CPACK_RPM_DEV_PACKAGE_REQUIRES
  "libmola${MOLA_ABI_VERSION} = ${PROJECT_VERSION}, pkgconfig")
