# exact_versions.cmake: the exact package versions of libmola0 that packages built
# against it must require (the bindings wrap the inline C++ facade, so they work
# only with the libmola0 they were built with). Included by packaging/components/*;
# it reads the global CPack version variables, so set those before including it.
#   MOLA_DEB_EXACT_VERSION  e.g. 0.1.0, or 1:0.1.0-2 with an epoch and a Debian revision
#   MOLA_RPM_EXACT_VERSION  e.g. 0.1.0 (RPM's "=" on a version alone matches any release)
if(CPACK_DEBIAN_PACKAGE_VERSION)
  set(MOLA_DEB_EXACT_VERSION ${CPACK_DEBIAN_PACKAGE_VERSION})
elseif(CPACK_PACKAGE_VERSION)
  set(MOLA_DEB_EXACT_VERSION ${CPACK_PACKAGE_VERSION})
else()
  set(MOLA_DEB_EXACT_VERSION ${PROJECT_VERSION})
endif()
if(CPACK_DEBIAN_PACKAGE_RELEASE)
  string(APPEND MOLA_DEB_EXACT_VERSION "-${CPACK_DEBIAN_PACKAGE_RELEASE}")
endif()
if(CPACK_DEBIAN_PACKAGE_EPOCH)
  string(PREPEND MOLA_DEB_EXACT_VERSION "${CPACK_DEBIAN_PACKAGE_EPOCH}:")
endif()

if(CPACK_RPM_PACKAGE_VERSION)
  set(MOLA_RPM_EXACT_VERSION ${CPACK_RPM_PACKAGE_VERSION})
elseif(CPACK_PACKAGE_VERSION)
  set(MOLA_RPM_EXACT_VERSION ${CPACK_PACKAGE_VERSION})
else()
  set(MOLA_RPM_EXACT_VERSION ${PROJECT_VERSION})
endif()
