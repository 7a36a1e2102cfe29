// The compile half of the service: clang's -cc1 frontend kept loaded in this process.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace service {

struct Paths {
  // A compile has one input; a link one per object.
  std::vector<std::string> inputs;
  std::string output;
};

// Replaces the argument templates' {input} (with every input), {output} and {input-name} (the
// first input's file name, as the driver passes it to -main-file-name) with a request's paths.
std::vector<std::string> substitute(const std::vector<std::string> &argv, const Paths &paths);

class Compiler {
public:
  // cc1 is what `clang++ -### <the process toolchain's compile command>` prints after "-cc1";
  // argv0 is the clang executable it names (for messages and the resource dir).
  Compiler(std::string argv0, std::vector<std::string> cc1);
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  // Compiles paths.inputs[0] to the object paths.output. Diagnostics, exactly as the clang process
  // would print them to stderr, are appended to `diagnostics`. Returns false on errors.
  bool compile(const Paths &paths, std::string &diagnostics);

private:
  struct State;
  std::string argv0_;
  std::vector<std::string> cc1_;
  std::unique_ptr<State> state_;
};

} // namespace service
