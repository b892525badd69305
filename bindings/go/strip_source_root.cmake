# strip_source_root.cmake: copies IN to OUT with every ROOT/ prefix removed, so the
# installed SWIG output names bindings/mola.i rather than the build machine's path.
#   cmake -DIN=<file> -DOUT=<file> -DROOT=<source root> -P strip_source_root.cmake
file(READ ${IN} text)
string(REPLACE "${ROOT}/" "" text "${text}")
file(WRITE ${OUT} "${text}")
