// lld 14 is not re-entrant: static symbol pointers (lld::wasm::WasmSym) survive a link, and a
// second link in the same process can crash or, worse, silently write a module without its
// data relocations. So before each link in this process they are reset to the never-linked
// state, and the self-test (self_test.cpp) proves at start that a second link writes a
// forked link's bytes; when it does not, every link runs in a child forked from this process.

#include "link.hpp"

#include "lld/Common/CommonLinkerContext.h"
#include "lld/Common/Driver.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

// lld's own statics, redeclared: their header (lld/wasm/Symbols.h) is private and not
// installed, and a static member's mangled name carries no type, so a pointer of any type
// names the same object. The list is lld 14's; the service's build (server/build.rs) fails
// when the library has one that is not here.
// lld-statics: begin
#define LLD_WASM_STATICS(X)                                                                      \
  X(callCtors) X(callDtors) X(applyDataRelocs) X(applyGlobalRelocs) X(applyGlobalTLSRelocs)      \
  X(initTLS) X(startFunction) X(dsoHandle) X(dataEnd) X(globalBase) X(heapBase) X(initMemory)    \
  X(initMemoryFlag) X(stackPointer) X(tlsBase) X(tlsSize) X(tlsAlign) X(memoryBase) X(tableBase) \
  X(tableBase32) X(definedMemoryBase) X(definedTableBase) X(definedTableBase32)                  \
  X(indirectFunctionTable)
// lld-statics: end

namespace lld::wasm {
struct WasmSym {
#define DECLARE(name) static void *name;
  LLD_WASM_STATICS(DECLARE)
#undef DECLARE
};
} // namespace lld::wasm

namespace service {

namespace {

// What a fresh wasm-ld process starts from. Everything else lld keeps (config, symtab, the
// output sections) is made again by each link.
void reset_lld_statics() {
#define RESET(name) lld::wasm::WasmSym::name = nullptr;
  LLD_WASM_STATICS(RESET)
#undef RESET
}

} // namespace

const char *link_mode_name(LinkMode mode) { return mode == LinkMode::InProcess ? "in-process" : "forked"; }

Linker::Linker(std::vector<std::string> argv, LinkMode mode, std::function<void()> after_in_process)
    : argv_(std::move(argv)), mode_(mode), after_in_process_(std::move(after_in_process)) {
  // lld's thread pool does not survive fork (a child forked after a link in this process
  // deadlocks in it); one thread is also the fastest for a patch's few objects.
  argv_.push_back("--threads=1");
}

bool Linker::link(const Paths &paths, std::string &messages, LinkMode mode) const {
  std::vector<std::string> args = substitute(argv_, paths);
  std::vector<const char *> argv;
  argv.reserve(args.size());
  for (const std::string &arg : args) {
    argv.push_back(arg.c_str());
  }
  return mode == LinkMode::InProcess ? link_in_process(argv, messages) : link_forked(argv, messages);
}

bool Linker::link_in_process(const std::vector<const char *> &argv, std::string &messages) const {
  reset_lld_statics();
  llvm::raw_string_ostream out(messages);
  bool ok = lld::wasm::link(argv, out, out, /*exitEarly=*/false, /*disableOutput=*/false);
  out.flush();
  // What lld's own main does after a link: frees everything the link allocated.
  lld::CommonLinkerContext::destroy();
  after_in_process_();
  return ok;
}

bool Linker::link_forked(const std::vector<const char *> &argv, std::string &messages) const {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    messages += std::string("cannot make a pipe for the linker: ") + std::strerror(errno) + "\n";
    return false;
  }
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    messages += std::string("cannot fork the linker: ") + std::strerror(errno) + "\n";
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return false;
  }
  if (child == 0) {
    // A linker left behind by a killed service would be an orphan: die with the service.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(3);
    }
    close(pipe_fds[0]);
    // The parent may have linked already: start from the never-linked state, as in process.
    reset_lld_statics();
    llvm::raw_fd_ostream out(pipe_fds[1], /*shouldClose=*/false, /*unbuffered=*/true);
    bool ok = lld::wasm::link(argv, out, out, /*exitEarly=*/false, /*disableOutput=*/false);
    // _exit: nothing of the parent's state (streams, static destructors) runs in the child.
    _exit(ok ? 0 : 1);
  }

  close(pipe_fds[1]);
  char buffer[4096];
  for (;;) {
    ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) {
      messages.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    messages += "wasm-ld crashed (signal " + std::to_string(WTERMSIG(status)) + ")\n";
    return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

} // namespace service
