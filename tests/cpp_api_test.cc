// Tests for the C++ layer (runtime/gc.hpp): RAII heaps, mutators and roots
// (registration across copies and moves), Member stores, type registration
// from structs (offsets, pointer maps, tails, trace callbacks), New, and
// blocking scopes.
//
// Compile-time checks are not testable at run time. Each of these must fail
// to compile (tried by hand; not part of the build):
//   struct Bad { int64_t n; gc::Member<Node> p; };
//   gc::TypeBuilder<Bad>("Bad").Field(GC_FIELD(Bad, n));     // not a slot
//   gc::TypeBuilder<Node>("N").Field(GC_FIELD(Bad, p));      // other struct
//   struct Virt { virtual ~Virt(); gc::Member<Node> p; };
//   gc::TypeBuilder<Virt>("V");                              // not std-layout
//   struct Ctor { Ctor() {} gc::Member<Node> p; };
//   gc::New<Ctor>(m, t);                    // not trivially constructible
//   node->next = other->next;               // Member: no copy-assignment
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.hpp"

namespace {

struct Node {
  gc::Member<Node> next;
  int64_t value;
};

static_assert(sizeof(gc::Member<Node>) == sizeof(void*));
static_assert(std::is_standard_layout_v<gc::Member<Node>>);
static_assert(std::is_trivially_destructible_v<gc::Member<Node>>);
static_assert(std::is_trivially_default_constructible_v<gc::Member<Node>>);
static_assert(!std::is_copy_assignable_v<gc::Member<Node>>);
static_assert(std::is_trivially_default_constructible_v<Node>);

gc_config TestConfig() {
  gc_config cfg = gc::DefaultConfig();
  cfg.verify = 1;
  return cfg;
}

class CppApiTest : public ::testing::Test {
 protected:
  CppApiTest() : heap_(TestConfig()), m_(heap_) {
    node_ = gc::TypeBuilder<Node>("Node")
                .Field(GC_FIELD(Node, next))
                .Register(heap_);
  }
  void SetUp() override {
    ASSERT_TRUE(heap_.ok()) << gc_last_error();
    ASSERT_NE(node_, 0u) << gc_last_error();
  }
  Node* NewNode(int64_t v, Node* next = nullptr) {
    Node* n = gc::New<Node>(m_, node_);
    EXPECT_NE(n, nullptr) << gc_last_error();
    n->value = v;
    n->next.Set(m_, n, next);
    return n;
  }
  uint64_t LiveAfterCollect() {
    m_.Collect();
    return heap_.Stats().live_objects;
  }

