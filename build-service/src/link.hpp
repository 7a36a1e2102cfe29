// The link half of the service: lld's wasm linker, in this process with lld's statics reset
// before each link, or in a child forked per link.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "compile.hpp"

namespace service {

// Where a link runs. In process is the fast way (no fresh process paying lld's page faults);
// a forked child is the safe one, which starts from the never-linked state every time.
enum class LinkMode { InProcess, Forked };

const char *link_mode_name(LinkMode mode);

class Linker {
public:
  // argv is wasm-ld's command line as the process toolchain runs it (argv[0] the wasm-ld path,
  // which lld names itself after in its messages), with {input} and {output} templates.
  // `after_in_process` runs after each link in this process (lld resets LLVM's global option
  // registry to its own -mllvm options: the compiler puts its own back).
  Linker(std::vector<std::string> argv, LinkMode mode, std::function<void()> after_in_process);

  // Links paths.inputs (objects) into the side module paths.output the way `mode()` says.
  // lld's messages are appended to `messages`. False when the link failed or the child died.
  bool link(const Paths &paths, std::string &messages) const { return link(paths, messages, mode_); }
  bool link(const Paths &paths, std::string &messages, LinkMode mode) const;

  LinkMode mode() const { return mode_; }
  // From now on every link runs in a forked child (the self-test failed).
  void use_fork() { mode_ = LinkMode::Forked; }

private:
  bool link_in_process(const std::vector<const char *> &argv, std::string &messages) const;
  bool link_forked(const std::vector<const char *> &argv, std::string &messages) const;
  std::vector<std::string> argv_;
  LinkMode mode_;
  std::function<void()> after_in_process_;
};

} // namespace service
