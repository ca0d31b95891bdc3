// layout.h: the object kinds the oracle's programs allocate, their word
// layouts, and the identity stamp / payload / checksum functions.
//
// Every object carries, in non-pointer words, an identity stamp (derived
// from its owner tag and id) and a checksum of its non-pointer payload; the
// payload words are a pure function of (tag, id, word index) unless a Touch
// op overwrote them. So after a collection the oracle can tell, for every
// reachable object, whether any byte of it changed, and which.
//
// Kinds (word = 8 bytes, W = ceil(bytes / 8)):
//   Small3  type "Small3", 48 bytes fixed (+8j): [stamp, P, pay, P, sum, P]
//           then payload words. 3 pointer fields.
//   Vec     type "Vec": 32-byte header [stamp, sum, length, P(meta)] and a
//           tail of 16-byte elements [P, pay] (a trailing half element
//           [P] when bytes % 16 == 8). Large when bytes > 32 KiB.
//   Traced  type "Traced", trace callback: [stamp, sum, n, pay, kid0..kid7]
//           (+ payload); the callback reports kids[0..n).
//   Wide    type "Wide", 720 bytes fixed (+8j): pointer words at 2, 40, 63,
//           64, 65 and 89 (a two-word bitmap); stamp at 0, sum at 1.
//   Blob    registered type without pointers (24 bytes + 8-byte elements):
//           a noscan object allocated through gc_alloc.
//   Noscan  gc_alloc_noscan, any size >= 16: [stamp, sum, payload bytes].
//   WeakS   types "WeakS" / "WeakL" (issue 12: weak fields declared in the
//   WeakL   type; short / long clearing point), 64 bytes fixed (+8j):
//           [stamp, sum, P, W, pay, W, P, W] then payload words: 2 strong
//           pointer fields (words 2 and 6) and 3 weak slots (3, 5, 7),
//           which the collector does not trace and clears in place.
//   Ephemeron  the heap's built-in {key, value, next} object
//           (gc_ephemeron_new): no stamp or payload of ours; the model
//           counts `next` as its one pointer field (word 2), and the
//           executor reads it through the ephemeron API only. Its size
//           (3 words) is the design's (runtime/gc.h), checked by the
//           exact byte counts after every collection.
#ifndef GCHEAP_TESTS_ORACLE_LAYOUT_H_
#define GCHEAP_TESTS_ORACLE_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gcheap::oracle {

enum class Kind : uint8_t {
  kSmall3,
  kVec,
  kTraced,
  kWide,
  kBlob,
  kNoscan,
  kWeakS,
  kWeakL,
  kEphemeron,
};
inline constexpr int kNumKinds = 9;
// The kinds with a registered type of ours (gc_alloc): all but Noscan and
// the VM kinds. RegisterTypes registers these, and the weak kinds with
// the weak bitmap of gc_type_desc (issue 12).
inline constexpr int kNumPlainTypes = 5;

const char* KindName(Kind k);
bool ParseKind(std::string_view s, Kind* out);

enum class Role : uint8_t {
  kStamp,
  kChecksum,
  kPtr,
  kPayload,
  kMeta,  // Vec length / Traced n: checked against the model
  kWeak,  // a weak slot (WeakS / WeakL), or an ephemeron's key / value
};

inline constexpr uint32_t kTracedKids = 8;
inline constexpr uint32_t kSmall3Bytes = 48;
inline constexpr uint32_t kVecHeaderBytes = 32;
inline constexpr uint32_t kVecElemBytes = 16;
inline constexpr uint32_t kTracedBytes = 96;
inline constexpr uint32_t kWideBytes = 720;
inline constexpr uint32_t kBlobBytes = 24;
inline constexpr uint32_t kMinNoscanBytes = 16;
inline constexpr uint32_t kWideWords = kWideBytes / 8;
inline constexpr uint32_t kWidePtrWords[] = {2, 40, 63, 64, 65, 89};
inline constexpr uint32_t kWideFields = 6;
inline constexpr uint32_t kWeakBytes = 64;
inline constexpr uint32_t kWeakFields = 3;  // weak slots per WeakS/L object
inline constexpr uint32_t kWeakFieldWords[kWeakFields] = {3, 5, 7};
inline constexpr uint32_t kEphemeronBytes = 24;

inline uint32_t Words(uint32_t bytes) { return (bytes + 7) / 8; }

