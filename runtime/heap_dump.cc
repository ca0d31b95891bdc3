// heap_dump.cc: gc_dump_heap, a JSON heap snapshot (format in
// docs/heap-snapshot.md, drawn by tools/heapviz/heapviz.html).
//
// The snapshot is gathered inside gc_heap::WithWorldStopped (the heap
// walk's conditions: the world stopped and the sweep finished, so every
// span is swept or cached by a stopped mutator and its allocation state is
// final) into memory, and written to the file after the world restarts,
// so no pause waits for I/O. Mark bits are reported as read: during a
// concurrent mark, the collector's workers may be setting them meanwhile.
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "gc/events.h"
#include "heap/error.h"
#include "runtime/api_internal.h"
#include "runtime/gc.h"
#include "runtime/heap_query.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

void Append(std::string* s, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
void Append(std::string* s, const char* fmt, ...) {
  char b[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof(b), fmt, ap);
  va_end(ap);
  *s += b;
}

// A JSON string literal (type names are the embedder's).
std::string Quote(const std::string& in) {
  std::string out = "\"";
  for (unsigned char c : in) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      snprintf(b, sizeof(b), "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

const char* SweepState(uint32_t span_sg, uint32_t h) {
  if (span_sg == h) return "swept";
  if (span_sg == h + 3) return "cached";
  if (span_sg == h + 1) return "cached-unswept";
  if (span_sg == h - 2) return "unswept";
  if (span_sg == h - 1) return "sweeping";
  return "?";
}

struct Totals {
  uint64_t spans = 0, objects = 0, object_bytes = 0, large = 0, large_bytes = 0,
           marked = 0;
};
struct ClassCount {
  uint64_t scan_spans = 0, noscan_spans = 0, slots = 0, objects = 0;
};
struct TypeCount {
  uint64_t objects = 0, bytes = 0;
};

std::string Snapshot(gc_heap* h) {
  MHeap& heap = h->heap;
  const GcPhase phase = h->collector->phase();
  // A concurrent mark, the finalizer phase included (a stop-the-world
  // cycle marks only inside its pause).
  const bool marking = h->collector->marking();
  const uint32_t sg = heap.sweepgen();
  const std::vector<MHeap::ArenaInfo> arenas = heap.Arenas();
  std::string spans, large;
  Totals t;
  std::map<int, ClassCount> classes;
  std::map<uint16_t, TypeCount> types;
  for (MSpan* s : heap.InUseSpans()) {
    size_t arena = 0;
    while (arena + 1 < arenas.size() && arenas[arena + 1].base <= s->start) {
      arena++;
    }
    const int sc = SizeClassOf(s->spanclass);
    const bool noscan = NoScan(s->spanclass);
    uint64_t objects = 0;
    ForEachAllocated(s, [&](size_t, uintptr_t, size_t size, uint16_t type) {
      objects++;
      TypeCount& tc = types[noscan ? 0 : type];
      tc.objects++;
      tc.bytes += size;
      t.object_bytes += size;
      return 0;
    });
    const uint64_t marked = s->CountMarked();
    t.spans++;
    t.objects += objects;
    t.marked += marked;
    ClassCount& cc = classes[sc];
    (noscan ? cc.noscan_spans : cc.scan_spans)++;
    cc.slots += s->nelems;
    cc.objects += objects;
    Append(&spans,
           "%s\n  {\"arena\":%zu,\"page\":%zu,\"pages\":%zu,\"class\":%d,"
           "\"object_size\":%zu,\"noscan\":%s,\"slots\":%u,\"objects\":%" PRIu64
           ",\"marked\":%" PRIu64 ",\"state\":\"%s\"}",
           spans.empty() ? "" : ",", arena,
           static_cast<size_t>((s->start - arenas[arena].base) / kPageSize),
           s->npages, sc, static_cast<size_t>(ObjectSize(s)),
           noscan ? "true" : "false", static_cast<unsigned>(s->nelems), objects,
           marked, SweepState(s->sweepgen.load(std::memory_order_relaxed), sg));
    if (s->is_large() && objects == 1) {
      t.large++;
      t.large_bytes += ObjectSize(s);
      Append(&large,
             "%s\n  {\"address\":\"0x%" PRIxPTR
             "\",\"bytes\":%zu,\"pages\":"
             "%zu,\"noscan\":%s,\"type\":%u}",
             large.empty() ? "" : ",", s->start,
             static_cast<size_t>(ObjectSize(s)), s->npages,
             noscan ? "true" : "false",
             noscan ? 0u : static_cast<unsigned>(s->ObjType(0)));
    }
  }
  const HeapStats hs = heap.ReadStats();
  std::string j;
  Append(&j,
         "{\"format\":\"gcheap-heap-snapshot\",\"version\":1,\n"
         "\"time_ns\":%" PRId64 ",\"cycles\":%" PRIu64
         ",\"phase\":\"%s\",\"marking\":%s,\n"
         "\"page_bytes\":%zu,\"arena_bytes\":%zu,\n",
         NowNs() - h->events.origin_ns(), h->collector->cycles(),
         GcPhaseName(phase), marking ? "true" : "false",
         static_cast<size_t>(kPageSize), static_cast<size_t>(kArenaBytes));
  const uint64_t goal = h->collector->heap_goal();
  Append(&j,
         "\"heap\":{\"heap_live\":%zu,\"in_use_bytes\":%zu,\"goal\":%" PRIu64
         ",\"mapped_bytes\":%zu,\"released_bytes\":%zu},\n",
         hs.heap_live_bytes, hs.in_use_bytes,
         goal >= (~uint64_t{0} >> 1) ? 0 : goal, hs.mapped_bytes,
         hs.released_bytes);
  Append(&j,
         "\"totals\":{\"arenas\":%zu,\"spans\":%" PRIu64 ",\"objects\":%" PRIu64
         ",\"object_bytes\":%" PRIu64 ",\"large_objects\":%" PRIu64
         ",\"large_bytes\":%" PRIu64 ",\"marked\":%" PRIu64 "},\n",
         arenas.size(), t.spans, t.objects, t.object_bytes, t.large,
         t.large_bytes, t.marked);
  j += "\"arenas\":[";
  for (size_t i = 0; i < arenas.size(); i++) {
    Append(&j,
           "%s\n  {\"index\":%zu,\"base\":\"0x%" PRIxPTR
           "\",\"pages\":%zu,\"committed_bytes\":%zu,\"free_pages\":%zu,"
           "\"released_pages\":%zu}",
           i ? "," : "", i, arenas[i].base, static_cast<size_t>(kPagesPerArena),
           arenas[i].committed_bytes, arenas[i].free_pages,
           arenas[i].released_pages);
  }
  j += "],\n\"classes\":[";
  bool first = true;
  for (const auto& [sc, c] : classes) {
    Append(&j,
           "%s\n  {\"class\":%d,\"object_size\":%u,\"scan_spans\":%" PRIu64
           ",\"noscan_spans\":%" PRIu64 ",\"slots\":%" PRIu64
           ",\"objects\":%" PRIu64 "}",
           first ? "" : ",", sc, static_cast<unsigned>(kClassToSize[sc]),
           c.scan_spans, c.noscan_spans, c.slots, c.objects);
    first = false;
  }
  j += "],\n\"types\":[";
  first = true;
  for (const auto& [id, c] : types) {
    const TypeInfo* ti = id != 0 ? h->types.Get(id) : nullptr;
    Append(&j, "%s\n  {\"id\":%u,\"name\":", first ? "" : ",",
           static_cast<unsigned>(id));
    j += Quote(ti != nullptr ? ti->name : "(pointer-free)");
    Append(&j, ",\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", c.objects,
           c.bytes);
    first = false;
  }
  j += "],\n\"spans\":[";
  j += spans;
  j += "],\n\"large\":[";
  j += large;
  j += "]}\n";
  return j;
}

}  // namespace
}  // namespace gcheap

extern "C" int gc_dump_heap(gc_mutator* m, const char* path) {
  if (!gcheap::CanInspect(m, "gc_dump_heap", path, "path")) return -1;
  std::string json;
  m->heap->WithWorldStopped(m, [&] { json = gcheap::Snapshot(m->heap); });
  FILE* f = fopen(path, "w");
  if (f == nullptr) {
    gcheap::SetLastError("gc_dump_heap: cannot write %s: %s", path,
                         strerror(errno));
    return -1;
  }
  const bool ok = fwrite(json.data(), 1, json.size(), f) == json.size();
  if (fclose(f) != 0 || !ok) {
    gcheap::SetLastError("gc_dump_heap: writing %s failed", path);
    return -1;
  }
  return 0;
}
