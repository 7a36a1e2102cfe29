// jank-build-service: builds wasm side modules with clang and lld kept loaded, for the
// jank-hotpatch sidecar. Protocol and invariants: ../README.md.

#include "compile.hpp"
#include "link.hpp"
#include "self_test.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

// Requests carry paths and argument lists: 1 MiB is far above any real one.
constexpr uint32_t kMaxRequest = 1u << 20;
// clang and lld messages beyond this are cut (the sidecar shows the first errors only).
constexpr size_t kMaxMessages = 1u << 20;
// Compiles at once, at most; each worker keeps its own copy of the precompiled header.
constexpr size_t kMaxWorkers = 8;

int protocol_in = 0;
int protocol_out = -1;

// Moves `size` bytes with `step(done)` (a read or write of the rest), retrying on EINTR. False
// at end of file or on an error.
template <typename Step> bool all_bytes(size_t size, Step step) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = step(done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

bool read_exact(char *data, size_t size) {
  return all_bytes(size, [&](size_t done) { return read(protocol_in, data + done, size - done); });
}

bool write_exact(const char *data, size_t size) {
  return all_bytes(size, [&](size_t done) { return write(protocol_out, data + done, size - done); });
}

uint32_t decode_length(const unsigned char header[4]) {
  return static_cast<uint32_t>(header[0]) | static_cast<uint32_t>(header[1]) << 8 |
         static_cast<uint32_t>(header[2]) << 16 | static_cast<uint32_t>(header[3]) << 24;
}

// A reply is its fields joined by NUL, framed like a request. The sidecar being gone ends
// the service.
void reply(const std::vector<std::string> &fields) {
  std::string payload;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) {
      payload.push_back('\0');
    }
    payload += fields[i];
  }
  uint32_t size = static_cast<uint32_t>(payload.size());
  unsigned char header[4] = {static_cast<unsigned char>(size), static_cast<unsigned char>(size >> 8),
                             static_cast<unsigned char>(size >> 16), static_cast<unsigned char>(size >> 24)};
  if (!write_exact(reinterpret_cast<const char *>(header), 4) || !write_exact(payload.data(), payload.size())) {
    std::exit(0);
  }
}

void reply_error(const std::string &message) { reply({"error", message}); }

// For tests only: JANK_BUILD_SERVICE_TEST=crash-in-process-link makes every link in this
// process die, as a crash in lld would.
bool test_crash_in_process_link() {
  const char *test = std::getenv("JANK_BUILD_SERVICE_TEST");
  return test != nullptr && std::strcmp(test, "crash-in-process-link") == 0;
}

std::vector<std::string> split_fields(const std::string &payload) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (;;) {
    size_t end = payload.find('\0', start);
    if (end == std::string::npos) {
      fields.push_back(payload.substr(start));
      return fields;
    }
    fields.push_back(payload.substr(start, end - start));
    start = end + 1;
  }
}

// A reply's messages share kMaxMessages: each of `parts` gets its share.
std::string capped(std::string text, size_t parts = 1) {
  size_t limit = kMaxMessages / std::max<size_t>(parts, 1);
  if (text.size() > limit) {
    text.resize(limit);
    text += "\n[... cut at " + std::to_string(limit) + " bytes by jank-build-service]\n";
  }
  return text;
}

// Wall time of one request's work, for its reply.
struct Stopwatch {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::string microseconds() const {
    auto elapsed = std::chrono::steady_clock::now() - started;
    return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  }
};

struct Service {
  std::unique_ptr<service::Compiler> compiler;
  std::unique_ptr<service::Linker> linker;

  // configure \0 <in-process | forked> \0 <clang path> \0 <n> \0 <n cc1 arguments> \0 <wasm-ld
  // command line> -> ok \0 <the link mode in use> [\0 why links do not run in process]
  void configure(const std::vector<std::string> &fields) {
    if (fields.size() < 5) {
      return reply_error("configure needs the link mode, the clang path, the cc1 argument count, cc1 arguments "
                         "and wasm-ld's command line");
    }
    if (fields[1] != service::link_mode_name(service::LinkMode::InProcess) &&
        fields[1] != service::link_mode_name(service::LinkMode::Forked)) {
      return reply_error("configure: bad link mode `" + fields[1].substr(0, 64) + "` (expected in-process or forked)");
    }
    char *end = nullptr;
    unsigned long count = std::strtoul(fields[3].c_str(), &end, 10);
    if (fields[3].empty() || *end != '\0' || count > fields.size() - 5) {
      return reply_error("configure: bad cc1 argument count `" + fields[3] + "`");
    }
    std::vector<std::string> cc1(fields.begin() + 4, fields.begin() + 4 + static_cast<long>(count));
    std::vector<std::string> link(fields.begin() + 4 + static_cast<long>(count), fields.end());
    // Compiles of one request run at once, one per core (a save's forms).
    size_t workers = std::min<size_t>(std::max<unsigned>(std::thread::hardware_concurrency(), 1), kMaxWorkers);
    auto new_compiler = std::make_unique<service::Compiler>(fields[2], std::move(cc1), workers);
    if (!new_compiler->configuration_error().empty()) {
      return reply_error("configure: " + new_compiler->configuration_error());
    }
    compiler = std::move(new_compiler);
    service::Compiler *restore = compiler.get();
    bool in_process = fields[1] == service::link_mode_name(service::LinkMode::InProcess);
    linker = std::make_unique<service::Linker>(std::move(link),
                                               in_process ? service::LinkMode::InProcess : service::LinkMode::Forked,
                                               [restore] { restore->restore_llvm_options(); });
    std::string why_forked = in_process ? service::self_test(*compiler, *linker) : std::string();
    if (!why_forked.empty()) {
      linker->use_fork();
      return reply({"ok", service::link_mode_name(linker->mode()), "self-test: " + why_forked});
    }
    reply({"ok", service::link_mode_name(linker->mode())});
  }

