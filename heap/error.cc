#include "heap/error.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "heap/base.h"

namespace gcheap {
namespace {
thread_local char last_error[256];
}  // namespace

void SetLastError(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof(last_error), fmt, ap);
  va_end(ap);
}

const char* LastError() { return last_error; }

void ClearLastError() { last_error[0] = '\0'; }

void FatalError(const char* file, int line, const char* msg) {
  fprintf(stderr, "gcheap: fatal error at %s:%d: %s\n", file, line, msg);
  fflush(stderr);
  abort();
}

}  // namespace gcheap