// Whether an object of kind k may have `bytes` bytes.
bool ValidBytes(Kind k, uint32_t bytes);
// Role of word w (w < Words(bytes)).
Role RoleOf(Kind k, uint32_t bytes, uint32_t w);
// Number of pointer fields, the word of field f, the number of payload
// words and the word of payload word p.
uint32_t NumFields(Kind k, uint32_t bytes);
uint32_t FieldWord(Kind k, uint32_t f);
uint32_t NumPayloadWords(Kind k, uint32_t bytes);
uint32_t PayloadWord(Kind k, uint32_t p);
// Bytes of word w that belong to the object (8, or less for the last word
// of a noscan object whose size is not a multiple of 8).
inline uint32_t WordBytes(uint32_t bytes, uint32_t w) {
  uint32_t end = (w + 1) * 8;
  return end <= bytes ? 8 : bytes - w * 8;
}
inline bool IsNoscan(Kind k) { return k == Kind::kBlob || k == Kind::kNoscan; }
inline bool IsWeakKind(Kind k) {
  return k == Kind::kWeakS || k == Kind::kWeakL;
}
// Kinds that only the VM API (issue 12) can allocate or check.
inline bool IsVmKind(Kind k) { return IsWeakKind(k) || k == Kind::kEphemeron; }
// Weak slots of an object of kind k, and the word of weak slot i.
inline uint32_t NumWeakFields(Kind k) {
  return IsWeakKind(k) ? kWeakFields : 0;
}
inline uint32_t WeakFieldWord(uint32_t i) { return kWeakFieldWords[i]; }
// The Vec length word / Traced n word.
inline constexpr uint32_t kMetaWord = 2;
// The word holding the payload checksum.
inline uint32_t ChecksumWord(Kind k) { return k == Kind::kSmall3 ? 4 : 1; }

// Bytes the heap accounts for an object of `bytes` bytes: its size class's
// slot, or whole pages for a large object.
uint64_t SlotBytes(uint32_t bytes);
// Size class of an object of `bytes` bytes (0 = large).
int SizeClassOfBytes(uint32_t bytes);

// ---- stamps, payload and checksum --------------------------------------

inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// tag: which graph the object belongs to (program / thread / shared).
inline uint64_t Stamp(uint32_t tag, uint32_t id) {
  return Mix(0x5354414d50000000ull ^ (uint64_t{tag} << 32) ^ id);
}
inline uint64_t PayloadSeed(uint32_t tag, uint32_t id) {
  return Mix(0x7061796c6f616400ull ^ (uint64_t{tag} << 32) ^ id ^
             (uint64_t{id} << 17));
}
// The initial value of payload word w (masked to the word's bytes).
inline uint64_t InitialWord(uint64_t seed, uint32_t w, uint32_t nbytes) {
  uint64_t v = Mix(seed + uint64_t{w} * 0xd1342543de82ef95ull);
  return nbytes >= 8 ? v : (v & ((uint64_t{1} << (8 * nbytes)) - 1));
}
// The checksum is a sum of one term per payload word, so a write of one
// word updates it in O(1).
inline uint64_t ChecksumTerm(uint32_t w, uint64_t v) {
  return Mix(v ^ (uint64_t{w} * 0x9e3779b97f4a7c15ull));
}
// Checksum of a fresh object (every payload word at its initial value).
uint64_t InitialChecksum(Kind k, uint32_t bytes, uint64_t seed);

// Reads / writes word w of an object (the last word of a noscan object may
// be partial).
uint64_t LoadPartialWord(const void* obj, uint32_t bytes, uint32_t w);
void StorePartialWord(void* obj, uint32_t bytes, uint32_t w, uint64_t v);
inline uint64_t LoadWord(const void* obj, uint32_t bytes, uint32_t w) {
  if (uint64_t{w} * 8 + 8 <= bytes) {
    return static_cast<const uint64_t*>(obj)[w];
  }
  return LoadPartialWord(obj, bytes, w);
}
inline void StoreWord(void* obj, uint32_t bytes, uint32_t w, uint64_t v) {
  if (uint64_t{w} * 8 + 8 <= bytes) {
    static_cast<uint64_t*>(obj)[w] = v;
    return;
  }
  StorePartialWord(obj, bytes, w, v);
}
// Whether n bytes at p are all zero.
bool IsZero(const void* p, size_t n);

// Writes a fresh object's stamp, checksum, meta word and payload (pointer
// words stay zero).
void FillObject(void* obj, Kind k, uint32_t bytes, uint64_t stamp,
                uint64_t seed);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_LAYOUT_H_
