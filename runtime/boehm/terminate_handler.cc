// terminate_handler.cc: libgc.so.1's default terminate handler, without
// libstdc++'s demangler (linked into //runtime/boehm:libgc.so.1 only).
//
// libgc.so.1 links libstdc++ statically (runtime/boehm/BUILD.bazel,
// docs/boehm.md "Building and linking"). libstdc++'s std::terminate
// (eh_terminate.o, linked by the exception support every C++ object
// needs) names __gnu_cxx::__verbose_terminate_handler as the default
// handler, and that handler demangles the exception's type name with
// __cxa_demangle: cp-demangle.o, about 47 KB of code and tables, a tenth
// of the library, which every Boehm client would map and mostly keep
// resident (docs/benchmarks.md, "Peak RSS of the small rows").
//
// Defined here, hidden (the assembler directive, as in operator_new.cc),
// the reference binds to this definition before libstdc++.a is searched,
// so vterminate.o and cp-demangle.o are never linked. What it does is what
// libstdc++'s handler does, less the demangling: it says that terminate
// was called and, if an exception is active, its type's mangled name
// (c++filt reads it), on stderr, and aborts. Nothing in the library lets
// an exception escape on purpose; the handler is for the unexpected one
// (std::bad_alloc from a container when malloc fails, say).
// tests/boehm_clients:libgc_deps_test fails if __cxa_demangle is linked
// in again. Not under the sanitizers, which load the shared libstdc++
// (runtime/boehm/BUILD.bazel).
#include <cxxabi.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <typeinfo>

asm(".hidden _ZN9__gnu_cxx27__verbose_terminate_handlerEv\n");

namespace {

void WriteStderr(const char* s) { (void)!write(2, s, strlen(s)); }

}  // namespace

namespace __gnu_cxx {

void __verbose_terminate_handler() {
  WriteStderr("libgc.so.1: terminate called");
  if (const std::type_info* t = abi::__cxa_current_exception_type()) {
    WriteStderr(" after throwing an exception of type ");
    WriteStderr(t->name());
  }
  WriteStderr("\n");
  std::abort();
}

}  // namespace __gnu_cxx
