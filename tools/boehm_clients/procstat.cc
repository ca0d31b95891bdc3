// procstat: runs one command and reports what it cost and which libgc.so.1
// it ran on. The Boehm client harness (tools/boehm_clients/run_client.sh)
// runs every process that links libgc.so.1 under it, for the benchmark's
// figures and for the tests' proof of which library was loaded.
//
//   procstat --out=FILE [--label=NAME] -- COMMAND [ARG...]
//
// It forks, the child asks to be traced (PTRACE_TRACEME) and execs COMMAND;
// COMMAND's stdin, stdout and stderr are procstat's. procstat traces only
// the child's main thread, with PTRACE_O_TRACEEXIT: when that thread exits
// it stops while its address space still exists, and procstat reads
//   - VmHWM from /proc/PID/status: the peak resident set of COMMAND itself
//     (tools/bench/PROTOCOL.md explains why neither the driver's ru_maxrss
//     nor a child's ru_maxrss after an exec from a big process will do);
//   - the path of the mapped file named libgc.so.1 (or libgc.so.1.*) in
//     /proc/PID/maps: the library the dynamic loader really loaded.
// After the process is gone, wait4() gives its user and system CPU time
// (with those of the children it waited for) and ru_maxrss (reported too,
// as a cross-check). Wall time runs from just before the exec to the
// reaping. Every other stop is a signal for COMMAND, passed on unchanged.
//
// Cost and limits: a signal sent to the traced main thread makes a round
// trip through procstat before its handler runs (Boehm GC stops threads
// with signals, so a multi-threaded program whose main thread takes part
// in collections pays a few microseconds per collection, equally on every
// library). Threads other than the main one are not traced. If ptrace is
// refused (a seccomp policy, a tracer already attached), procstat runs
// COMMAND untraced and reports peak_source=ru_maxrss: the child's own
// ru_maxrss, which starts from procstat's small image, and libgc=unknown.
//
// Output: one line appended to FILE,
//   label=NAME exit=N wall_ms=F user_ms=F sys_ms=F cpu_ms=F
//   peak_rss_kib=N maxrss_kib=N peak_source=vmhwm|ru_maxrss libgc=PATH
// (exit is 128+N when COMMAND was killed by signal N; libgc=none when no
// libgc.so.1 was mapped), and procstat exits with COMMAND's exit status.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "procstat: %s\n", what.c_str());
  std::exit(125);
}

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double TimevalMs(const timeval& tv) {
  return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

// VmHWM of pid in KiB, or -1.
long ReadVmHwm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// The path of the mapped libgc.so.1 (the soname or a versioned file name
// libgc.so.1.x.y, as a symlink's target shows up), or "none".
std::string ReadLibgcPath(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(in, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    std::string base = path.substr(path.rfind('/') + 1);
    if (base == "libgc.so.1" || base.rfind("libgc.so.1.", 0) == 0) {
      return path;
    }
  }
  return "none";
}

struct Options {
  std::string out;
  std::string label = "-";
  std::vector<char*> argv;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.rfind("--out=", 0) == 0) {
      o.out = a.substr(6);
    } else if (a.rfind("--label=", 0) == 0) {
      o.label = a.substr(8);
    } else {
      Die("unknown option " + a +
          " (usage: procstat --out=FILE [--label=NAME] -- COMMAND [ARG...])");
    }
  }
  for (; i < argc; ++i) o.argv.push_back(argv[i]);
  o.argv.push_back(nullptr);
  if (o.out.empty() || o.argv.size() < 2) {
    Die("usage: procstat --out=FILE [--label=NAME] -- COMMAND [ARG...]");
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseArgs(argc, argv);
  // A pipe tells the parent whether the child could be traced, before the
  // exec: 1 byte, 't' traced or 'u' untraced.
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) Die("pipe: " + std::string(strerror(errno)));
  double start = NowMs();
  pid_t pid = fork();
  if (pid < 0) Die("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    close(sync[0]);
    bool traced = ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0;
    char c = traced ? 't' : 'u';
    if (write(sync[1], &c, 1) != 1) _exit(125);
    if (traced) raise(SIGSTOP);  // Wait for the tracer's options.
    execvp(opt.argv[0], opt.argv.data());
    std::fprintf(stderr, "procstat: cannot run %s: %s\n", opt.argv[0],
                 strerror(errno));
    _exit(127);
  }
  close(sync[1]);
  char mode = 'u';
  if (read(sync[0], &mode, 1) != 1) Die("child died before exec");
  close(sync[0]);
  bool traced = mode == 't';
  if (!traced) {
    std::fprintf(stderr,
                 "procstat: ptrace refused; peak RSS from ru_maxrss, "
                 "libgc path unknown\n");
  }

  long hwm = -1;
  std::string libgc = traced ? "none" : "unknown";
  int status = 0;
  rusage ru{};
  bool options_set = false;
  for (;;) {
    pid_t r = wait4(pid, &status, 0, &ru);
    if (r < 0) {
      if (errno == EINTR) continue;
      Die("wait4: " + std::string(strerror(errno)));
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    int inject = 0;
    if (!options_set && sig == SIGSTOP) {
      // The child's own SIGSTOP before the exec: set the options. Wall
      // time starts here, just before the exec.
      long opts = PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
      if (ptrace(PTRACE_SETOPTIONS, pid, nullptr, opts) != 0) {
        Die("PTRACE_SETOPTIONS: " + std::string(strerror(errno)));
      }
      options_set = true;
      start = NowMs();
    } else if (sig == SIGTRAP && event == PTRACE_EVENT_EXIT) {
      hwm = ReadVmHwm(pid);
      libgc = ReadLibgcPath(pid);
    } else if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
      // The exec happened; nothing to pass on.
    } else {
      inject = sig;  // A signal for the program.
    }
    ptrace(PTRACE_CONT, pid, nullptr,
           reinterpret_cast<void*>(static_cast<long>(inject)));
  }
  double wall = NowMs() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const char* source = "vmhwm";
  if (hwm < 0) {  // Untraced, or the exit stop was missed (killed).
    hwm = ru.ru_maxrss;
    source = "ru_maxrss";
  }
  double user = TimevalMs(ru.ru_utime), sys = TimevalMs(ru.ru_stime);
  std::ostringstream line;
  line.setf(std::ios::fixed);
  line.precision(1);
  line << "label=" << opt.label << " exit=" << code << " wall_ms=" << wall
       << " user_ms=" << user << " sys_ms=" << sys << " cpu_ms=" << user + sys
       << " peak_rss_kib=" << hwm << " maxrss_kib=" << ru.ru_maxrss
       << " peak_source=" << source << " libgc=" << libgc << "\n";
  FILE* f = std::fopen(opt.out.c_str(), "a");
  if (f == nullptr) Die("cannot open " + opt.out + ": " + strerror(errno));
  std::fputs(line.str().c_str(), f);
  std::fclose(f);
  return code;
}
