// boehm_rewire.cc: the rewiring workload (design: boehm_rewire.h).
#include "tools/boehm_rewire.h"

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <pthread.h>
#include <time.h>

#include <cstdio>
#include <mutex>
#include <vector>

namespace boehm_rewire {
namespace {

constexpr uintptr_t kMagic = 0x5a17c0de12345678;
constexpr int kMaxThreads = 64;

struct Node {
  uintptr_t magic;
  uint64_t owner;
  uint64_t id;
  uint64_t check;
  Node* child;
  char pad[24];  // 64 bytes: several nodes per page, pages shared
};

struct Worker {
  const Options* o;
  Result* r;
  int index;
};

// Data-segment roots: each worker's table and stash.
Node** volatile g_tables[kMaxThreads];
Node** volatile g_stashes[kMaxThreads];
std::mutex g_failure_mu;

uint64_t Hash(uint64_t owner, uint64_t id) {
  uint64_t x = owner * 0x9e3779b97f4a7c15 ^ (id + 0x632be59bd9b4e019);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9;
  return x ^ (x >> 29);
}

uint64_t NextRand(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

Node* NewNode(uint64_t owner, uint64_t id, Node* child) {
  Node* n = static_cast<Node*>(GC_malloc(sizeof(Node)));
  if (n == nullptr) return nullptr;
  n->magic = kMagic ^ reinterpret_cast<uintptr_t>(n);
  n->owner = owner;
  n->id = id;
  n->check = Hash(owner, id);
  n->child = child;
  return n;
}

// The node at depth d of chain head (0: the head), or the last one.
Node* At(Node* head, int d) {
  Node* n = head;
  while (d-- > 0 && n->child != nullptr) n = n->child;
  return n;
}

void Fail(Result* r, const char* what, int owner, const Node* n) {
  r->failures.fetch_add(1);
  std::lock_guard<std::mutex> l(g_failure_mu);
  if (r->first_failure.empty()) {
    char buf[256];
    snprintf(buf, sizeof(buf),
             "worker %d: %s at node %p (magic %#lx owner %lu id %lu)", owner,
             what, static_cast<const void*>(n),
             n != nullptr ? static_cast<unsigned long>(n->magic) : 0ul,
             n != nullptr ? static_cast<unsigned long>(n->owner) : 0ul,
             n != nullptr ? static_cast<unsigned long>(n->id) : 0ul);
    r->first_failure = buf;
  }
}

// Every id of the worker exactly once, every node intact.
bool Check(const Worker& w, std::vector<uint8_t>* seen) {
  const int nodes = w.o->chains * w.o->depth;
  seen->assign(nodes, 0);
  Node** table = g_tables[w.index];
  for (int c = 0; c < w.o->chains; c++) {
    int len = 0;
    for (Node* n = table[c]; n != nullptr; n = n->child) {
      if (n->magic != (kMagic ^ reinterpret_cast<uintptr_t>(n)) ||
          n->owner != static_cast<uint64_t>(w.index) ||
          n->check != Hash(n->owner, n->id) ||
          n->id >= static_cast<uint64_t>(nodes)) {
        Fail(w.r, "a reachable node was freed or overwritten", w.index, n);
        return false;
      }
      if ((*seen)[n->id]++ != 0 || ++len > nodes) {
        Fail(w.r, "a node reached twice", w.index, n);
        return false;
      }
    }
  }
  for (int i = 0; i < nodes; i++) {
    if ((*seen)[i] != 1) {
      Fail(w.r, "a node went missing", w.index, nullptr);
      return false;
    }
  }
  return true;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void* WorkerMain(void* p) {
  const Worker w = *static_cast<Worker*>(p);
  const Options& o = *w.o;
  uint64_t rnd = 0x1234567 + 77 * w.index;
  // The table and the stash: GC_malloc'd, reachable from the data segment.
  Node** table = static_cast<Node**>(GC_malloc(o.chains * sizeof(Node*)));
  Node** stash = static_cast<Node**>(GC_malloc(64 * sizeof(Node*)));
  g_tables[w.index] = table;
  g_stashes[w.index] = stash;
  uint64_t id = 0;
  for (int c = 0; c < o.chains; c++) {
    Node* head = nullptr;
    for (int d = 0; d < o.depth; d++) head = NewNode(w.index, id++, head);
    table[c] = head;
  }
  std::vector<uint8_t> seen;
  const double end = o.seconds > 0 ? Now() + o.seconds : 0;
  for (int round = 0;; round++) {
    if (o.seconds > 0 ? Now() >= end : round >= o.rounds) break;
    int stashed = 0;
    for (int op = 0; op < o.ops_per_round; op++) {
      const int i = NextRand(&rnd) % o.chains;
      const int j = NextRand(&rnd) % o.chains;
      switch (NextRand(&rnd) % 4) {
        case 0:
          if (i != j) {
            // Swap the tails of two chains (disjoint lists stay disjoint).
            Node* a = At(table[i], NextRand(&rnd) % o.depth);
            Node* b = At(table[j], NextRand(&rnd) % o.depth);
            Node* t = a->child;
            a->child = b->child;
            b->child = t;
          }
          break;
        case 1: {
          Node* t = table[i];
          table[i] = table[j];
          table[j] = t;
          break;
        }
        case 2: {
          // Replace a node by a fresh copy that takes over its child.
          Node* parent = nullptr;
          Node* n = table[i];
          for (int d = NextRand(&rnd) % o.depth; d > 0 && n->child; d--) {
            parent = n;
            n = n->child;
          }
          Node* copy = NewNode(n->owner, n->id, n->child);
          if (copy == nullptr) break;
          n->child = nullptr;
          if (parent == nullptr) {
            table[i] = copy;
          } else {
            parent->child = copy;
          }
          break;
        }
        case 3:
          if (stashed < 64) {
            // Move a tail into the stash (the only reference to it).
            Node* a = At(table[i], NextRand(&rnd) % o.depth);
            stash[stashed++] = a->child;
            a->child = nullptr;
          }
          break;
      }
      for (int g = 0; g < o.garbage_per_op; g++) {
        void* junk = GC_malloc(48 + (NextRand(&rnd) & 127));
        if (junk != nullptr) static_cast<char*>(junk)[0] = 1;
      }
    }
    // Put the stashed tails back: each at the end of some chain.
    for (int k = 0; k < stashed; k++) {
      Node* last = At(table[NextRand(&rnd) % o.chains], 1 << 30);
      last->child = stash[k];
      stash[k] = nullptr;
    }
    GC_gcollect();
    w.r->collections.fetch_add(1);
    if (!Check(w, &seen)) break;
    w.r->rounds.fetch_add(1);
  }
  g_tables[w.index] = nullptr;
  g_stashes[w.index] = nullptr;
  return nullptr;
}

}  // namespace

void Run(const Options& o, Result* r) {
  GC_INIT();
  GC_allow_register_threads();
  const int n = o.threads < kMaxThreads ? o.threads : kMaxThreads;
  std::vector<pthread_t> ids(n);
  std::vector<Worker> ws(n);
  for (int i = 0; i < n; i++) {
    ws[i] = {&o, r, i};
    if (GC_pthread_create(&ids[i], nullptr, WorkerMain, &ws[i]) != 0) {
      Fail(r, "GC_pthread_create failed", i, nullptr);
      ids.resize(i);
      break;
    }
  }
  for (pthread_t t : ids) GC_pthread_join(t, nullptr);
}

}  // namespace boehm_rewire
