// status.cc: formatting a Status's message (design in status.h).
#include "gc/status.h"

#include <cstdio>

#include "heap/base.h"

namespace gcheap {

Status::Status(StatusCode code, const char* fmt, va_list ap) : code_(code) {
  GC_CHECK(code != StatusCode::kOk, "an error status needs an error code");
  va_list again;
  va_copy(again, ap);
  const int n = vsnprintf(nullptr, 0, fmt, ap);
  if (n > 0) {
    message_.resize(static_cast<size_t>(n));
    // resize() keeps room for the terminator at data()[n].
    vsnprintf(message_.data(), static_cast<size_t>(n) + 1, fmt, again);
  }
  va_end(again);
}

#define GCHEAP_STATUS_MAKER(Name, code)   \
  Status Name(const char* fmt, ...) {     \
    va_list ap;                           \
    va_start(ap, fmt);                    \
    Status st(StatusCode::code, fmt, ap); \
    va_end(ap);                           \
    return st;                            \
  }

GCHEAP_STATUS_MAKER(InvalidArgumentError, kInvalidArgument)
GCHEAP_STATUS_MAKER(NotFoundError, kNotFound)
GCHEAP_STATUS_MAKER(ResourceExhaustedError, kResourceExhausted)

#undef GCHEAP_STATUS_MAKER

}  // namespace gcheap
