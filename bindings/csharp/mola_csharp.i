// mola_csharp.i: C#-only parts of mola.i (included from it).
//
// The generated layer goes to namespace Mola.Native (swig -namespace, set in
// CMakeLists.txt) and P/Invokes libmola_csharp.so (UseSWIG's -dllimport), never
// the core libmola.so. Users program against the wrapper in namespace Mola; it
// compiles into the same Mola.dll. The proxies stay public: std_vector.i fixes
// the vectors' class modifiers before this file is read, and a public vector
// cannot expose an internal element type.
//
// Directors: Mono would unwind a managed exception straight through the native
// frames, so the wrapper's director subclasses catch everything themselves and
// return false, and the caller rethrows after the native call returns.
