// no_iostreams.cc: keeps libstdc++'s standard streams out of libgc.so.1
// (linked into //runtime/boehm:libgc.so.1 only).
//
// libgc.so.1 links libstdc++ statically (runtime/boehm/BUILD.bazel,
// docs/boehm.md). Every translation unit that includes GCC 12's <iostream>
// holds a static std::ios_base::Init object, and Abseil's hashing headers
// include it (absl/hash -> absl/strings/cord.h -> <iostream>), so every
// file that uses absl::flat_hash_map does. Linked against libstdc++.so,
// its constructor ran once in that shared object; linked statically, it
// would pull libstdc++'s locale and stream code into the library (about
// 650 KB, most of the library's text) and build a second std::cout,
// std::cin, their wide forms and the classic locale at load time, every
// page of which a Boehm client would carry.
//
// Invariant: no code in the library reads or writes a standard stream
// (it reports with stdio), so these objects have nothing to set up. The
// constructor and destructor below do nothing; they are defined here,
// hidden (the assembler directive, as in operator_new.cc), so the
// references bind to them before libstdc++.a is searched and its
// ios_init.o is never linked. Were a stream used after all, the link
// would still succeed, with std::cout and its kin linked in and never
// constructed (tried): tests/boehm_clients:libgc_deps_test fails if the
// library defines std::cout, std::cerr, std::clog, std::cin or a wide one.
// Linked only where the library links libstdc++ statically (not under
// the sanitizers: runtime/boehm/BUILD.bazel).
#include <ios>

asm(".hidden _ZNSt8ios_base4InitC1Ev\n.hidden _ZNSt8ios_base4InitC2Ev\n"
    ".hidden _ZNSt8ios_base4InitD1Ev\n.hidden _ZNSt8ios_base4InitD2Ev\n");

std::ios_base::Init::Init() {}
std::ios_base::Init::~Init() {}
