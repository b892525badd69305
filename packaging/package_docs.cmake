# package_docs.cmake: mola_install_package_docs(<component> <deb package name>)
# installs what Debian wants in every package's /usr/share/doc/<package>/: the
# copyright file (the repository's MIT LICENSE) and changelog.gz (mola's .debs are
# native packages, so the changelog is the upstream one, written here with one
# entry for the project's version and dated by the last commit for reproducibility).
include_guard(GLOBAL)

set(MOLA_PACKAGE_DOCS_DIR ${CMAKE_BINARY_DIR}/packaging/docs)

function(mola_install_package_docs component package)
  if(CPACK_PACKAGE_CONTACT)
    set(maintainer "${CPACK_PACKAGE_CONTACT}")
  else()
    set(maintainer "The mola authors <mola@mola.dev>")
  endif()
  execute_process(COMMAND git log -1 --format=%ct WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE commit_time OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(commit_time)
    execute_process(COMMAND date -u -R -d @${commit_time} OUTPUT_VARIABLE date OUTPUT_STRIP_TRAILING_WHITESPACE)
  else()
    string(TIMESTAMP date "%a, %d %b %Y %H:%M:%S +0000" UTC)
  endif()
  set(dir ${MOLA_PACKAGE_DOCS_DIR}/${package})
  file(MAKE_DIRECTORY ${dir})
  set(changelog "${PROJECT_NAME} (${MOLA_DEB_EXACT_VERSION}) unstable; urgency=medium\n\n")
  string(APPEND changelog "  * Release ${PROJECT_VERSION}, packaged with CPack from the project's CMake build.\n\n")
  string(APPEND changelog " -- ${maintainer}  ${date}\n")
  file(WRITE ${dir}/changelog "${changelog}")
  # -n: no name or time stamp in the gzip header, so rebuilds are byte-identical.
  execute_process(COMMAND gzip -9nf ${dir}/changelog RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "gzip of ${dir}/changelog failed")
  endif()
  install(FILES ${dir}/changelog.gz DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component})
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}
          RENAME copyright COMPONENT ${component})
endfunction()
