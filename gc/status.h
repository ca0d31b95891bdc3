// status.h: Status, the outcome of a core operation that can refuse its
// input (registering a root or a type): OK, or an error code with a
// readable message.
//
// gcheap's own replacement for absl::Status in the core (gc/, runtime/):
// absl::Status and absl::StrFormat live in Debian's shared Abseil, whose
// status library drags about thirty shared objects (cord, synchronization,
// time, symbolize...) and libstdc++.so into every process that loads
// libgc.so.1 (docs/decisions.md, "The core's errors are its own Status").
// Only what the core uses is here: four codes and a printf-formatted
// message, the form the C API hands on as gc_last_error()'s reason.
//
// Invariants: an OK status has code kOk and an empty message; an error
// status has any other code. Only an error's message allocates (a
// std::string, empty and inline when OK), so the success path of AddSlot
// and friends allocates nothing. Tests: tests/status_test.cc.
#ifndef GCHEAP_GC_STATUS_H_
#define GCHEAP_GC_STATUS_H_

#include <cstdarg>
#include <cstdint>
#include <string>

namespace gcheap {

enum class StatusCode : uint8_t {
  kOk,
  kInvalidArgument,    // the caller's input is malformed
  kNotFound,           // removing what was never registered
  kResourceExhausted,  // a fixed table is full
};

class Status {
 public:
  Status() = default;  // OK
  // An error (code != kOk) with the message fmt formats (vsnprintf).
  Status(StatusCode code, const char* fmt, va_list ap)
      __attribute__((format(printf, 3, 0)));

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The reason; "" when ok(). Valid while the status lives.
  const char* message() const { return message_.c_str(); }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
// Errors with printf-style messages.
Status InvalidArgumentError(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
Status NotFoundError(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
Status ResourceExhaustedError(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));

}  // namespace gcheap

#endif  // GCHEAP_GC_STATUS_H_