  // compile (\0 <C++ path> \0 <object path>)+ -> (ok \0 <µs> | compile \0 <clang's stderr>) per pair
  void compile(const std::vector<std::string> &fields) {
    if (!compiler) {
      return reply_error("compile before configure");
    }
    if (fields.size() < 3 || fields.size() % 2 == 0 ||
        std::any_of(fields.begin() + 1, fields.end(), [](const std::string &f) { return f.empty(); })) {
      return reply_error("compile needs pairs of paths: C++, object");
    }
    std::vector<service::Paths> jobs;
    for (size_t i = 1; i + 1 < fields.size(); i += 2) {
      jobs.push_back({{fields[i]}, fields[i + 1]});
    }
    std::vector<std::string> answer;
    for (service::Compiled &compiled : compiler->compile(jobs)) {
      if (compiled.ok) {
        answer.push_back("ok");
        answer.push_back(std::to_string(compiled.microseconds));
      } else {
        answer.push_back("compile");
        answer.push_back(capped(std::move(compiled.diagnostics), jobs.size()));
      }
    }
    reply(answer);
  }

  // link \0 <side module path> \0 <object path>...
  void link(const std::vector<std::string> &fields) {
    if (!linker) {
      return reply_error("link before configure");
    }
    if (fields.size() < 3 || std::any_of(fields.begin() + 1, fields.end(), [](const std::string &f) { return f.empty(); })) {
      return reply_error("link needs the side module's path and at least one object path");
    }
    if (linker->mode() == service::LinkMode::InProcess && test_crash_in_process_link()) {
      std::abort();
    }
    std::string messages;
    Stopwatch watch;
    if (!linker->link({std::vector<std::string>(fields.begin() + 2, fields.end()), fields[1]}, messages)) {
      return reply({"link", capped(std::move(messages))});
    }
    reply({"ok", watch.microseconds()});
  }

  void handle(const std::string &payload) {
    std::vector<std::string> fields = split_fields(payload);
    const std::string &verb = fields[0];
    if (verb == "configure") {
      configure(fields);
    } else if (verb == "compile") {
      compile(fields);
    } else if (verb == "link") {
      link(fields);
    } else {
      reply_error("unknown request `" + verb.substr(0, 64) + "` (expected configure, compile or link)");
    }
  }
};

} // namespace

int main(int argc, char **argv) {
  // The sidecar starts it without arguments; people ask which one they have.
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::printf("jank-build-service %s\n", JANK_HOTPATCH_VERSION);
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "usage: jank-build-service [--version]\n"
                         "  the jank-hotpatch sidecar starts it and speaks to it on stdin/stdout\n");
    return 2;
  }
  // The protocol gets stdout's descriptor to itself: anything clang, lld or LLVM print to
  // stdout goes to stderr instead of into a frame.
  protocol_out = dup(1);
  if (protocol_out < 0 || dup2(2, 1) < 0) {
    std::perror("jank-build-service: cannot set up stdout");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  Service service;
  std::string payload;
  for (;;) {
    unsigned char header[4];
    if (!read_exact(reinterpret_cast<char *>(header), 4)) {
      return 0; // the sidecar closed the pipe
    }
    uint32_t size = decode_length(header);
    if (size > kMaxRequest) {
      // Read past it so the next frame starts where it should.
      char sink[65536];
      for (uint32_t left = size; left > 0;) {
        uint32_t chunk = left < sizeof sink ? left : static_cast<uint32_t>(sizeof sink);
        if (!read_exact(sink, chunk)) {
          return 0;
        }
        left -= chunk;
      }
      reply_error("request of " + std::to_string(size) + " bytes is above the limit of " +
                  std::to_string(kMaxRequest));
      continue;
    }
    payload.resize(size);
    if (!read_exact(payload.data(), size)) {
      return 0;
    }
    service.handle(payload);
  }
}
