#include "tests/oracle/layout.h"

#include <cstring>

#include "heap/sizeclasses.h"

namespace gcheap::oracle {

namespace {
constexpr const char* kKindNames[kNumKinds] = {"small3", "vec",   "traced",
                                               "wide",   "blob",  "noscan",
                                               "weaks",  "weakl", "ephemeron"};

// Payload words of the first 90 words of a Wide object, in order.
struct WidePayload {
  uint32_t words[kWideWords];
  uint32_t count = 0;
  constexpr WidePayload() : words() {
    for (uint32_t w = 2; w < kWideWords; w++) {
      bool ptr = false;
      for (uint32_t p : kWidePtrWords) ptr |= p == w;
      if (!ptr) words[count++] = w;
    }
  }
};
constexpr WidePayload kWidePayload;
}  // namespace

const char* KindName(Kind k) { return kKindNames[static_cast<int>(k)]; }

bool ParseKind(std::string_view s, Kind* out) {
  for (int i = 0; i < kNumKinds; i++) {
    if (s == kKindNames[i]) {
      *out = static_cast<Kind>(i);
      return true;
    }
  }
  return false;
}

bool ValidBytes(Kind k, uint32_t bytes) {
  switch (k) {
    case Kind::kSmall3:
      return bytes >= kSmall3Bytes && bytes % 8 == 0;
    case Kind::kVec:
      return bytes >= kVecHeaderBytes && bytes % 8 == 0;
    case Kind::kTraced:
      return bytes >= kTracedBytes && bytes % 8 == 0;
    case Kind::kWide:
      return bytes >= kWideBytes && bytes % 8 == 0;
    case Kind::kBlob:
      return bytes >= kBlobBytes && bytes % 8 == 0;
    case Kind::kNoscan:
      return bytes >= kMinNoscanBytes;
    case Kind::kWeakS:
    case Kind::kWeakL:
      return bytes >= kWeakBytes && bytes % 8 == 0;
    case Kind::kEphemeron:
      return bytes == kEphemeronBytes;
  }
  return false;
}

Role RoleOf(Kind k, uint32_t bytes, uint32_t w) {
  (void)bytes;
  if (k == Kind::kEphemeron) return w == 2 ? Role::kPtr : Role::kWeak;
  if (w == 0) return Role::kStamp;
  switch (k) {
    case Kind::kSmall3:
      if (w == 4) return Role::kChecksum;
      if (w == 1 || w == 3 || w == 5) return Role::kPtr;
      return Role::kPayload;
    case Kind::kVec:
      if (w == 1) return Role::kChecksum;
      if (w == kMetaWord) return Role::kMeta;
      if (w == 3) return Role::kPtr;
      return (w - 4) % 2 == 0 ? Role::kPtr : Role::kPayload;
    case Kind::kTraced:
      if (w == 1) return Role::kChecksum;
      if (w == kMetaWord) return Role::kMeta;
      if (w >= 4 && w < 4 + kTracedKids) return Role::kPtr;
      return Role::kPayload;
    case Kind::kWide:
      if (w == 1) return Role::kChecksum;
      for (uint32_t p : kWidePtrWords) {
        if (p == w) return Role::kPtr;
      }
      return Role::kPayload;
    case Kind::kBlob:
    case Kind::kNoscan:
      if (w == 1) return Role::kChecksum;
      return Role::kPayload;
    case Kind::kWeakS:
    case Kind::kWeakL:
      if (w == 1) return Role::kChecksum;
      if (w == 2 || w == 6) return Role::kPtr;
      if (w == 3 || w == 5 || w == 7) return Role::kWeak;
      return Role::kPayload;
    case Kind::kEphemeron:
      break;
  }
  return Role::kPayload;
}

uint32_t NumFields(Kind k, uint32_t bytes) {
  const uint32_t words = Words(bytes);
  switch (k) {
    case Kind::kSmall3:
      return 3;
    case Kind::kVec:
      return 1 + (words - 4 + 1) / 2;
    case Kind::kTraced:
      return kTracedKids;
    case Kind::kWide:
      return kWideFields;
    case Kind::kBlob:
    case Kind::kNoscan:
      return 0;
    case Kind::kWeakS:
    case Kind::kWeakL:
      return 2;
    case Kind::kEphemeron:
      return 1;  // next
  }
  return 0;
}

uint32_t FieldWord(Kind k, uint32_t f) {
  switch (k) {
    case Kind::kSmall3:
      return 1 + 2 * f;
    case Kind::kVec:
      return f == 0 ? 3 : 4 + 2 * (f - 1);
    case Kind::kTraced:
      return 4 + f;
    case Kind::kWide:
      return kWidePtrWords[f];
    case Kind::kWeakS:
    case Kind::kWeakL:
      return f == 0 ? 2 : 6;
    case Kind::kEphemeron:
      return 2;
    default:
      return 0;
  }
}

uint32_t NumPayloadWords(Kind k, uint32_t bytes) {
  const uint32_t words = Words(bytes);
  switch (k) {
    case Kind::kSmall3:
      return 1 + (words - 6);
    case Kind::kVec:
      return (words - 4) / 2;
    case Kind::kTraced:
      return 1 + (words - 12);
    case Kind::kWide:
      return kWidePayload.count + (words - kWideWords);
    case Kind::kBlob:
    case Kind::kNoscan:
      return words - 2;
    case Kind::kWeakS:
    case Kind::kWeakL:
      return 1 + (words - 8);
    case Kind::kEphemeron:
      return 0;
  }
  return 0;
}

uint32_t PayloadWord(Kind k, uint32_t p) {
  switch (k) {
    case Kind::kSmall3:
      return p == 0 ? 2 : 5 + p;
    case Kind::kVec:
      return 5 + 2 * p;
    case Kind::kTraced:
      return p == 0 ? 3 : 11 + p;
    case Kind::kWide:
      return p < kWidePayload.count ? kWidePayload.words[p]
                                    : kWideWords + (p - kWidePayload.count);
    case Kind::kBlob:
    case Kind::kNoscan:
      return 2 + p;
    case Kind::kWeakS:
    case Kind::kWeakL:
      return p == 0 ? 4 : 7 + p;
    case Kind::kEphemeron:
      return 0;
  }
  return 0;
}

uint64_t SlotBytes(uint32_t bytes) {
  if (bytes <= kMaxSmallSize) return kClassToSize[SizeToClass(bytes)];
  return (uint64_t{bytes} + kPageSize - 1) / kPageSize * kPageSize;
}

int SizeClassOfBytes(uint32_t bytes) {
  return bytes <= kMaxSmallSize ? SizeToClass(bytes) : 0;
}

uint64_t InitialChecksum(Kind k, uint32_t bytes, uint64_t seed) {
  uint64_t sum = 0;
  const uint32_t n = NumPayloadWords(k, bytes);
  for (uint32_t p = 0; p < n; p++) {
    uint32_t w = PayloadWord(k, p);
    sum += ChecksumTerm(w, InitialWord(seed, w, WordBytes(bytes, w)));
  }
  return sum;
}

uint64_t LoadPartialWord(const void* obj, uint32_t bytes, uint32_t w) {
  uint64_t v = 0;
  memcpy(&v, static_cast<const char*>(obj) + 8 * size_t{w},
         WordBytes(bytes, w));
  return v;
}

void StorePartialWord(void* obj, uint32_t bytes, uint32_t w, uint64_t v) {
  memcpy(static_cast<char*>(obj) + 8 * size_t{w}, &v, WordBytes(bytes, w));
}

bool IsZero(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, c + i, 8);
    if (v != 0) return false;
  }
  for (; i < n; i++) {
    if (c[i] != 0) return false;
  }
  return true;
}

void FillObject(void* obj, Kind k, uint32_t bytes, uint64_t stamp,
                uint64_t seed) {
  StoreWord(obj, bytes, 0, stamp);
  uint64_t sum = 0;
  const uint32_t n = NumPayloadWords(k, bytes);
  for (uint32_t p = 0; p < n; p++) {
    uint32_t w = PayloadWord(k, p);
    uint64_t v = InitialWord(seed, w, WordBytes(bytes, w));
    StoreWord(obj, bytes, w, v);
    sum += ChecksumTerm(w, v);
  }
  StoreWord(obj, bytes, ChecksumWord(k), sum);
  if (k == Kind::kVec) {
    StoreWord(obj, bytes, kMetaWord, (bytes - kVecHeaderBytes) / kVecElemBytes);
  }
  // Traced: n starts at 0 (zeroed memory).
}

}  // namespace gcheap::oracle
