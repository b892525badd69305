# java.cmake: CPack settings of the java component, mola.jar with its JNI library
# (libmola-java .deb, mola-java .rpm). Included by packaging/CMakeLists.txt.
include(${CMAKE_CURRENT_LIST_DIR}/../exact_versions.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../package_docs.cmake)

set(CPACK_COMPONENT_JAVA_DISPLAY_NAME "Java binding")
set(_mola_java_summary "Java binding of mola, the embeddable inference SDK")
set(_mola_java_description
    "The dev.mola package (/usr/share/java/mola.jar) and its JNI library\nlibmola_jni.so: load DeepSeek-class models, tokenize, chat, fill in the\nmiddle and stream generated text from Java 11 or later, over libmola0's\nC++ API.")

set(CPACK_DEBIAN_JAVA_PACKAGE_NAME libmola-java)
mola_install_package_docs(java ${CPACK_DEBIAN_JAVA_PACKAGE_NAME})
set(CPACK_DEBIAN_JAVA_DESCRIPTION "${_mola_java_summary}\n${_mola_java_description}")
set(CPACK_DEBIAN_JAVA_PACKAGE_SECTION java)
set(CPACK_DEBIAN_JAVA_PACKAGE_DEPENDS
    "libmola0 (= ${MOLA_DEB_EXACT_VERSION}), default-jre-headless | java17-runtime-headless")

set(CPACK_RPM_JAVA_PACKAGE_NAME mola-java)
set(CPACK_RPM_JAVA_PACKAGE_SUMMARY "${_mola_java_summary}")
set(CPACK_RPM_JAVA_PACKAGE_DESCRIPTION "${_mola_java_description}")
set(CPACK_RPM_JAVA_PACKAGE_GROUP "Development/Libraries")
set(CPACK_RPM_JAVA_PACKAGE_REQUIRES "libmola0 = ${MOLA_RPM_EXACT_VERSION}, java-headless >= 1:11")
