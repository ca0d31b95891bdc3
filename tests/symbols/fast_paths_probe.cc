// fast_paths_probe.c compiled as C++: C++ callers of runtime/gc.h's fast
// paths (the inlining decisions differ between the two front ends).
#include "tests/symbols/fast_paths_probe.c"
