// lld 14 is not re-entrant: static symbol pointers (lld::wasm::WasmSym) survive a link, and a
// second link in the same process can crash or, worse, silently write a module without its
// data relocations. So this process never links: each link runs in a child forked from it,
// which starts from the same never-linked state every time and exits afterwards.

#include "link.hpp"

#include "lld/Common/Driver.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace service {

Linker::Linker(std::vector<std::string> argv) : argv_(std::move(argv)) {
  // lld's thread pool does not survive fork; one thread also keeps the child's work small.
  argv_.push_back("--threads=1");
}

bool Linker::link(const Paths &paths, std::string &messages) const {
  std::vector<std::string> args = substitute(argv_, paths);
  std::vector<const char *> argv;
  argv.reserve(args.size());
  for (const std::string &arg : args) {
    argv.push_back(arg.c_str());
  }

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
