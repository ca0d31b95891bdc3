#include "tests/fuzz/fuzz_entry.h"

#include "tests/oracle/boehm.h"
#include "tests/oracle/oracle.h"

namespace gcheap::oracle {

void FuzzInit() { boehm::Init(); }

bool FuzzOne(const uint8_t* data, size_t size, std::string* report) {
  if (size < 4) return true;
  Program p = ProgramFromBytes(data, size);
  RunOptions o;
  // Boehm's side (the differential count) on a quarter of the inputs: it
  // says nothing about our heap's memory safety and costs half the time.
  o.boehm = p.seed % 4 == 0;
  RunResult r = RunProgram(p, o);
  if (r.ok) return true;
  Program m = MinimizeFailure(p, o, r, /*max_runs=*/1000);
  RunResult mr = RunProgram(m, o);
  *report = FailureReport(p, r, &m, &mr);
  return false;
}

}  // namespace gcheap::oracle
