// error.h: the per-thread "last error" behind gc_last_error().
//
// Allocation failures return NULL and record a readable reason here; the
// reason is a string literal or a thread-local buffer, so reading it never
// allocates and never races with other threads.
#ifndef GCHEAP_HEAP_ERROR_H_
#define GCHEAP_HEAP_ERROR_H_

namespace gcheap {

// Records `fmt` (printf-style) as this thread's last error.
void SetLastError(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// This thread's last error, or "" if none was recorded.
const char* LastError();
void ClearLastError();

}  // namespace gcheap

#endif  // GCHEAP_HEAP_ERROR_H_
