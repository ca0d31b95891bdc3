// tree_walk.h: the node count of a binary tree (left/right pointers), as
// binary-trees and GCBench check their trees. Like an interpreter on a
// backward jump it polls for a safepoint in its loop, so a collection never
// waits for a long walk; the tree must therefore be rooted (a concurrent
// cycle may start at that safepoint).
#ifndef GCHEAP_TOOLS_TREE_WALK_H_
#define GCHEAP_TOOLS_TREE_WALK_H_

#include "runtime/gc.h"

namespace gcheap {

template <typename N>
long CountNodes(gc_mutator* m, const N* n) {
  long count = 1;
  while (n->left != nullptr) {
    gc_safepoint(m);
    count += 1 + CountNodes(m, n->right);
    n = n->left;
  }
  return count;
}

}  // namespace gcheap

#endif  // GCHEAP_TOOLS_TREE_WALK_H_
