// tree_walk.h: the node count of a binary tree (left/right pointers), as
// binary-trees and GCBench check their trees. Like an interpreter on a
// backward jump it polls for a safepoint in its loop, so a collection never
// waits for a long walk; the tree must therefore be rooted (a concurrent
// cycle may start at that safepoint).
#ifndef GCHEAP_TOOLS_TREE_WALK_H_
#define GCHEAP_TOOLS_TREE_WALK_H_

#include "runtime/gc.h"

namespace gcheap {

// The count, calling poll() once per left step (a safepoint poll, or
// nothing for a heap without safepoints).
template <typename N, typename Poll>
long CountNodesPolling(const N* n, const Poll& poll) {
  long count = 1;
  while (n->left != nullptr) {
    poll();
    count += 1 + CountNodesPolling(n->right, poll);
    n = n->left;
  }
  return count;
}

template <typename N>
long CountNodes(gc_mutator* m, const N* n) {
  return CountNodesPolling(n, [m] { gc_safepoint(m); });
}

}  // namespace gcheap

#endif  // GCHEAP_TOOLS_TREE_WALK_H_
