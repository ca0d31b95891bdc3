// Tests for gc/typeinfo: TypeTable::Register's validation (every error has
// a message naming the type and the problem), how bitmaps are checked,
// read and copied, variable tails, trace callbacks with and without
// context, the table's limits, that a table's unused slots never become
// resident, and concurrent registration while other threads read the
// table (run under tsan).
#include "gc/typeinfo.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/base.h"

namespace gcheap {
namespace {

TypeSpec Spec(const char* name, size_t size) {
  TypeSpec s;
  s.name = name;
  s.size = size;
  return s;
}

// Registers spec, expecting failure with a message that contains each of
// `parts`.
void ExpectError(TypeTable& t, const TypeSpec& spec,
                 std::initializer_list<const char*> parts) {
  StatusOr<uint16_t> id = t.Register(spec);
  ASSERT_FALSE(id.ok()) << "registered";
  const std::string msg(id.status().message());
  for (const char* p : parts) {
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' in: " << msg;
  }
}

TEST(TypeInfoTest, ValidationErrors) {
  TypeTable t;
  ExpectError(t, Spec("Empty", 0), {"'Empty'", "both 0"});
  ExpectError(t, Spec("Huge", kMaxAllocBytes + 1), {"'Huge'", "exceeds"});
  TypeSpec s = Spec("Tail", 8);
  s.elem_size = kMaxAllocBytes + 8;
  ExpectError(t, s, {"'Tail'", "GC_MAX_ALLOC_BYTES"});

  static const uint64_t kMap[2] = {0b1, 0};
  s = Spec("Both", 16);
  s.trace = [](void*, VisitFn, void*) {};
  s.trace_ctx = [](void*, VisitFn, void*, void*) {};
  ExpectError(t, s, {"'Both'", "both trace and trace_ctx"});

  s = Spec("NoLength", 16);
  s.ptrmap = kMap;
  ExpectError(t, s, {"'NoLength'", "ptr_bitmap_words is 0", "(1 for the"});
  s = Spec("NoMap", 16);
  s.ptrmap_words = 1;
  ExpectError(t, s, {"ptr_bitmap is NULL but ptr_bitmap_words is 1"});
  s = Spec("Short", 64 * 8 + 8);  // 65 words: 2 bitmap words
  s.ptrmap = kMap;
  s.ptrmap_words = 1;
  ExpectError(t, s, {"'Short'", "too short", "1 64-bit word", "needs 2"});
  s = Spec("ElemShort", 8);
  s.elem_size = 65 * 8;
  s.elem_ptrmap = kMap;
  s.elem_ptrmap_words = 1;
  ExpectError(t, s, {"elem_ptr_bitmap is too short", "element"});
  s = Spec("ElemNoTail", 8);
  s.elem_ptrmap = kMap;
  s.elem_ptrmap_words = 1;
  ExpectError(t, s, {"without a tail"});

  // Bits that name no whole word inside the layout.
  static const uint64_t kWord2 = 0b100;
  s = Spec("Partial", 20);  // words 0, 1 and half of 2
  s.ptrmap = &kWord2;
  s.ptrmap_words = 1;
  ExpectError(t, s,
              {"'Partial'", "ptr_bitmap bit 2 lies past the end",
               "20-byte fixed part"});
  static const uint64_t kPadding = uint64_t{1} << 40;
  s = Spec("Padding", 16);  // bit 40 of the only bitmap word: no word there
  s.ptrmap = &kPadding;
  s.ptrmap_words = 1;
  ExpectError(t, s, {"bit 40 lies past the end"});
  static const uint64_t kOne = 1;
  s = Spec("OddElem", 8);
  s.elem_size = 12;
  s.elem_ptrmap = &kOne;
  s.elem_ptrmap_words = 1;
  ExpectError(t, s, {"multiple of 8 bytes (elem_size 12)"});
  s = Spec("OddFixed", 12);
  s.elem_size = 8;
  s.elem_ptrmap = &kOne;
  s.elem_ptrmap_words = 1;
  ExpectError(t, s, {"fixed part that is a multiple of 8"});
  s = Spec(nullptr, 0);
  ExpectError(t, s, {"'(unnamed)'"});
  EXPECT_EQ(t.size(), 0u) << "a rejected type was registered";
}

// Only the words the layout needs are read; they are copied, so the
// caller's array may change or go away; bits past the last whole word of
// a partial last word are rejected above, and the rest is kept exactly.
TEST(TypeInfoTest, BitmapsAreCheckedCopiedAndReadOnlyAsFarAsTheLayout) {
  TypeTable t;
  // 130 words: 3 bitmap words. Pointers at words 0, 64, 129; the fourth
  // array word is garbage beyond the layout and is not read.
  std::vector<uint64_t> map = {1, 1, uint64_t{1} << 1, ~uint64_t{0}};
  TypeSpec s = Spec("Wide", 130 * 8);
  s.ptrmap = map.data();
  s.ptrmap_words = map.size();
  StatusOr<uint16_t> id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  map.assign(map.size(), ~uint64_t{0});
  const TypeInfo* ti = t.Get(*id);
  ASSERT_NE(ti, nullptr);
  EXPECT_EQ(ti->name, "Wide");
  EXPECT_FALSE(ti->noscan);
  ASSERT_EQ(ti->ptrmap.size(), 3u);
  for (size_t w = 0; w < 140; w++) {
    EXPECT_EQ(ti->FixedWordHasPointer(w), w == 0 || w == 64 || w == 129) << w;
  }
  // An all-zero bitmap makes a noscan type, with no map kept.
  static const uint64_t kZero = 0;
  s = Spec("Zeros", 16);
  s.ptrmap = &kZero;
  s.ptrmap_words = 1;
  id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_TRUE(t.Get(*id)->noscan);
  EXPECT_TRUE(t.Get(*id)->ptrmap.empty());
  // A bitmap for a size-0 fixed part (a tail-only type) is fine.
  s = Spec("TailOnly", 0);
  s.ptrmap = &kZero;
  s.ptrmap_words = 1;
  s.elem_size = 1;
  EXPECT_TRUE(t.Register(s).ok());
}

TEST(TypeInfoTest, TailsDescribeRepeatedElements) {
  TypeTable t;
  static const uint64_t kHeader = 0b10;  // word 1 of the header
  static const uint64_t kElem = 0b101;   // words 0 and 2 of an element
  TypeSpec s = Spec("Vec", 16);
  s.ptrmap = &kHeader;
  s.ptrmap_words = 1;
  s.elem_size = 24;
  s.elem_ptrmap = &kElem;
  s.elem_ptrmap_words = 1;
  StatusOr<uint16_t> id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  const TypeInfo* ti = t.Get(*id);
  EXPECT_EQ(ti->size, 16u);
  EXPECT_EQ(ti->elem_size, 24u);
  EXPECT_FALSE(ti->noscan);
  EXPECT_FALSE(ti->FixedWordHasPointer(0));
  EXPECT_TRUE(ti->FixedWordHasPointer(1));
  EXPECT_TRUE(ti->ElemWordHasPointer(0));
  EXPECT_FALSE(ti->ElemWordHasPointer(1));
  EXPECT_TRUE(ti->ElemWordHasPointer(2));
  EXPECT_FALSE(ti->ElemWordHasPointer(3));
  // A pointer-free tail (bytes) with an odd element size is fine.
  s = Spec("Str", 4);
  s.elem_size = 1;
  id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_TRUE(t.Get(*id)->noscan);
  // A pointer tail alone makes the type scanned.
  static const uint64_t kSlot = 0b1;
  s = Spec("Slots", 8);
  s.elem_size = 8;
  s.elem_ptrmap = &kSlot;
  s.elem_ptrmap_words = 1;
  id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_FALSE(t.Get(*id)->noscan);
}

// TypeInfo::Trace calls the plain callback, or the context one with the
// type's user data.
TEST(TypeInfoTest, TraceCallbacksWithAndWithoutContext) {
  TypeTable t;
  static int plain_calls = 0;
  TypeSpec s = Spec("Plain", 16);
  s.trace = [](void* obj, VisitFn visit, void* ctx) {
    plain_calls++;
    visit(static_cast<void**>(obj), ctx);
  };
  StatusOr<uint16_t> plain = t.Register(s);
  ASSERT_TRUE(plain.ok());
  int data_a = 1, data_b = 2;
  s = Spec("CtxA", 16);
  s.trace_ctx = [](void* obj, VisitFn visit, void* ctx, void* user_data) {
    static_cast<void**>(obj)[1] = user_data;  // show where it went
    visit(static_cast<void**>(obj) + 1, ctx);
  };
  s.user_data = &data_a;
  StatusOr<uint16_t> a = t.Register(s);
  s.name = "CtxB";
  s.user_data = &data_b;
  StatusOr<uint16_t> b = t.Register(s);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  for (uint16_t id : {*plain, *a, *b}) {
    EXPECT_TRUE(t.Get(id)->has_trace());
    EXPECT_FALSE(t.Get(id)->noscan) << "a traced type is scanned";
  }
  void* obj[2] = {};
  std::vector<void**> seen;
  auto visit = [](void** slot, void* ctx) {
    static_cast<std::vector<void**>*>(ctx)->push_back(slot);
  };
  t.Get(*plain)->Trace(obj, visit, &seen);
  EXPECT_EQ(plain_calls, 1);
  t.Get(*a)->Trace(obj, visit, &seen);
  EXPECT_EQ(obj[1], &data_a);
  t.Get(*b)->Trace(obj, visit, &seen);
  EXPECT_EQ(obj[1], &data_b);
  EXPECT_EQ(seen, (std::vector<void**>{&obj[0], &obj[1], &obj[1]}));
}

TEST(TypeInfoTest, WeakSlotsAreValidatedAndMakeATypeScanned) {
  TypeTable t;
  const uint64_t ptr = 0b01, weak = 0b10, both = 0b11, past = 0b100;
  TypeSpec s = Spec("W", 16);
  s.weakmap = &weak;
  s.weakmap_words = 1;
  StatusOr<uint16_t> id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  const TypeInfo* ti = t.Get(*id);
  EXPECT_FALSE(ti->noscan);
  EXPECT_EQ(ti->special, TypeSpecial::kWeakSlots);
  EXPECT_TRUE(ti->FixedWordIsWeak(1));
  EXPECT_FALSE(ti->FixedWordIsWeak(0));
  std::vector<size_t> offs;
  ti->ForEachWeakOffset([&](size_t o) { offs.push_back(o); });
  EXPECT_EQ(offs, std::vector<size_t>{8});
  s.ptrmap = &both;
  s.ptrmap_words = 1;
  ExpectError(t, s, {"'W'", "both a pointer slot and a weak slot"});
  s.ptrmap = &ptr;
  s.weak_kind = 2;
  ExpectError(t, s, {"weak_kind"});
  s.weak_kind = 1;
  s.weakmap = &past;
  ExpectError(t, s, {"weak_bitmap bit 2", "past the end"});
  s.weakmap = &weak;
  s.weakmap_words = 0;
  ExpectError(t, s, {"weak_bitmap is set but weak_bitmap_words is 0"});
  s.weakmap_words = 1;
  s.trace = [](void*, VisitFn, void*) {};
  s.ptrmap = nullptr;
  s.ptrmap_words = 0;
  ExpectError(t, s, {"with a trace callback"});
  s.trace = nullptr;
  id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(t.Get(*id)->weak_kind, 1);
  TypeSpec e = Spec("Eph", 24);
  e.ephemeron = true;
  id = t.Register(e);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(t.Get(*id)->special, TypeSpecial::kEphemeron);
  EXPECT_FALSE(t.Get(*id)->noscan);
}

// A conservative type (gc_alloc_conservative's) has only ambiguous,
// strong words: one with weak slots, or an ephemeron, is refused.
TEST(TypeInfoTest, AConservativeTypeHasNoWeakSlotsAndIsNoEphemeron) {
  TypeTable t;
  const uint64_t every = 1, weak = 0b10;
  TypeSpec s = Spec("C", 16);
  s.elem_size = 8;
  s.elem_ptrmap = &every;
  s.elem_ptrmap_words = 1;
  s.conservative = true;
  StatusOr<uint16_t> id = t.Register(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_TRUE(t.Get(*id)->conservative);
  EXPECT_EQ(t.Get(*id)->special, TypeSpecial::kNone);
  s.weakmap = &weak;
  s.weakmap_words = 1;
  ExpectError(t, s, {"'C'", "conservative type has no weak slots"});
  s.weakmap = nullptr;
  s.weakmap_words = 0;
  s.ephemeron = true;
  ExpectError(t, s, {"'C'", "is not an ephemeron"});
}

TEST(TypeInfoTest, IdsAndTheLimitOfTheTable) {
  TypeTable t;
  EXPECT_EQ(t.Get(0), nullptr);
  EXPECT_EQ(t.Get(1), nullptr);
  EXPECT_EQ(t.Get(TypeTable::kMaxTypes + 1), nullptr);
  EXPECT_EQ(t.Get(~uint32_t{0}), nullptr);
  for (size_t i = 1; i <= TypeTable::kMaxTypes; i++) {
    StatusOr<uint16_t> id = t.Register(Spec("T", 8));
    ASSERT_TRUE(id.ok()) << i << ": " << id.status().message();
    ASSERT_EQ(*id, i);
  }
  EXPECT_EQ(t.size(), TypeTable::kMaxTypes);
  EXPECT_NE(t.Get(TypeTable::kMaxTypes), nullptr);
  StatusOr<uint16_t> id = t.Register(Spec("OneTooMany", 8));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(id.status().message()).find("'OneTooMany'"),
            std::string::npos);
}

// Registration takes a lock; Get does not. Readers that see a new size()
// see the type's whole description (release/acquire), while writers keep
// registering. Four writers and four readers on two cores.
// The resident pages of [p, p + bytes) (mincore; p page-aligned).
size_t ResidentPages(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((bytes + page - 1) / page);
  if (mincore(const_cast<void*>(p), bytes, v.data()) != 0) return ~size_t{0};
  size_t n = 0;
  for (unsigned char c : v) n += c & 1;
  return n;
}

// A table's 65536 slots are 512 KiB and its minimum-size table 256 KiB;
// only the pages of registered ids may become resident. Each of sixteen
// tables with one type (id 1) has at most the first page of each resident
// (a table whose slots were all written at construction, as
// `new std::atomic<T*>[n]()` does, or cleared by its allocator, as
// ThreadSanitizer's calloc does, has all of them). Asked of the tables'
// own pages with mincore, not of the process's resident set, which a
// sanitizer's shadow memory for the mappings also grows. (The test reads
// no slot past the first page: a read maps the shared zero page, which
// costs no memory but which mincore reports as resident.)
TEST(TypeInfoTest, UnusedSlotsOfTheTableAreNeverTouched) {
  std::vector<std::unique_ptr<TypeTable>> tables;
  for (int i = 0; i < 16; i++) {
    tables.push_back(std::make_unique<TypeTable>());
    StatusOr<uint16_t> id = tables.back()->Register(Spec("T", 16));
    ASSERT_TRUE(id.ok()) << id.status().message();
    ASSERT_NE(tables.back()->Get(*id), nullptr);
    EXPECT_EQ(tables.back()->Get(*id + 1), nullptr);
  }
  for (const auto& t : tables) {
    EXPECT_LE(ResidentPages(t->slot_table(), TypeTable::kSlotTableBytes), 1u);
    EXPECT_LE(
        ResidentPages(t->alloc_min_table(), TypeTable::kAllocMinTableBytes),
        1u);
  }
}

TEST(TypeInfoConcurrencyTest, ReadersSeeWholeTypesWhileOthersRegister) {
  constexpr int kWriters = 4, kReaders = 4, kPerWriter = 2000;
  TypeTable t;
  std::atomic<int> writers_done{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; w++) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; i++) {
        // Size encodes the writer; the bitmap says word (size/8 - 1).
        const size_t words = 1 + (w * kPerWriter + i) % 60;
        const uint64_t map = uint64_t{1} << (words - 1);
        TypeSpec s = Spec("C", words * 8);
        s.ptrmap = &map;
        s.ptrmap_words = 1;
        if (!t.Register(s).ok()) failures++;
      }
      writers_done++;
    });
  }
  for (int r = 0; r < kReaders; r++) {
    threads.emplace_back([&] {
      while (writers_done.load() < kWriters) {
        const size_t n = t.size();
        for (size_t id = n > 50 ? n - 50 : 1; id <= n; id++) {
          const TypeInfo* ti = t.Get(static_cast<uint32_t>(id));
          if (ti == nullptr || ti->name != "C" ||
              !ti->FixedWordHasPointer(ti->size / 8 - 1) ||
              ti->FixedWordHasPointer(ti->size / 8)) {
            failures++;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(t.size(), size_t{kWriters} * kPerWriter);
}

// simple_ptrmask (the marker's fast path) is the fixed part's one-word
// pointer map for plain types, and 0 for every type whose scan needs more:
// a trace callback, weak slots, an ephemeron, a conservative layout, a
// repeated tail with pointers, or a map of more than one word.
TEST(TypeInfoTest, SimplePtrmaskOnlyForPlainOneWordMaps) {
  TypeTable t;
  static const uint64_t kMap = 0b110;
  static const uint64_t kWide[2] = {0b1, 0b1};
  auto mask = [&](const TypeSpec& s) {
    StatusOr<uint16_t> id = t.Register(s);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? t.Get(*id)->simple_ptrmask : ~uint64_t{0};
  };
  TypeSpec s = Spec("Plain", 32);
  s.ptrmap = &kMap;
  s.ptrmap_words = 1;
  EXPECT_EQ(mask(s), kMap);
  TypeSpec tail = s;
  tail.name = "Tail";
  tail.elem_size = 8;
  static const uint64_t kOne = 0b1;
  tail.elem_ptrmap = &kOne;
  tail.elem_ptrmap_words = 1;
  EXPECT_EQ(mask(tail), 0u);
  TypeSpec cons = s;
  cons.name = "Conservative";
  cons.conservative = true;
  EXPECT_EQ(mask(cons), 0u);
  TypeSpec traced = Spec("Traced", 32);
  traced.trace = [](void*, VisitFn, void*) {};
  EXPECT_EQ(mask(traced), 0u);
  TypeSpec weak = Spec("Weak", 32);
  weak.ptrmap = &kMap;
  weak.ptrmap_words = 1;
  static const uint64_t kWeak = 0b1;
  weak.weakmap = &kWeak;
  weak.weakmap_words = 1;
  EXPECT_EQ(mask(weak), 0u);
  TypeSpec wide = Spec("Wide", 65 * 8);
  wide.ptrmap = kWide;
  wide.ptrmap_words = 2;
  EXPECT_EQ(mask(wide), 0u);
  EXPECT_EQ(mask(Spec("NoPointers", 32)), 0u);
}

}  // namespace
}  // namespace gcheap
