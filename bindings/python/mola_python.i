// mola_python.i: Python-only parts of mola.i (included from it).

// Directors take Python's GIL themselves (module threads="1"); keep the generated
// layer a private module inside the mola package.
%feature("director:except") {
    if ($error != NULL) {
        throw Swig::DirectorMethodException();
    }
}
