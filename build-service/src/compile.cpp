// Compiles one translation unit per request on a fresh CompilerInstance, with what must be
// shared across requests (the precompiled header's bytes) kept in one InMemoryModuleCache.

#include "compile.hpp"

#include "clang/Basic/DiagnosticIDs.h"
#include "clang/Basic/DiagnosticOptions.h"
#include "clang/CodeGen/ObjectFilePCHContainerOperations.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/CompilerInvocation.h"
#include "clang/Frontend/TextDiagnosticBuffer.h"
#include "clang/Frontend/TextDiagnosticPrinter.h"
#include "clang/FrontendTool/Utils.h"
#include "clang/Serialization/InMemoryModuleCache.h"
#include "clang/Serialization/PCHContainerOperations.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

namespace service {

std::vector<std::string> substitute(const std::vector<std::string> &argv, const Paths &paths) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string &arg : argv) {
    if (arg == "{input}") {
      out.insert(out.end(), paths.inputs.begin(), paths.inputs.end());
    } else if (arg == "{output}") {
      out.push_back(paths.output);
    } else if (arg == "{input-name}") {
      out.push_back(paths.inputs.empty() ? std::string() : llvm::sys::path::filename(paths.inputs[0]).str());
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

struct Compiler::State {
  std::shared_ptr<clang::PCHContainerOperations> pch_ops = std::make_shared<clang::PCHContainerOperations>();
  // Outlives every CompilerInstance: the PCH file is read into it by the first compile and
  // reused by the next ones instead of being read again.
  llvm::IntrusiveRefCntPtr<clang::InMemoryModuleCache> module_cache{new clang::InMemoryModuleCache};
};

Compiler::Compiler(std::string argv0, std::vector<std::string> cc1)
    : argv0_(std::move(argv0)), state_(std::make_unique<State>()) {
  // The driver asks cc1 not to free its memory because the process is about to exit; this
  // one is not, and would grow by ~0.5 MB per compile.
  cc1.erase(std::remove(cc1.begin(), cc1.end(), "-disable-free"), cc1.end());
  cc1_ = std::move(cc1);
  // What cc1_main does before compiling (the PCH readers and writers, the targets).
  state_->pch_ops->registerWriter(std::make_unique<clang::ObjectFilePCHContainerWriter>());
  state_->pch_ops->registerReader(std::make_unique<clang::ObjectFilePCHContainerReader>());
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();
  llvm::InitializeAllAsmParsers();
}

Compiler::~Compiler() = default;

bool Compiler::compile(const Paths &paths, std::string &diagnostics) {
  // cc1 parses its -mllvm options into LLVM's global option registry on every run; without a
  // reset the second run fails with "may only occur zero or one times!".
  llvm::cl::ResetAllOptionOccurrences();
  std::vector<std::string> args = substitute(cc1_, paths);
  std::vector<const char *> argv;
  argv.reserve(args.size());
  for (const std::string &arg : args) {
    argv.push_back(arg.c_str());
  }

  auto clang = std::make_unique<clang::CompilerInstance>(state_->pch_ops, state_->module_cache.get());
  llvm::IntrusiveRefCntPtr<clang::DiagnosticIDs> ids(new clang::DiagnosticIDs());
  llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> options(new clang::DiagnosticOptions());
  auto *parse_diagnostics = new clang::TextDiagnosticBuffer;
  clang::DiagnosticsEngine parse_engine(ids, options, parse_diagnostics);
  bool ok = clang::CompilerInvocation::CreateFromArgs(clang->getInvocation(), argv, parse_engine, argv0_.c_str());

  // Everything clang would write to stderr: diagnostics and the "N errors generated." line.
  llvm::raw_string_ostream text(diagnostics);
  clang->createDiagnostics(new clang::TextDiagnosticPrinter(text, &clang->getDiagnosticOpts()), true);
  clang->setVerboseOutputStream(text);
  parse_diagnostics->FlushDiagnostics(clang->getDiagnostics());
  if (ok) {
    ok = clang::ExecuteCompilerInvocation(clang.get());
  }
  clang->getDiagnosticClient().finish();
  text.flush();
  return ok;
}

} // namespace service
