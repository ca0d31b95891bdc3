// gc.hpp: a thin, header-only C++ layer over the C API in runtime/gc.h.
//
// Everything here is a zero- or near-zero-cost wrapper; the C API stays the
// contract (threading, safepoints, roots, barriers) and gc.h documents it.
// Nothing throws: failures return null / 0 and gc_last_error() says why.
//
//   gc::Heap heap(cfg);                       // gc_heap_create / destroy
//   gc::Mutator m(heap);                      // attach / detach this thread
//   struct Cons {
//     gc::Member<Cons> car, cdr;              // traced, barriered fields
//     int64_t value;                          // not traced
//   };
//   gc_type_id cons = gc::TypeBuilder<Cons>("Cons")
//                         .Field(GC_FIELD(Cons, car))
//                         .Field(GC_FIELD(Cons, cdr))
//                         .Register(heap);    // 0 on failure
//   gc::Root<Cons> list(heap, gc::New<Cons>(m, cons));
//   Cons* c = gc::New<Cons>(m, cons);         // a safepoint: list is rooted
//   c->cdr.Set(m, c, list.get());             // store through the barrier
//   list = c;
//   {
//     gc::HandleScope scope(m);               // cheap local roots
//     gc::Handle<Cons> tmp(m, gc::New<Cons>(m, cons));
//     gc::New<Cons>(m, cons);                 // tmp survives this safepoint
//   }                                         // tmp is released here
//
// Destruction order: Roots, then Mutators, then the Heap (gc_heap_destroy
// aborts while a mutator is attached, and a Root unregisters from its heap).
// Declare them in the opposite order, as above.
#ifndef GCHEAP_RUNTIME_GC_HPP_
#define GCHEAP_RUNTIME_GC_HPP_

#if __cplusplus < 202002L
// gc.h alone works from C and from any C++.
#error "gcheap's gc.hpp needs C++20 (-std=c++20)"
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

// Relative to this file: runtime/gc.h in the source tree, gcheap/gc.h
// where it is installed.
#include "gc.h"

