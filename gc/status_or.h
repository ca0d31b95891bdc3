// status_or.h: StatusOr<T>, a value or the Status (gc/status.h) that says
// why there is none: what TypeTable::Register returns (a type id or the
// reason the description was refused).
//
// gcheap's replacement for absl::StatusOr in the core (status.h says why).
// T is a small trivially copyable value (an id): the value is stored
// beside the status, value-initialized when there is none, so no union or
// placement is needed.
//
// Invariants: ok() exactly when the status is OK; a StatusOr made from a
// Status holds an error (making one from an OK status is a bug, checked
// always, as reading the value of an error is).
#ifndef GCHEAP_GC_STATUS_OR_H_
#define GCHEAP_GC_STATUS_OR_H_

#include <type_traits>
#include <utility>

#include "gc/status.h"
#include "heap/base.h"

namespace gcheap {

template <typename T>
class StatusOr {
  static_assert(std::is_trivially_copyable_v<T>,
                "StatusOr holds small trivially copyable values");

 public:
  // Implicit, as absl's: `return value;` and `return SomeError(...);`.
  StatusOr(T value) : value_(value) {}  // NOLINT(runtime/explicit)
  StatusOr(Status status)               // NOLINT(runtime/explicit)
      : status_(std::move(status)) {
    GC_CHECK(!status_.ok(), "StatusOr made from an OK status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const T& value() const {
    GC_CHECK(ok(), "StatusOr::value() of an error");
    return value_;
  }
  const T& operator*() const { return value(); }

 private:
  Status status_;
  T value_{};
};

}  // namespace gcheap

#endif  // GCHEAP_GC_STATUS_OR_H_
