# cli component: the mola command-line tool with the bundled default model
# (/usr/share/mola/models/mola-tiny-code).
set(CPACK_COMPONENT_CLI_DISPLAY_NAME "mola command-line tool")
set(CPACK_COMPONENT_CLI_DESCRIPTION
"Embeddable inference SDK for DeepSeek-class models (command-line tool)
mola loads DeepSeek-class checkpoints (multi-head latent attention and
mixture-of-experts) and generates text. This package holds the mola
command (run, chat, complete, tokenize and model inspection) and the
small bundled model mola-tiny-code that it uses when no model is given.")
set(CPACK_COMPONENT_CLI_DEPENDS runtime)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME mola)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION science)
set(CPACK_RPM_CLI_PACKAGE_NAME mola)
set(CPACK_RPM_CLI_PACKAGE_SUMMARY "Embeddable inference SDK for DeepSeek-class models (command-line tool)")
set(CPACK_RPM_CLI_PACKAGE_GROUP "Applications/Engineering")
set(CPACK_RPM_CLI_PACKAGE_REQUIRES
  "libmola${MOLA_ABI_VERSION} = ${PROJECT_VERSION}")
