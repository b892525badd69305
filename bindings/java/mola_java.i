// mola_java.i: Java-only parts of mola.i (included from it): UTF-8 strings and
// primitive arrays across JNI, and loading libmola_jni.so with a clear error.
// The generated classes go to dev.mola.internal (swig -package); users import
// the wrapper in dev.mola instead.

// The JNI library is loaded by a hand-written loader that reports a missing
// library as a MolaException naming it and java.library.path.
%pragma(java) jniclasscode=%{
  static {
    NativeLoader.load();
  }
%}

// Strings cross as UTF-8 bytes: JNI's own string calls use "modified UTF-8",
// which mangles characters outside the BMP and is undefined on invalid bytes.
%typemap(jni) std::string, const std::string& "jbyteArray"
%typemap(jtype) std::string, const std::string& "byte[]"
%typemap(jstype) std::string, const std::string& "String"
%typemap(javain) std::string, const std::string& "$javainput.getBytes(java.nio.charset.StandardCharsets.UTF_8)"
%typemap(javaout) std::string, const std::string& {
    return new String($jnicall, java.nio.charset.StandardCharsets.UTF_8);
  }
%typemap(in) std::string %{
  if (!$input) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null string");
    return $null;
  }
  {
    const jsize $1_n = jenv->GetArrayLength($input);
    $1.resize(size_t($1_n));
    if ($1_n) jenv->GetByteArrayRegion($input, 0, $1_n, reinterpret_cast<jbyte*>(&$1[0]));
  }
%}
%typemap(in) const std::string& ($*1_ltype temp) %{
  if (!$input) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null string");
    return $null;
  }
  {
    const jsize $1_n = jenv->GetArrayLength($input);
    temp.resize(size_t($1_n));
    if ($1_n) jenv->GetByteArrayRegion($input, 0, $1_n, reinterpret_cast<jbyte*>(&temp[0]));
  }
  $1 = &temp;
%}
%typemap(out) std::string %{
  {
    const std::string& $1_s = $1;
    $result = jenv->NewByteArray(jsize($1_s.size()));
    if ($result && !$1_s.empty())
      jenv->SetByteArrayRegion($result, 0, jsize($1_s.size()), reinterpret_cast<const jbyte*>($1_s.data()));
  }
%}
%typemap(out) const std::string& %{
  $result = jenv->NewByteArray(jsize($1->size()));
  if ($result && !$1->empty())
    jenv->SetByteArrayRegion($result, 0, jsize($1->size()), reinterpret_cast<const jbyte*>($1->data()));
%}
// The descriptor is the Java method's (String), not the JNI upcall's (byte[]).
%typemap(directorin, descriptor="Ljava/lang/String;") const std::string& %{
  $input = jenv->NewByteArray(jsize($1.size()));
  if ($input && !$1.empty())
    jenv->SetByteArrayRegion($input, 0, jsize($1.size()), reinterpret_cast<const jbyte*>($1.data()));
  Swig::LocalRefGuard $1_refguard(jenv, $input);
%}
%typemap(javadirectorin) const std::string& "new String($jniinput, java.nio.charset.StandardCharsets.UTF_8)"

// Token ids, logits and metadata cross as Java arrays in one copy (the wrapper
// would otherwise pay one JNI call per element).
%define MOLA_JAVA_ARRAY(CTYPE, JNITYPE, JAVATYPE, JNIELEM, Kind)
%typemap(jni) std::vector<CTYPE>, const std::vector<CTYPE>& "JNITYPE"
%typemap(jtype) std::vector<CTYPE>, const std::vector<CTYPE>& "JAVATYPE"
%typemap(jstype) std::vector<CTYPE>, const std::vector<CTYPE>& "JAVATYPE"
%typemap(javain) const std::vector<CTYPE>& "$javainput"
%typemap(javaout) std::vector<CTYPE> {
    return $jnicall;
  }
%typemap(in) const std::vector<CTYPE>& (std::vector<CTYPE> temp) %{
  if (!$input) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null array");
    return $null;
  }
  {
    const jsize $1_n = jenv->GetArrayLength($input);
    temp.resize(size_t($1_n));
    if ($1_n) jenv->Get##Kind##ArrayRegion($input, 0, $1_n, reinterpret_cast<JNIELEM*>(temp.data()));
  }
  $1 = &temp;
%}
%typemap(out) std::vector<CTYPE> %{
  {
    const std::vector<CTYPE>& $1_v = $1;
    $result = jenv->New##Kind##Array(jsize($1_v.size()));
    if ($result && !$1_v.empty())
      jenv->Set##Kind##ArrayRegion($result, 0, jsize($1_v.size()), reinterpret_cast<const JNIELEM*>($1_v.data()));
  }
%}
%enddef
MOLA_JAVA_ARRAY(int32_t, jintArray, int[], jint, Int)
MOLA_JAVA_ARRAY(float, jfloatArray, float[], jfloat, Float)
MOLA_JAVA_ARRAY(uint8_t, jbyteArray, byte[], jbyte, Byte)
