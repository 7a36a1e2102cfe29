// The compile half of the service: clang's -cc1 frontend kept loaded in this process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace clang {
class CompilerInvocation;
class TextDiagnosticBuffer;
} // namespace clang

namespace service {

struct Paths {
  // A compile has one input; a link one per object.
  std::vector<std::string> inputs;
  std::string output;
};

// Replaces the argument templates' {input} (with every input), {output} and {input-name} (the
// first input's file name, as the driver passes it to -main-file-name) with a request's paths.
std::vector<std::string> substitute(const std::vector<std::string> &argv, const Paths &paths);

// How one compile went.
struct Compiled {
  bool ok = false;
  // Exactly what the clang process would print to stderr.
  std::string diagnostics;
  int64_t microseconds = 0;
};

class Compiler {
public:
  // cc1 is what `clang++ -### <the process toolchain's compile command>` prints after "-cc1";
  // argv0 is the clang executable it names (for messages and the resource dir). Up to
  // `workers` translation units are compiled at once.
  Compiler(std::string argv0, std::vector<std::string> cc1, size_t workers);
  ~Compiler();
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  // Compiles each job's inputs[0] to its object, up to `workers` at once. One result per job.
  std::vector<Compiled> compile(const std::vector<Paths> &jobs);

  // Puts the -mllvm options back into LLVM's global option registry after something else (an
  // in-process link) parsed its own. Never while a compile runs.
  void restore_llvm_options();

  // Why the -mllvm options could not be applied, if they could not.
  const std::string &configuration_error() const { return configuration_error_; }

private:
  struct Worker;
  bool compile_one(const Paths &paths, std::string &diagnostics, Worker &worker);
  // Parses cc1_ into invocation_ once (placeholder paths); why it could not, or empty.
  std::string parse_invocation();
  // A copy of invocation_ that compiles paths.inputs[0] to paths.output.
  std::shared_ptr<clang::CompilerInvocation> invocation_for(const Paths &paths) const;
  // Puts llvm_args_ alone into the registry (every other option at its default); why it
  // failed, or empty.
  std::string apply_llvm_options();
  std::string argv0_;
  // argv0, then the value of each -mllvm of the cc1 arguments.
  std::vector<std::string> llvm_args_;
  std::vector<std::string> cc1_;
  // cc1_ parsed once: clang's option parsing is a fixed cost of every compile otherwise.
  // Each compile runs a copy (the instance changes the one it runs); read-only here, so the
  // workers copy it at once.
  std::shared_ptr<const clang::CompilerInvocation> invocation_;
  // Whether the arguments name the input's file name (-main-file-name), which each copy sets.
  bool main_file_name_ = false;
  // What that parse warned of, repeated into every compile's diagnostics.
  std::unique_ptr<clang::TextDiagnosticBuffer> parse_diagnostics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::string configuration_error_;
};

} // namespace service
