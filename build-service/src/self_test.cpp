// The self-test of in-process links: lld 14 without its statics reset writes a second module
// that imports and exports the same as the first but has lost its data relocations (its
// __wasm_apply_data_relocs shrinks), which only a byte comparison catches. So the fixture has
// data relocations, and the bytes of a second in-process link are compared with a forked link's.

#include "self_test.hpp"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace service {

namespace {

// Valid C and C++; pointers in data (`where`, `names`) are what a PIC side module relocates
// at load, like a patch's table of symbols.
constexpr const char *kFixture = "static int counter = 7;\n"
                                 "static const char *names[] = {\"demo.core/ggg\", \"1\"};\n"
                                 "int *where = &counter;\n"
                                 "const char **name_table(void) { return names; }\n"
                                 "int bump(void) { return ++*where; }\n";

std::string read_all(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

// Links `object` in process twice (to `first`, `second`) and compiles `cpp` again to `again`,
// in a child: what in-process links leave behind must not reach this process.
std::string in_process_child(Compiler &compiler, const Linker &linker, const std::string &cpp,
                             const std::string &object, const std::string &first, const std::string &second,
                             const std::string &again) {
  pid_t child = fork();
  if (child < 0) {
    return std::string("cannot fork: ") + std::strerror(errno);
  }
  if (child == 0) {
    std::string messages;
    bool ok = linker.link({{object}, first}, messages, LinkMode::InProcess) &&
              linker.link({{object}, second}, messages, LinkMode::InProcess) &&
              compiler.compile({{{cpp}, again}})[0].ok;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    return "linking twice in process crashed (signal " + std::to_string(WTERMSIG(status)) + ")";
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "linking twice in process, then compiling, failed";
  }
  return {};
}

std::string compare(const std::string &what, const std::string &path, const std::string &expected) {
  std::string bytes = read_all(path);
  if (bytes == expected) {
    return {};
  }
  return what + " wrote " + std::to_string(bytes.size()) + " bytes, not the " + std::to_string(expected.size()) +
         " expected";
}

} // namespace

std::string self_test(Compiler &compiler, const Linker &linker) {
  llvm::SmallString<128> dir;
  if (std::error_code e = llvm::sys::fs::createUniqueDirectory("jank-build-service-self-test", dir)) {
    return "cannot make a directory for it: " + e.message();
  }
  auto in_dir = [&](const char *name) {
    llvm::SmallString<128> path(dir);
    llvm::sys::path::append(path, name);
    return path.str().str();
  };
  const std::string cpp = in_dir("fixture.cpp"), object = in_dir("fixture.o"), again = in_dir("again.o");
  const std::string forked = in_dir("forked.wasm"), first = in_dir("first.wasm"), second = in_dir("second.wasm");
  std::string failure;
  std::string messages;
  std::ofstream(cpp) << kFixture;
  if (!compiler.compile({{{cpp}, object}})[0].ok) {
    failure = "the fixture did not compile";
  } else if (!linker.link({{object}, forked}, messages, LinkMode::Forked)) {
    failure = "a forked link of the fixture failed: " + messages;
  } else {
    failure = in_process_child(compiler, linker, cpp, object, first, second, again);
  }
  if (failure.empty()) {
    std::string reference = read_all(forked);
    for (auto [what, path] : {std::pair{"the first link in process", first}, {"the second link in process", second}}) {
      if (failure.empty()) {
        failure = compare(what, path, reference);
      }
    }
    if (failure.empty()) {
      failure = compare("a compile after links in process", again, read_all(object));
    }
  }
  const char *test = std::getenv("JANK_BUILD_SERVICE_TEST");
  if (failure.empty() && test != nullptr && std::strcmp(test, "fail-self-test") == 0) {
    failure = "failed on purpose (JANK_BUILD_SERVICE_TEST=fail-self-test)";
  }
  llvm::sys::fs::remove_directories(dir);
  return failure;
}

} // namespace service
