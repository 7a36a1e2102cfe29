// The link half of the service: lld's wasm linker, run in a child forked per link.
#pragma once

#include <string>
#include <vector>

#include "compile.hpp"

namespace service {

class Linker {
public:
  // argv is wasm-ld's command line as the process toolchain runs it (argv[0] the wasm-ld path,
  // which lld names itself after in its messages), with {input} and {output} templates.
  explicit Linker(std::vector<std::string> argv);

  // Links paths.inputs (objects) into the side module paths.output. lld's messages are appended to
  // `messages`. Returns false when the link failed or the child died.
  bool link(const Paths &paths, std::string &messages) const;

private:
  std::vector<std::string> argv_;
};

} // namespace service