  // Declaration order = reverse destruction order: roots (in tests), then
  // the mutator, then the heap.
  gc::Heap heap_;
  gc::Mutator m_;
  gc_type_id node_ = 0;
};

TEST_F(CppApiTest, HeapIsMovableAndReportsInvalidConfig) {
  gc_config bad = TestConfig();
  bad.gc_workers = -1;
  gc::Heap h(bad);
  EXPECT_FALSE(h.ok());
  EXPECT_NE(std::string(gc_last_error()).find("gc_workers"), std::string::npos);

  gc::Heap a(TestConfig());
  ASSERT_TRUE(a.ok());
  gc_heap* raw = a.get();
  gc::Heap b(std::move(a));
  EXPECT_FALSE(a.ok());
  EXPECT_EQ(b.get(), raw);
  gc::Heap c;
  ASSERT_TRUE(c.ok());
  c = std::move(b);  // destroys c's first heap
  EXPECT_EQ(c.get(), raw);
  {
    gc::Mutator m(c);
    EXPECT_EQ(gc_current_mutator(raw), m.get());
  }
  EXPECT_EQ(gc_current_mutator(raw), nullptr);
}

TEST_F(CppApiTest, NestedMutatorBorrowsTheAttachment) {
  EXPECT_TRUE(m_.owns_attachment());
  {
    gc::Mutator inner(heap_);
    EXPECT_FALSE(inner.owns_attachment());
    EXPECT_EQ(inner.get(), m_.get());
  }
  // Still attached: the inner one did not detach.
  EXPECT_EQ(gc_current_mutator(heap_.get()), m_.get());
  EXPECT_NE(NewNode(1), nullptr);
}

TEST_F(CppApiTest, RootKeepsItsObjectAliveUntilDestroyed) {
  {
    gc::Root<Node> r(heap_, NewNode(7));
    for (int i = 0; i < 1000; i++) NewNode(-i);  // garbage
    EXPECT_EQ(LiveAfterCollect(), 1u);
    EXPECT_EQ(r->value, 7);
    EXPECT_EQ((*r).value, 7);
    r = nullptr;
    EXPECT_EQ(LiveAfterCollect(), 0u);
    r = NewNode(8);
    EXPECT_EQ(LiveAfterCollect(), 1u);
  }
  EXPECT_EQ(LiveAfterCollect(), 0u);
}

TEST_F(CppApiTest, RootCopiesAreIndependentRegistrations) {
  gc::Root<Node> a(m_, NewNode(1));
  {
    gc::Root<Node> b(a);  // copy: its own slot
    EXPECT_EQ(b.get(), a.get());
    a = nullptr;
    EXPECT_EQ(LiveAfterCollect(), 1u);  // held by b only
    EXPECT_EQ(b->value, 1);
    gc::Root<Node> c(heap_, NewNode(2));
    c = b;  // copy-assign: same heap, c's slot now holds node 1
    b = nullptr;
    EXPECT_EQ(LiveAfterCollect(), 1u);
    EXPECT_EQ(c->value, 1);
    a = c;
  }
  EXPECT_EQ(LiveAfterCollect(), 1u);  // a
  EXPECT_EQ(a->value, 1);
  a = nullptr;
  EXPECT_EQ(LiveAfterCollect(), 0u);
}

TEST_F(CppApiTest, RootMovesReRegisterTheNewSlot) {
  gc::Root<Node> a(heap_, NewNode(1));
  gc::Root<Node> b(std::move(a));
  EXPECT_FALSE(a.bound());
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_EQ(LiveAfterCollect(), 1u);
  EXPECT_EQ(b->value, 1);

  gc::Root<Node> c(heap_, NewNode(2));
  c = std::move(b);  // node 2 is dropped, node 1 moves into c
  EXPECT_FALSE(b.bound());
  EXPECT_EQ(LiveAfterCollect(), 1u);
  EXPECT_EQ(c->value, 1);

  a = std::move(c);  // into a moved-from (unbound) root: binds it again
  EXPECT_TRUE(a.bound());
  EXPECT_EQ(LiveAfterCollect(), 1u);
  EXPECT_EQ(a->value, 1);
  a = NewNode(3);
  EXPECT_EQ(LiveAfterCollect(), 1u);
  EXPECT_EQ(a->value, 3);

  // Self-assignment keeps the registration.
  gc::Root<Node>& alias = a;
  a = alias;
  a = std::move(alias);
  EXPECT_EQ(LiveAfterCollect(), 1u);
}

// A vector of roots reallocates many times: every element is moved to a new
// slot each time, and the old slots (freed memory) must be unregistered.
TEST_F(CppApiTest, RootsInAGrowingVector) {
  {
    std::vector<gc::Root<Node>> roots;
    for (int i = 0; i < 1000; i++) {
      roots.emplace_back(heap_, NewNode(i));
      if (i % 100 == 0) m_.Collect();
    }
    for (int i = 0; i < 5000; i++) NewNode(-1);
    EXPECT_EQ(LiveAfterCollect(), 1000u);
    for (int i = 0; i < 1000; i++) ASSERT_EQ(roots[i]->value, i);
    roots.erase(roots.begin(), roots.begin() + 500);  // move-assigns down
    EXPECT_EQ(LiveAfterCollect(), 500u);
    for (int i = 0; i < 500; i++) ASSERT_EQ(roots[i]->value, 500 + i);
    std::vector<gc::Root<Node>> copy = roots;
    roots.clear();
    EXPECT_EQ(LiveAfterCollect(), 500u);
  }
  EXPECT_EQ(LiveAfterCollect(), 0u);
}

TEST_F(CppApiTest, RootMovesBetweenHeaps) {
  gc::Heap other(TestConfig());
  ASSERT_TRUE(other.ok());
  gc_type_id other_node =
      gc::TypeBuilder<Node>("Node").Field(GC_FIELD(Node, next)).Register(other);
  ASSERT_NE(other_node, 0u);
  {
    gc::Mutator om(other);
    gc::Root<Node> in_other(other, gc::New<Node>(om, other_node));
    gc::Root<Node> mine(heap_, NewNode(1));
    mine = in_other;  // copy-assign across heaps: re-registered with other
    EXPECT_EQ(mine.heap(), other.get());
    EXPECT_EQ(LiveAfterCollect(), 0u);  // node 1 is gone from heap_
    in_other = nullptr;
    om.Collect();
    EXPECT_EQ(other.Stats().live_objects, 1u);  // held by `mine`
    mine = nullptr;
    om.Collect();
    EXPECT_EQ(other.Stats().live_objects, 0u);
  }
}

TEST_F(CppApiTest, MemberStoresKeepTargetsAlive) {
  gc::Root<Node> head(heap_, NewNode(0));
  // A chain reachable only through Member fields.
  for (int i = 1; i <= 100; i++) {
    Node* n = NewNode(i, head->next.Get());
    head->next.Set(m_, head.get(), n);
  }
  for (int i = 0; i < 2000; i++) NewNode(-1);
  EXPECT_EQ(LiveAfterCollect(), 101u);
  int64_t expect = 100;
  for (Node* n = head->next.Get(); n; n = n->next.Get()) {
    ASSERT_EQ(n->value, expect--);
  }
  EXPECT_EQ(expect, 0);
  EXPECT_TRUE(head->next);
  head->next.Set(m_, head.get(), nullptr);
  EXPECT_FALSE(head->next);
  EXPECT_EQ(LiveAfterCollect(), 1u);
}

// A struct mixing pointer and non-pointer fields, arrays and raw pointers.
struct Mixed {
  int64_t a;
  gc::Member<Node> m1;
  int32_t b;
  int32_t c;
  Node* raw;
  uintptr_t not_a_pointer;  // holds an address, but is not traced
  gc::Member<void> untyped;
  double d;
  gc::Member<Node> arr[3];
  char tail_pad[5];
};

TEST_F(CppApiTest, TypeBuilderOffsetsMatchOffsetof) {
  auto b = gc::TypeBuilder<Mixed>("Mixed")
               .Field(GC_FIELD(Mixed, m1))
               .Field(GC_FIELD(Mixed, raw))
               .Field(GC_FIELD(Mixed, untyped))
               .Field(GC_FIELD(Mixed, arr));
  uint64_t expect = 0;
  expect |= uint64_t{1} << (offsetof(Mixed, m1) / 8);
  expect |= uint64_t{1} << (offsetof(Mixed, raw) / 8);
  expect |= uint64_t{1} << (offsetof(Mixed, untyped) / 8);
  for (int i = 0; i < 3; i++) {
    expect |= uint64_t{1} << (offsetof(Mixed, arr) / 8 + i);
  }
  ASSERT_EQ(b.ptr_bitmap().size(), 1u);
  EXPECT_EQ(b.ptr_bitmap()[0], expect);
  EXPECT_EQ(expect, 0b11'1010'1010u);  // words 1, 3, 5, 7, 8, 9
  gc_type_desc d = b.Desc();
  EXPECT_EQ(d.size, sizeof(Mixed));
  EXPECT_EQ(d.elem_size, 0u);
  EXPECT_EQ(d.trace, nullptr);

  gc_type_id mixed = b.Register(heap_);
  ASSERT_NE(mixed, 0u) << gc_last_error();
  gc::Root<Mixed> root(heap_, gc::New<Mixed>(m_, mixed));
  Node* via_member = NewNode(1);
  root->m1.Set(m_, root.get(), via_member);
  Node* via_raw = NewNode(2);
  gc_write_barrier(m_.get(), root.get(), reinterpret_cast<void**>(&root->raw),
                   via_raw);
  root->untyped.Set(m_, root.get(), NewNode(3));
  root->arr[2].Set(m_, root.get(), NewNode(4));
  // Reachable only through a non-pointer field: must die.
  root->not_a_pointer = reinterpret_cast<uintptr_t>(NewNode(5));
  root->a = reinterpret_cast<int64_t>(NewNode(6));
  EXPECT_EQ(LiveAfterCollect(), 5u);  // root + 4 nodes
  EXPECT_EQ(root->m1->value, 1);
  EXPECT_EQ(root->raw->value, 2);
  EXPECT_EQ(static_cast<Node*>(root->untyped.Get())->value, 3);
  EXPECT_EQ(root->arr[2]->value, 4);
}

TEST_F(CppApiTest, PointerFreeStructIsNoscanAndStaysAligned) {
  struct Str {
    uint32_t length;  // followed by the characters
  };
  gc::TypeBuilder<Str> b("Str");
  b.Tail<char>();
  gc_type_desc d = b.Desc();
  EXPECT_EQ(d.ptr_bitmap, nullptr);
  EXPECT_EQ(d.elem_ptr_bitmap, nullptr);
  EXPECT_EQ(d.elem_size, 1u);
  gc_type_id str = b.Register(heap_);
  ASSERT_NE(str, 0u) << gc_last_error();
  // Odd lengths would make tiny noscan requests aligned to 1 byte; New
  // rounds them up to alignof(Str).
  for (uint32_t len = 0; len < 40; len++) {
    Str* s = gc::New<Str>(m_, str, len);
    ASSERT_NE(s, nullptr) << gc_last_error();
    ASSERT_EQ(reinterpret_cast<uintptr_t>(s) % alignof(Str), 0u) << len;
    s->length = len;
    memset(gc::TailOf<char>(s), 'x', len);
  }
}

// A variable-length object: a header with a Member, and a tail of entries
// whose own Member fields are traced (and whose keys are not).
struct Entry {
  int64_t key;
  gc::Member<Node> value;
};
struct Table {
  int64_t count;
  gc::Member<Node> meta;
};

TEST_F(CppApiTest, TailOfStructsWithMembers) {
  auto b = gc::TypeBuilder<Table>("Table")
               .Field(GC_FIELD(Table, meta))
               .Tail(gc::Layout<Entry>().Field(GC_FIELD(Entry, value)));
  EXPECT_EQ(b.elem_size(), sizeof(Entry));
  ASSERT_EQ(b.elem_ptr_bitmap().size(), 1u);
  EXPECT_EQ(b.elem_ptr_bitmap()[0],
            uint64_t{1} << (offsetof(Entry, value) / 8));
  gc_type_id table = b.Register(heap_);
  ASSERT_NE(table, 0u) << gc_last_error();

  constexpr int kN = 300;
  gc::Root<Table> t(heap_, gc::New<Table>(m_, table, kN * sizeof(Entry)));
  ASSERT_TRUE(t);
  t->count = kN;
  t->meta.Set(m_, t.get(), NewNode(-1));
  Entry* e = gc::TailOf<Entry>(t.get());
  for (int i = 0; i < kN; i++) {
    Node* keyed = NewNode(i);
    e[i].key = reinterpret_cast<int64_t>(NewNode(1000 + i));  // not traced
    if (i % 3 != 0) e[i].value.Set(m_, t.get(), keyed);
  }
  const uint64_t expect = 1 + 1 + (kN - kN / 3);
  EXPECT_EQ(LiveAfterCollect(), expect);
  for (int i = 0; i < kN; i++) {
    if (i % 3 != 0) {
      ASSERT_EQ(e[i].value->value, i);
    }
  }
  EXPECT_EQ(t->meta->value, -1);
}

TEST_F(CppApiTest, TailOfPointers) {
  struct Vec {
    int64_t length;
  };
  auto b = gc::TypeBuilder<Vec>("Vec").Tail<gc::Member<Node>>();
  EXPECT_EQ(b.ptr_bitmap()[0], 0u);
  ASSERT_EQ(b.elem_ptr_bitmap().size(), 1u);
  EXPECT_EQ(b.elem_ptr_bitmap()[0], 1u);
  gc_type_id vec = b.Register(heap_);
  ASSERT_NE(vec, 0u) << gc_last_error();
  constexpr int kN = 10000;  // 80 KB: a large object
  gc::Root<Vec> v(heap_, gc::New<Vec>(m_, vec, kN * sizeof(gc::Member<Node>)));
  ASSERT_TRUE(v);
  v->length = kN;
  auto* items = gc::TailOf<gc::Member<Node>>(v.get());
  for (int i = 0; i < kN; i += 7) items[i].Set(m_, v.get(), NewNode(i));
  EXPECT_EQ(LiveAfterCollect(), 1u + (kN + 6) / 7);
  for (int i = 0; i < kN; i += 7) ASSERT_EQ(items[i]->value, i);
}

// A node whose used children are counted: the typed trace callback reports
// only those.
struct Bag {
  int64_t used;
  gc::Member<Node> kids[4];
};
void TraceBag(Bag* bag, const gc::Tracer& t) {
  for (int64_t i = 0; i < bag->used; i++) t(bag->kids[i]);
}

TEST_F(CppApiTest, TypedTraceCallback) {
  gc_type_id bag =
      gc::TypeBuilder<Bag>("Bag").Trace<&TraceBag>().Register(heap_);
  ASSERT_NE(bag, 0u) << gc_last_error();
  gc::Root<Bag> b(heap_, gc::New<Bag>(m_, bag));
  for (int i = 0; i < 4; i++) b->kids[i].Set(m_, b.get(), NewNode(i));
  b->used = 2;
  EXPECT_EQ(LiveAfterCollect(), 3u);  // bag + kids 0 and 1
  EXPECT_EQ(b->kids[1]->value, 1);
}

// Trace<Fn>(data): two types share one typed callback and differ only in
// their data (a VM that says how many kids are in use); each bag is traced
// with its own type's VM, so the counts differ per type.
struct BagVm {
  int64_t used;
  std::atomic<int> calls{0};
};
void TraceBagWithVm(Bag* bag, const gc::Tracer& t, BagVm* vm) {
  vm->calls++;
  for (int64_t i = 0; i < vm->used; i++) t(bag->kids[i]);
}

TEST_F(CppApiTest, TypedTraceCallbackGetsItsTypesData) {
  BagVm one{1}, three{3};
  gc_type_id bag1 =
      gc::TypeBuilder<Bag>("Bag1").Trace<&TraceBagWithVm>(&one).Register(heap_);
  gc_type_id bag3 =
      gc::TypeBuilder<Bag>("Bag3").Trace<&TraceBagWithVm>(&three).Register(
          heap_);
  ASSERT_NE(bag1, 0u) << gc_last_error();
  ASSERT_NE(bag3, 0u) << gc_last_error();
  gc::Root<Bag> b1(heap_, gc::New<Bag>(m_, bag1));
  gc::Root<Bag> b3(heap_, gc::New<Bag>(m_, bag3));
  for (int i = 0; i < 4; i++) {
    b1->kids[i].Set(m_, b1.get(), NewNode(i));
    b3->kids[i].Set(m_, b3.get(), NewNode(10 + i));
  }
  // The bags, one kid of the first and three of the second.
  EXPECT_EQ(LiveAfterCollect(), 2u + 1u + 3u);
  EXPECT_GE(one.calls.load(), 1);
  EXPECT_GE(three.calls.load(), 1);
  EXPECT_EQ(b1->kids[0]->value, 0);
  EXPECT_EQ(b3->kids[2]->value, 12);
}

// Member's atomic stores (CompareExchange, Exchange, Load) and the bulk
// copy (CopyMembers, overlapping like memmove), all through the barriers.
TEST_F(CppApiTest, MemberCasExchangeAndBulkCopy) {
  gc_type_id bag =
      gc::TypeBuilder<Bag>("Bag").Field(GC_FIELD(Bag, kids)).Register(heap_);
  ASSERT_NE(bag, 0u) << gc_last_error();
  gc::Root<Bag> b(heap_, gc::New<Bag>(m_, bag));
  Node* n0 = NewNode(0);
  Node* expected = nullptr;
  EXPECT_TRUE(b->kids[0].CompareExchange(m_, b.get(), expected, n0));
  expected = nullptr;
  Node* n1 = NewNode(1);
  EXPECT_FALSE(b->kids[0].CompareExchange(m_, b.get(), expected, n1));
  EXPECT_EQ(expected, n0);
  EXPECT_EQ(b->kids[1].Exchange(m_, b.get(), n1), nullptr);
  EXPECT_EQ(b->kids[1].Load(), n1);
  // [n0, n1, -, -] -> shift right by two -> [n0, n1, n0, n1]
  gc::CopyMembers(m_, b.get(), &b->kids[2], &b->kids[0], 2);
  EXPECT_EQ(b->kids[2].Get(), n0);
  EXPECT_EQ(b->kids[3].Get(), n1);
  // overlapping: [n0, n1, n0, n1] -> shift left by one -> [n1, n0, n1, n1]
  gc::CopyMembers(m_, b.get(), &b->kids[0], &b->kids[1], 3);
  EXPECT_EQ(b->kids[0].Get(), n1);
  EXPECT_EQ(b->kids[1].Get(), n0);
  EXPECT_EQ(b->kids[2].Get(), n1);
  EXPECT_EQ(LiveAfterCollect(), 3u);  // the bag, n0 and n1
  EXPECT_EQ(b->kids[1]->value, 0);
  EXPECT_EQ(b->kids[0].Exchange(m_, b.get(), nullptr), n1);
}

TEST_F(CppApiTest, RegistrationFailureReturnsZero) {
  // The heap holds at most 65535 types: the next registration fails.
  struct Small {
    int64_t x;
  };
  gc::Heap h(TestConfig());
  ASSERT_TRUE(h.ok());
  gc_type_id last = 0;
  for (int i = 0; i < 65535; i++) {
    last = gc::TypeBuilder<Small>("Small").Register(h);
    ASSERT_NE(last, 0u) << i << ": " << gc_last_error();
  }
  EXPECT_EQ(last, 65535u);
  EXPECT_EQ(gc::TypeBuilder<Small>("OneTooMany").Register(h), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("maximum"), std::string::npos)
      << gc_last_error();
}

TEST_F(CppApiTest, NewReportsAllocationErrors) {
  EXPECT_EQ(gc::New<Node>(m_, 9999), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("unknown type"),
            std::string::npos);
  EXPECT_EQ(gc::New<Node>(m_, node_, SIZE_MAX), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("overflow"), std::string::npos);
  void* bytes = gc::AllocNoscan(m_, 100);
  ASSERT_NE(bytes, nullptr);
}

// While one thread is in a BlockingScope, another thread's collection does
// not wait for it; the blocked thread's rooted objects survive.
TEST_F(CppApiTest, BlockingScopeLetsOtherThreadsCollect) {
  std::atomic<int> phase{0};  // 1: worker blocked; 2: main collected
  std::atomic<int64_t> seen{-1};
  std::thread worker([&] {
    gc::Mutator wm(heap_);
    gc::Root<Node> mine(heap_, gc::New<Node>(wm, node_));
    mine->value = 42;
    {
      gc::BlockingScope blocked(wm);
      phase.store(1);
      while (phase.load() != 2) std::this_thread::yield();
    }
    wm.Safepoint();
    seen.store(mine->value);
  });
  {
    // Wait for the worker inside a blocking scope of our own, so that a
    // collection the worker's allocation triggers does not wait for us.
    gc::BlockingScope waiting(m_);
    while (phase.load() != 1) std::this_thread::yield();
  }
  for (int i = 0; i < 1000; i++) NewNode(i);
  EXPECT_EQ(LiveAfterCollect(), 1u);  // the worker's rooted node
  const uint64_t cycles = heap_.Stats().cycles;
  m_.Collect();
  EXPECT_EQ(heap_.Stats().cycles, cycles + 1);
  phase.store(2);
  {
    gc::BlockingScope waiting(m_);
    worker.join();
  }
  EXPECT_EQ(seen.load(), 42);
  EXPECT_EQ(LiveAfterCollect(), 0u);
}

// Several threads, each with its own Mutator and Roots, build lists through
// Members while collections run.
TEST_F(CppApiTest, ThreadsWithRootsAndMembers) {
  constexpr int kThreads = 4;
  constexpr int kLen = 2000;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  {
    gc::BlockingScope waiting(m_);  // the workers collect; we just wait
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        gc::Mutator wm(heap_);
        for (int round = 0; round < 5; round++) {
          gc::Root<Node> head(wm);
          for (int i = 0; i < kLen; i++) {
            Node* n = gc::New<Node>(wm, node_);
            if (n == nullptr) {
              failures++;
              return;
            }
            n->value = t * 1000000 + i;
            n->next.Set(wm, n, head.get());
            head = n;
            if (i % 500 == 0) gc::New<Node>(wm, node_);  // garbage
          }
          if (t == 0) wm.Collect();
          int64_t expect = t * 1000000 + kLen - 1;
          for (Node* n = head.get(); n; n = n->next.Get()) {
            if (n->value != expect--) failures++;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(LiveAfterCollect(), 0u);
}

TEST_F(CppApiTest, WeakRefReadsItsObjectUntilItDies) {
  gc::Root<Node> r(heap_, NewNode(11));
  gc::WeakRef<Node> w(m_, r.get());
  gc::WeakRef<Node> lng(m_, r.get(), GC_WEAK_LONG);
  ASSERT_TRUE(w.ok() && lng.ok()) << gc_last_error();
  EXPECT_EQ(LiveAfterCollect(), 1u);
  EXPECT_EQ(w.Get(m_), r.get());
  EXPECT_EQ(w.Get(m_)->value, 11);
  // Moving keeps the one handle; the source becomes empty.
  gc::WeakRef<Node> moved(std::move(w));
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(moved.Get(m_), r.get());
  r = nullptr;
  EXPECT_EQ(LiveAfterCollect(), 0u);
  EXPECT_EQ(moved.Get(m_), nullptr);
  EXPECT_EQ(lng.Get(m_), nullptr);
  // Retarget.
  gc::Root<Node> r2(heap_, NewNode(12));
  moved.Set(m_, r2.get());
  EXPECT_EQ(LiveAfterCollect(), 1u);
  EXPECT_EQ(moved.Get(m_)->value, 12);
}

TEST_F(CppApiTest, WeakRefToANonHeapObjectFails) {
  Node on_stack{};
  gc::WeakRef<Node> w(m_, &on_stack);
  EXPECT_FALSE(w.ok());
  EXPECT_NE(std::string(gc_last_error()).find("not an object of this heap"),
            std::string::npos)
      << gc_last_error();
}

struct Cache {
  gc::Member<Node> strong;
  gc::WeakMember<Node> weak[2];
  int64_t n;
};
static_assert(sizeof(gc::WeakMember<Node>) == sizeof(void*));
static_assert(std::is_trivially_default_constructible_v<Cache>);

TEST_F(CppApiTest, WeakMembersAreClearedWhenTheirTargetDies) {
  gc_type_id cache_t = gc::TypeBuilder<Cache>("Cache")
                           .Field(GC_FIELD(Cache, strong))
                           .WeakField(GC_FIELD(Cache, weak))
                           .WeakKind(GC_WEAK_LONG)
                           .Register(heap_);
  ASSERT_NE(cache_t, 0u) << gc_last_error();
  gc::Root<Cache> c(heap_, gc::New<Cache>(m_, cache_t));
  Node* kept = NewNode(1);
  c->strong.Set(m_, c.get(), kept);
  c->weak[0].Store(m_, c.get(), NewNode(2));
  c->weak[1].Store(m_, c.get(), kept);
  EXPECT_EQ(LiveAfterCollect(), 2u);
  EXPECT_EQ(c->weak[0].Load(m_, c.get()), nullptr);
  EXPECT_EQ(c->weak[1].Load(m_, c.get()), kept);
}

struct Traced {
  gc::Member<Node> strong;
  gc::WeakMember<Node> weak;
};
void TraceTraced(Traced* t, const gc::Tracer& tr) {
  tr(t->strong);
  tr.Weak(t->weak);
}

TEST_F(CppApiTest, TracerReportsWeakMembers) {
  gc_type_id t =
      gc::TypeBuilder<Traced>("Traced").Trace<&TraceTraced>().Register(heap_);
  ASSERT_NE(t, 0u) << gc_last_error();
  gc::Root<Traced> r(heap_, gc::New<Traced>(m_, t));
  r->weak.Store(m_, r.get(), NewNode(5));
  r->strong.Set(m_, r.get(), NewNode(6));
  EXPECT_EQ(LiveAfterCollect(), 2u);
  EXPECT_EQ(r->weak.Load(m_, r.get()), nullptr);
  EXPECT_EQ(r->strong->value, 6);
}

}  // namespace