namespace gc {

static_assert(sizeof(void*) == 8, "gcheap pointer maps describe 8-byte words");

namespace internal {

[[noreturn]] inline void Fatal(const char* where, const char* what) {
  std::fprintf(stderr, "gcheap: API misuse in %s: %s\n", where, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace internal

// ---- configuration and heaps ----------------------------------------------

// The defaults plus the GC_* environment variables (gc_config_init).
inline gc_config DefaultConfig() {
  gc_config cfg;
  gc_config_init(&cfg);
  return cfg;
}

// Owns a gc_heap. Creation can fail (an invalid configuration): check ok()
// and gc_last_error(). Every mutator must be detached before the Heap is
// destroyed, and every Root of it destroyed.
class Heap {
 public:
  // Defaults plus the environment.
  Heap() : heap_(gc_heap_create(nullptr)) {}
  explicit Heap(const gc_config& cfg) : heap_(gc_heap_create(&cfg)) {}
  ~Heap() { gc_heap_destroy(heap_); }  // NULL is a no-op

  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  Heap(Heap&& other) noexcept : heap_(std::exchange(other.heap_, nullptr)) {}
  Heap& operator=(Heap&& other) noexcept {
    if (this != &other) {
      gc_heap_destroy(heap_);
      heap_ = std::exchange(other.heap_, nullptr);
    }
    return *this;
  }

  bool ok() const { return heap_ != nullptr; }
  explicit operator bool() const { return ok(); }
  gc_heap* get() const { return heap_; }

  gc_stats Stats() const {
    gc_stats s;
    s.struct_size = sizeof(s);
    gc_get_stats(heap_, &s);
    return s;
  }

  // Custom weak callbacks (gc_add_weak_callback): 0, or -1 with
  // gc_last_error().
  int AddWeakCallback(gc_weak_callback_fn fn, void* data) const {
    return gc_add_weak_callback(heap_, fn, data);
  }
  int RemoveWeakCallback(gc_weak_callback_fn fn, void* data) const {
    return gc_remove_weak_callback(heap_, fn, data);
  }

 private:
  gc_heap* heap_;
};

// What a weak callback asks (cppgc's LivenessBroker): valid only inside a
// weak callback of heap (gc_is_live aborts elsewhere).
class LivenessBroker {
 public:
  explicit LivenessBroker(gc_heap* heap) : heap_(heap) {}
  // Strongly reachable (kind GC_WEAK_SHORT) or surviving the cycle
  // (GC_WEAK_LONG); an object not of this heap counts as dead.
  bool IsLive(const void* obj, int kind = GC_WEAK_SHORT) const {
    return gc_is_live(heap_, obj, kind) == 1;
  }

 private:
  gc_heap* heap_;
};

// ---- threads --------------------------------------------------------------

// Attaches the calling thread to a heap for its lifetime. If the thread is
// already attached (an enclosing Mutator, or a direct gc_thread_attach),
// this object borrows that mutator and does not detach it. A Mutator belongs
// to the thread that created it: do not hand it to another thread (so it is
// neither copyable nor movable).
class Mutator {
 public:
  explicit Mutator(Heap& heap) : Mutator(heap.get()) {}
  explicit Mutator(gc_heap* heap) : heap_(heap) {
    m_ = gc_current_mutator(heap);
    if (m_ == nullptr) {
      m_ = gc_thread_attach(heap);
      owns_ = true;
    }
  }
  ~Mutator() {
    if (owns_) gc_thread_detach(m_);
  }
  Mutator(const Mutator&) = delete;
  Mutator& operator=(const Mutator&) = delete;

  gc_mutator* get() const { return m_; }
  gc_heap* heap() const { return heap_; }
  // True if this object attached the thread (and will detach it).
  bool owns_attachment() const { return owns_; }

  void Collect() { gc_collect(m_); }
  void Safepoint() { gc_safepoint(m_); }

 private:
  gc_heap* heap_;
  gc_mutator* m_;
  bool owns_ = false;
};

// Brackets a blocking call (I/O, a lock, a sleep): the thread counts as
// stopped for collections in between, and must not touch heap objects or
// call gc_ functions that take its mutator. Scopes nest: the thread counts
// as stopped until the outermost scope ends.
class BlockingScope {
 public:
  explicit BlockingScope(gc_mutator* m) : m_(m) { gc_enter_blocking(m_); }
  explicit BlockingScope(Mutator& m) : BlockingScope(m.get()) {}
  ~BlockingScope() { gc_leave_blocking(m_); }
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

 private:
  gc_mutator* m_;
};

// ---- fields of heap objects -----------------------------------------------

// A pointer field of a heap object: exactly one word, standard-layout,
// trivially default-constructible and trivially destructible, so it lives in
// zeroed GC memory as a null pointer without any constructor running.
//
// Every store goes through a barrier (runtime/gc.h): Set / SetRaw
// (gc_write_barrier, for any value, a tagged immediate included),
// CompareExchange and Exchange (for fields shared between threads), and
// gc::CopyMembers (bulk). Copy construction and assignment are deleted so
// that `a->f = b->f` cannot bypass the barrier. Declare Member fields in
// the struct and name each one in its TypeBuilder (a Member that is not
// named is not traced: it does not keep its target alive). T may be void
// (an untyped or tagged slot).
template <typename T>
class Member {
 public:
  Member() = default;
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  T* Get() const { return static_cast<T*>(ptr_); }
  // owner: the heap object this field is part of (for a field of a tail
  // element, the object that holds the tail).
  void Set(gc_mutator* m, void* owner, T* value) {
    gc_write_barrier(m, owner, &ptr_,
                     const_cast<void*>(static_cast<const void*>(value)));
  }
  void Set(Mutator& m, void* owner, T* value) { Set(m.get(), owner, value); }

  // The raw word, for tagged values (see gc_config.tag_mask). SetRaw is
  // the store for any word, an immediate included: it is a pointer slot.
  void* GetRaw() const { return ptr_; }
  void SetRaw(gc_mutator* m, void* owner, void* value) {
    gc_write_barrier(m, owner, &ptr_, value);
  }

  // For fields that other threads store into concurrently: an acquire load,
  // and the atomic operations with the barrier (gc_write_barrier_cas and
  // gc_write_barrier_exchange). CompareExchange stores desired and returns
  // true if the field held expected; otherwise sets expected to what it
  // holds and returns false.
  T* Load() const {
    return static_cast<T*>(__atomic_load_n(&ptr_, __ATOMIC_ACQUIRE));
  }
  bool CompareExchange(gc_mutator* m, void* owner, T*& expected, T* desired) {
    void* e = const_cast<void*>(static_cast<const void*>(expected));
    const int ok = gc_write_barrier_cas(
        m, owner, &ptr_, &e,
        const_cast<void*>(static_cast<const void*>(desired)));
    expected = static_cast<T*>(e);
    return ok != 0;
  }
  T* Exchange(gc_mutator* m, void* owner, T* value) {
    return static_cast<T*>(gc_write_barrier_exchange(
        m, owner, &ptr_, const_cast<void*>(static_cast<const void*>(value))));
  }
  bool CompareExchange(Mutator& m, void* owner, T*& expected, T* desired) {
    return CompareExchange(m.get(), owner, expected, desired);
  }
  T* Exchange(Mutator& m, void* owner, T* value) {
    return Exchange(m.get(), owner, value);
  }

  // The slot, for trace callbacks (gc::Tracer) and root registration.
  void** slot() { return &ptr_; }

  explicit operator bool() const { return ptr_ != nullptr; }
  T* operator->() const { return Get(); }
  template <typename U = T>
  requires(!std::is_void_v<U>) U& operator*() const { return *Get(); }

 private:
  void* ptr_;  // void*, the type gc_write_barrier and the collector access
};

// Copies n Members from src to dst (which may overlap, as memmove) through
// the bulk barrier (gc_write_barrier_copy); dst lies in the heap object
// dst_owner. For array copies and moving a growing array's contents.
template <typename T>
void CopyMembers(gc_mutator* m, void* dst_owner, Member<T>* dst,
                 const Member<T>* src, size_t n) {
  static_assert(sizeof(Member<T>) == sizeof(void*));
  gc_write_barrier_copy(m, dst_owner, reinterpret_cast<void**>(dst),
                        reinterpret_cast<void* const*>(src), n);
}
template <typename T>
void CopyMembers(Mutator& m, void* dst_owner, Member<T>* dst,
                 const Member<T>* src, size_t n) {
  CopyMembers(m.get(), dst_owner, dst, src, n);
}

// ---- roots ----------------------------------------------------------------

// An RAII root: a slot holding a T*, registered with gc_add_root while this
// object lives. Copying registers the copy's slot; moving registers the
// destination's slot and unregisters the source, which becomes unbound (it
// holds null and belongs to no heap) until a Root is assigned to it.
//
// Every registration takes the heap's root-set lock and a hash-map update:
// cheap enough for handles that live across calls, not for every temporary
// in an interpreter loop (use gc::Handle in a gc::HandleScope, or a VM
// stack and a mutator root scanner, for those).
// Touch a Root only from a thread that is attached and running (not inside a
// blocking region): the collector reads the slot while the world is stopped.
template <typename T>
class Root {
 public:
  // An unbound, empty root (no heap): assign a bound Root to it before use.
  Root() = default;
  explicit Root(gc_heap* heap, T* value = nullptr) : heap_(heap) {
    Set(value);
    Register();
  }
  explicit Root(Heap& heap, T* value = nullptr) : Root(heap.get(), value) {}
  explicit Root(Mutator& m, T* value = nullptr) : Root(m.heap(), value) {}
  ~Root() { Unregister(); }

  Root(const Root& other) : heap_(other.heap_), slot_(other.slot_) {
    Register();
  }
  Root(Root&& other) noexcept : heap_(other.heap_), slot_(other.slot_) {
    Register();  // the new slot holds the value before the old one lets go
    other.Unbind();
  }
  Root& operator=(const Root& other) {
    if (this != &other) {
      Rebind(other.heap_);
      slot_ = other.slot_;
    }
    return *this;
  }
  Root& operator=(Root&& other) noexcept {
    if (this != &other) {
      Rebind(other.heap_);
      slot_ = other.slot_;
      other.Unbind();
    }
    return *this;
  }
  Root& operator=(T* value) {
    if (heap_ == nullptr && value != nullptr) {
      internal::Fatal("gc::Root", "storing a pointer into an unbound Root");
    }
    Set(value);
    return *this;
  }

  T* get() const { return static_cast<T*>(slot_); }
  T* operator->() const { return get(); }
  template <typename U = T>
  requires(!std::is_void_v<U>) U& operator*() const { return *get(); }
  explicit operator bool() const { return slot_ != nullptr; }
  gc_heap* heap() const { return heap_; }
  bool bound() const { return heap_ != nullptr; }

 private:
  void Set(T* value) {
    slot_ = const_cast<void*>(static_cast<const void*>(value));
  }
  void Register() {
    if (heap_ != nullptr && gc_add_root(heap_, &slot_) != 0) {
      internal::Fatal("gc::Root", gc_last_error());
    }
  }
  void Unregister() {
    if (heap_ != nullptr && gc_remove_root(heap_, &slot_) != 0) {
      internal::Fatal("gc::Root", gc_last_error());
    }
  }
  void Unbind() {
    Unregister();
    heap_ = nullptr;
    slot_ = nullptr;
  }
  // Registers this slot with `heap` (and drops the old registration) if it
  // is a different heap.
  void Rebind(gc_heap* heap) {
    if (heap == heap_) return;
    if (heap != nullptr && gc_add_root(heap, &slot_) != 0) {
      internal::Fatal("gc::Root", gc_last_error());
    }
    Unregister();
    heap_ = heap;
  }

  gc_heap* heap_ = nullptr;
  void* slot_ = nullptr;  // void*: the registered slot is a void**
};

// ---- weak references ------------------------------------------------------

// An RAII weak handle (gc_weak): names a T without keeping it alive. Get
// returns the object while it lives and nullptr once it was found dead
// (runtime/gc.h gives the clearing points of GC_WEAK_SHORT and
// GC_WEAK_LONG). What Get returns is a strong reference: root it before the
// thread's next safepoint if it is still needed. Create, use and destroy a
// WeakRef on threads attached to its heap; it is move-only (a copy would
// be a second handle: make one explicitly).
template <typename T>
class WeakRef {
 public:
  WeakRef() = default;
  // A weak reference to obj (nullptr allowed). On failure (obj not an
  // object of the heap) ok() is false and gc_last_error() says why.
  WeakRef(Mutator& m, T* obj, int kind = GC_WEAK_SHORT)
      : heap_(m.heap()),
        w_(gc_weak_create(
            m.get(), const_cast<void*>(static_cast<const void*>(obj)), kind)) {}
  ~WeakRef() { Reset(); }
  WeakRef(const WeakRef&) = delete;
  WeakRef& operator=(const WeakRef&) = delete;
  WeakRef(WeakRef&& o) noexcept
      : heap_(o.heap_), w_(std::exchange(o.w_, nullptr)) {}
  WeakRef& operator=(WeakRef&& o) noexcept {
    if (this != &o) {
      Reset();
      heap_ = o.heap_;
      w_ = std::exchange(o.w_, nullptr);
    }
    return *this;
  }

  bool ok() const { return w_ != nullptr; }
  gc_weak* get() const { return w_; }
  T* Get(gc_mutator* m) const { return static_cast<T*>(gc_weak_get(m, w_)); }
  T* Get(Mutator& m) const { return Get(m.get()); }
  void Set(gc_mutator* m, T* obj) {
    gc_weak_set(m, w_, const_cast<void*>(static_cast<const void*>(obj)));
  }
  void Set(Mutator& m, T* obj) { Set(m.get(), obj); }
  // Destroys the handle now (the calling thread must be attached).
  void Reset() {
    if (w_ == nullptr) return;
    gc_mutator* m = gc_current_mutator(heap_);
    if (m == nullptr) {
      internal::Fatal("gc::WeakRef",
                      "destroyed on a thread not attached to its heap");
    }
    gc_weak_destroy(m, std::exchange(w_, nullptr));
  }

 private:
  gc_heap* heap_ = nullptr;
  gc_weak* w_ = nullptr;
};

// A weak field of a heap object: one word, like Member, but it does not
// keep its target alive; the collector stores nullptr into it when the
// target dies (runtime/gc.h, "weak slots"). Name it with
// TypeBuilder::WeakField (the type's WeakKind applies to all its weak
// fields), or report it from a trace callback with Tracer::Weak. Read and
// write it only with Load and Store.
template <typename T>
class WeakMember {
 public:
  WeakMember() = default;
  WeakMember(const WeakMember&) = delete;
  WeakMember& operator=(const WeakMember&) = delete;

  // owner: the heap object this field is part of.
  T* Load(gc_mutator* m, void* owner) {
    return static_cast<T*>(gc_weak_load(m, owner, &ptr_));
  }
  T* Load(Mutator& m, void* owner) { return Load(m.get(), owner); }
  void Store(gc_mutator* m, void* owner, T* value) {
    gc_weak_store(m, owner, &ptr_,
                  const_cast<void*>(static_cast<const void*>(value)));
  }
  void Store(Mutator& m, void* owner, T* value) {
    Store(m.get(), owner, value);
  }
  void** slot() { return &ptr_; }

 private:
  void* ptr_;
};

// ---- handles ----------------------------------------------------------------

// A scope of handles (V8's HandleScope): every Handle made on this thread
// while it is the innermost scope is released when it ends. Scopes nest
// and end in LIFO order (automatic with RAII); debug builds abort
// otherwise. No lock and no call: gc_handle_scope_open / _close are inline.
class HandleScope {
 public:
  explicit HandleScope(gc_mutator* m) : m_(m) {
    gc_handle_scope_open(m_, &scope_);
  }
  explicit HandleScope(Mutator& m) : HandleScope(m.get()) {}
  ~HandleScope() { gc_handle_scope_close(m_, &scope_); }
  HandleScope(const HandleScope&) = delete;
  HandleScope& operator=(const HandleScope&) = delete;

 private:
  gc_mutator* m_;
  gc_handle_scope scope_;
};

// A local root: a slot on the calling thread's handle stack, holding a T*
// (or null) until the innermost HandleScope ends. Cheap: making one is a
// store and an increment (gc_handle_new). Copies refer to the same slot
// (V8's Local); set() writes the slot (a root: no barrier). Use it only on
// the thread that made it, and not after its scope ended.
template <typename T>
class Handle {
 public:
  Handle() = default;  // empty: no slot
  Handle(gc_mutator* m, T* value)
      : slot_(gc_handle_new(
            m, const_cast<void*>(static_cast<const void*>(value)))) {
    if (slot_ == nullptr) internal::Fatal("gc::Handle", gc_last_error());
  }
  Handle(Mutator& m, T* value) : Handle(m.get(), value) {}
  // The handle whose slot is `slot` (from gc_handle_new).
  static Handle FromSlot(void** slot) {
    Handle h;
    h.slot_ = slot;
    return h;
  }

  T* get() const { return slot_ ? static_cast<T*>(*slot_) : nullptr; }
  void set(T* value) {
    *slot_ = const_cast<void*>(static_cast<const void*>(value));
  }
  T* operator->() const { return get(); }
  template <typename U = T>
  requires(!std::is_void_v<U>) U& operator*() const { return *get(); }
  explicit operator bool() const { return get() != nullptr; }
  // The slot (a void**, as gc_handle_new returned it), or null if empty.
  void** slot() const { return slot_; }
  bool empty() const { return slot_ == nullptr; }

 private:
  void** slot_ = nullptr;
};

// A HandleScope that can hand one value to the enclosing scope (V8's
// EscapableHandleScope): the escape slot is made in the enclosing scope
// before this one opens.
class EscapableHandleScope {
 public:
  explicit EscapableHandleScope(gc_mutator* m)
      : escape_slot_(gc_handle_new(m, nullptr)), scope_(m) {
    if (escape_slot_ == nullptr) {
      internal::Fatal("gc::EscapableHandleScope", gc_last_error());
    }
  }
  explicit EscapableHandleScope(Mutator& m) : EscapableHandleScope(m.get()) {}
  EscapableHandleScope(const EscapableHandleScope&) = delete;
  EscapableHandleScope& operator=(const EscapableHandleScope&) = delete;

  // Copies value into the escape slot and returns a handle of the
  // enclosing scope holding it. At most once.
  template <typename T>
  Handle<T> Escape(T* value) {
    if (escaped_) internal::Fatal("gc::EscapableHandleScope", "escaped twice");
    escaped_ = true;
    *escape_slot_ = const_cast<void*>(static_cast<const void*>(value));
    return Handle<T>::FromSlot(escape_slot_);
  }
  template <typename T>
  Handle<T> Escape(Handle<T> h) {
    return Escape(h.get());
  }

 private:
  void** escape_slot_;
  HandleScope scope_;
  bool escaped_ = false;
};

// ---- type registration ----------------------------------------------------

namespace internal {

template <typename F>
struct IsMember : std::false_type {};
template <typename U>
struct IsMember<Member<U>> : std::true_type {};
template <typename F>
struct IsWeakMember : std::false_type {};
template <typename U>
struct IsWeakMember<WeakMember<U>> : std::true_type {};

// One pointer slot: a gc::Member<U> or a raw object pointer U*.
template <typename F>
constexpr bool kIsSlot =
    IsMember<std::remove_cv_t<F>>::value ||
    (std::is_pointer_v<std::remove_cv_t<F>> &&
     !std::is_function_v<std::remove_pointer_t<std::remove_cv_t<F>>>);

// A slot, or an array (of any rank) of slots.
template <typename F>
constexpr bool kIsSlotField = kIsSlot<std::remove_all_extents_t<F>>;

inline void SetBits(std::vector<uint64_t>* bits, size_t first_word,
                    size_t nwords) {
  for (size_t w = first_word; w < first_word + nwords; w++) {
    (*bits)[w / 64] |= uint64_t{1} << (w % 64);
  }
}

}  // namespace internal

// A field named by GC_FIELD: its struct, declared type and offset, all
// compile-time constants.
template <typename Owner, typename F, size_t Offset>
struct FieldRef {
  using owner_type = Owner;
  using field_type = F;
  static constexpr size_t offset = Offset;
};

// Names a pointer field of a struct for Layout / TypeBuilder. offsetof gives
// a constant offset; the builder's static_asserts check the field's type.
#define GC_FIELD(Type, field) \
  (::gc::FieldRef<Type, decltype(Type::field), offsetof(Type, field)>{})

// The pointer map of a standard-layout struct T: one bit per 8-byte word,
// set for the words of the fields named with Field().
template <typename T>
class Layout {
  static_assert(std::is_standard_layout_v<T>,
                "a GC-described type must be standard-layout (offsetof is "
                "only meaningful for standard-layout types)");

 public:
  static constexpr size_t kWords = (sizeof(T) + 7) / 8;

  Layout() : bits_((kWords + 63) / 64, 0) {}

  template <typename Owner, typename F, size_t Offset>
  Layout& Field(FieldRef<Owner, F, Offset>) {
    static_assert(std::is_same_v<Owner, T>,
                  "GC_FIELD names a field of a different struct");
    static_assert(internal::kIsSlotField<F>,
                  "a traced field must be gc::Member<U>, a raw pointer U*, "
                  "or an array of them");
    static_assert(Offset % sizeof(void*) == 0,
                  "a pointer field must be 8-byte aligned");
    static_assert(Offset + sizeof(F) <= sizeof(T));
    internal::SetBits(&bits_, Offset / 8, sizeof(F) / 8);
    return *this;
  }

  // A weak field (WeakMember<U>, or an array of them).
  template <typename Owner, typename F, size_t Offset>
  Layout& WeakField(FieldRef<Owner, F, Offset>) {
    static_assert(std::is_same_v<Owner, T>,
                  "GC_FIELD names a field of a different struct");
    static_assert(internal::IsWeakMember<std::remove_all_extents_t<F>>::value,
                  "a weak field must be gc::WeakMember<U> or an array of them");
    static_assert(Offset % sizeof(void*) == 0 &&
                  Offset + sizeof(F) <= sizeof(T));
    internal::SetBits(&bits_, Offset / 8, sizeof(F) / 8);
    return *this;
  }

  const std::vector<uint64_t>& bits() const { return bits_; }
  bool has_pointers() const {
    for (uint64_t w : bits_) {
      if (w != 0) return true;
    }
    return false;
  }

 private:
  std::vector<uint64_t> bits_;
};

// What a trace callback gets: reports slots to the collector.
class Tracer {
 public:
  Tracer(gc_visit_fn visit, void* ctx) : visit_(visit), ctx_(ctx) {}
  template <typename U>
  void operator()(Member<U>& field) const {
    visit_(field.slot(), ctx_);
  }
  void operator()(void*& slot) const { visit_(&slot, ctx_); }
  void Slot(void** slot) const { visit_(slot, ctx_); }
  // A weak field (gc_trace_weak): recorded, not traced.
  template <typename U>
  void Weak(WeakMember<U>& field, int kind = GC_WEAK_SHORT) const {
    gc_trace_weak(ctx_, field.slot(), kind);
  }
  // A weak callback for this cycle (gc_trace_weak_callback; cppgc's
  // visitor->RegisterWeakCallback).
  void RegisterWeakCallback(gc_weak_callback_fn fn, void* data) const {
    gc_trace_weak_callback(ctx_, fn, data);
  }

 private:
  gc_visit_fn visit_;
  void* ctx_;
};

// Builds a gc_type_desc for T from named fields, and registers it:
//
//   gc::TypeBuilder<Cons>("Cons")
//       .Field(GC_FIELD(Cons, car))
//       .Field(GC_FIELD(Cons, cdr))
//       .Register(heap);
//
// The fixed part is sizeof(T) bytes. Tail<Elem>() adds a variable-length
// tail of Elem starting at offset sizeof(T) (see TailOf); Trace() installs a
// callback that replaces both maps. A struct with no named field, no pointer
// tail and no callback is noscan. Register returns 0 with gc_last_error()
// set if the heap rejects the type.
template <typename T>
class TypeBuilder {
 public:
  explicit TypeBuilder(const char* name) : name_(name) {}

  template <typename Owner, typename F, size_t Offset>
  TypeBuilder& Field(FieldRef<Owner, F, Offset> f) {
    fixed_.Field(f);
    return *this;
  }
  // A weak field (gc::WeakMember<U>), and the kind of all of them
  // (GC_WEAK_SHORT by default).
  template <typename Owner, typename F, size_t Offset>
  TypeBuilder& WeakField(FieldRef<Owner, F, Offset> f) {
    weak_.WeakField(f);
    return *this;
  }
  TypeBuilder& WeakKind(int kind) {
    weak_kind_ = kind;
    return *this;
  }

  // A tail of Elem values, Elem being a slot type (gc::Member<U>, U*: every
  // element is a pointer) or a pointer-free type (a noscan tail: bytes,
  // numbers).
  template <typename Elem>
  TypeBuilder& Tail() {
    CheckTail<Elem>();
    elem_size_ = sizeof(Elem);
    elem_bits_.clear();
    if constexpr (internal::kIsSlotField<Elem>) {
      elem_bits_.assign((sizeof(Elem) / 8 + 63) / 64, 0);
      internal::SetBits(&elem_bits_, 0, sizeof(Elem) / 8);
    }
    return *this;
  }
  // A tail of Elem structs whose pointer fields are named in elem, e.g.
  //   .Tail(gc::Layout<Entry>().Field(GC_FIELD(Entry, value)))
  template <typename Elem>
  TypeBuilder& Tail(const Layout<Elem>& elem) {
    CheckTail<Elem>();
    elem_size_ = sizeof(Elem);
    elem_bits_ = elem.bits();
    return *this;
  }

  // A raw C trace callback (replaces any other callback).
  TypeBuilder& Trace(gc_trace_fn fn) {
    trace_ = fn;
    trace_ctx_ = nullptr;
    return *this;
  }
  // A raw C trace callback that also gets the type's user data.
  TypeBuilder& Trace(gc_trace_ctx_fn fn, void* user_data) {
    trace_ = nullptr;
    trace_ctx_ = fn;
    user_data_ = user_data;
    return *this;
  }
  // A typed one: Fn is `void Fn(T* obj, const gc::Tracer& t)` and calls
  // t(obj->field) for every slot that holds a pointer right now. It runs on
  // a marking thread, must not allocate or lock, and with concurrent
  // marking (GC_STW=0) runs while mutators run: what it reads to find the
  // slots (a count, a kind) must be set before the object is reachable or
  // written atomically.
  template <auto Fn>
  TypeBuilder& Trace() {
    static_assert(std::is_invocable_v<decltype(Fn), T*, const Tracer&>,
                  "Trace<Fn>: Fn must be callable as Fn(T*, const Tracer&)");
    return Trace([](void* obj, gc_visit_fn visit, void* ctx) {
      Fn(static_cast<T*>(obj), Tracer(visit, ctx));
    });
  }
  // A typed one with context: Fn is `void Fn(T* obj, const gc::Tracer& t,
  // Data* data)` and gets `data` (the type's user_data, e.g. the VM whose
  // state says which slots are live) on every call.
  template <auto Fn, typename Data>
  TypeBuilder& Trace(Data* data) {
    static_assert(std::is_invocable_v<decltype(Fn), T*, const Tracer&, Data*>,
                  "Trace<Fn>(data): Fn must be callable as Fn(T*, const "
                  "Tracer&, Data*)");
    return Trace(
        [](void* obj, gc_visit_fn visit, void* ctx, void* user_data) {
          Fn(static_cast<T*>(obj), Tracer(visit, ctx),
             static_cast<Data*>(user_data));
        },
        const_cast<void*>(static_cast<const void*>(data)));
  }

  // The maps, for tests and diagnostics.
  const std::vector<uint64_t>& ptr_bitmap() const { return fixed_.bits(); }
  const std::vector<uint64_t>& elem_ptr_bitmap() const { return elem_bits_; }
  size_t elem_size() const { return elem_size_; }

  // The description; its bitmaps point into this builder.
  gc_type_desc Desc() const {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = name_;
    d.size = sizeof(T);
    if (fixed_.has_pointers()) {
      d.ptr_bitmap = fixed_.bits().data();
      d.ptr_bitmap_words = fixed_.bits().size();
    }
    d.elem_size = elem_size_;
    if (!elem_bits_.empty()) {
      d.elem_ptr_bitmap = elem_bits_.data();
      d.elem_ptr_bitmap_words = elem_bits_.size();
    }
    d.trace = trace_;
    d.trace_ctx = trace_ctx_;
    d.user_data = user_data_;
    if (weak_.has_pointers()) {
      d.weak_bitmap = weak_.bits().data();
      d.weak_bitmap_words = weak_.bits().size();
    }
    d.weak_kind = weak_kind_;
    return d;
  }

  gc_type_id Register(gc_heap* heap) const {
    gc_type_desc d = Desc();
    return gc_register_type(heap, &d);
  }
  gc_type_id Register(Heap& heap) const { return Register(heap.get()); }

 private:
  template <typename Elem>
  static void CheckTail() {
    static_assert(std::is_standard_layout_v<Elem> &&
                      std::is_trivially_destructible_v<Elem>,
                  "a tail element must be standard-layout and trivially "
                  "destructible");
    static_assert(sizeof(T) % alignof(Elem) == 0,
                  "the tail starts at sizeof(T), which must suit Elem's "
                  "alignment");
  }

  const char* name_;
  Layout<T> fixed_;
  Layout<T> weak_;  // the weak fields' map
  int weak_kind_ = GC_WEAK_SHORT;
  size_t elem_size_ = 0;
  std::vector<uint64_t> elem_bits_;
  gc_trace_fn trace_ = nullptr;
  gc_trace_ctx_fn trace_ctx_ = nullptr;
  void* user_data_ = nullptr;
};

// ---- allocation -----------------------------------------------------------

// Allocates a T of the registered type `type` with extra_bytes of tail, and
// returns it, or nullptr with gc_last_error() set. A safepoint: every heap
// pointer the caller still needs must be in a root.
//
// The memory is zeroed and no constructor runs: every Member is null, every
// number 0. So T must be trivially default-constructible and trivially
// destructible (the collector never runs destructors); the object's
// lifetime is started as if by std::start_lifetime_as. A type that needs
// real construction can use gc_alloc and placement-new before the object
// escapes (its constructor must not store heap pointers into Members
// without Set, i.e. without the barrier).
//
// The request is rounded up to a multiple of alignof(T): small pointer-free
// allocations are aligned only to their size's natural alignment.
template <typename T>
T* New(gc_mutator* m, gc_type_id type, size_t extra_bytes = 0) {
  static_assert(std::is_trivially_default_constructible_v<T> &&
                    std::is_trivially_destructible_v<T>,
                "gc::New<T>: T must be trivially default-constructible and "
                "trivially destructible (it is created from zeroed memory)");
  static_assert(alignof(T) <= 8, "gcheap guarantees 8-byte alignment only");
  size_t bytes = sizeof(T) + extra_bytes;
  if (bytes < extra_bytes || bytes > SIZE_MAX - alignof(T)) {
    bytes = SIZE_MAX;  // let gc_alloc report the overflow
  } else {
    bytes = (bytes + alignof(T) - 1) & ~(alignof(T) - 1);
  }
  void* p = gc_alloc(m, type, bytes);
  if (p == nullptr) return nullptr;
  // memmove implicitly creates objects ([intro.object], [cstring.syn]): the
  // C++20 spelling of start_lifetime_as, for T and its tail elements.
  // Compilers drop the self-move.
  return std::launder(static_cast<T*>(std::memmove(p, p, bytes)));
}
template <typename T>
T* New(Mutator& m, gc_type_id type, size_t extra_bytes = 0) {
  return New<T>(m.get(), type, extra_bytes);
}

// Pointer-free, never-scanned bytes (strings, numbers).
inline void* AllocNoscan(Mutator& m, size_t bytes) {
  return gc_alloc_noscan(m.get(), bytes);
}

// The tail of an object registered with Tail<Elem>(): the elements start at
// offset sizeof(T).
template <typename Elem, typename T>
Elem* TailOf(T* obj) {
  return reinterpret_cast<Elem*>(reinterpret_cast<char*>(obj) + sizeof(T));
}

}  // namespace gc

#endif  // GCHEAP_RUNTIME_GC_HPP_
