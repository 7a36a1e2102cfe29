// Compiles each translation unit on a fresh CompilerInstance, several at once on worker
// threads, each worker with what must be shared across its compiles (the precompiled header's
// bytes) kept in its own InMemoryModuleCache (which is not thread-safe).

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
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

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

struct Compiler::Worker {
  std::shared_ptr<clang::PCHContainerOperations> pch_ops = std::make_shared<clang::PCHContainerOperations>();
  // Outlives every CompilerInstance of this worker: the PCH file is read into it by the
  // worker's first compile and reused by the next ones instead of being read again.
  llvm::IntrusiveRefCntPtr<clang::InMemoryModuleCache> module_cache{new clang::InMemoryModuleCache};

  Worker() {
    // What cc1_main does before compiling (the PCH readers and writers).
    pch_ops->registerWriter(std::make_unique<clang::ObjectFilePCHContainerWriter>());
    pch_ops->registerReader(std::make_unique<clang::ObjectFilePCHContainerReader>());
  }
};

Compiler::Compiler(std::string argv0, std::vector<std::string> cc1, size_t workers)
    : argv0_(std::move(argv0)), parse_diagnostics_(std::make_unique<clang::TextDiagnosticBuffer>()) {
  llvm::InitializeAllTargets();
  llvm::InitializeAllTargetMCs();
  llvm::InitializeAllAsmPrinters();
  llvm::InitializeAllAsmParsers();
  // cc1 would parse its -mllvm options into LLVM's global option registry on every compile,
  // which is neither repeatable (a second parse fails with "may only occur zero or one
  // times!") nor thread-safe. They are the same for every compile: parse them once, here
  // (and again after an in-process link, whose lld parses its own).
  llvm_args_.push_back(argv0_);
  for (size_t i = 0; i < cc1.size(); ++i) {
    if (cc1[i] == "-mllvm" && i + 1 < cc1.size()) {
      llvm_args_.push_back(cc1[++i]);
    } else if (cc1[i] != "-disable-free") {
      // -disable-free: the driver asks cc1 not to free its memory because the process is
      // about to exit; this one is not, and would grow by ~0.5 MB per compile.
      cc1_.push_back(cc1[i]);
    }
  }
  configuration_error_ = apply_llvm_options();
  if (configuration_error_.empty()) {
    configuration_error_ = parse_invocation();
  }
  for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
}

Compiler::~Compiler() = default;

std::string Compiler::apply_llvm_options() {
  llvm::cl::ResetAllOptionOccurrences();
  std::vector<const char *> argv;
  for (const std::string &arg : llvm_args_) {
    argv.push_back(arg.c_str());
  }
  std::string error;
  llvm::raw_string_ostream errors(error);
  if (!llvm::cl::ParseCommandLineOptions(static_cast<int>(argv.size()), argv.data(), "", &errors)) {
    errors.flush();
    return error.empty() ? "LLVM refused the -mllvm options" : error;
  }
  return {};
}

void Compiler::restore_llvm_options() { apply_llvm_options(); }

// Placeholder paths for the parse: each compile puts its own in the copy it runs.
constexpr const char *kInputPlaceholder = "jank-hotpatch-input.cpp";
constexpr const char *kOutputPlaceholder = "jank-hotpatch-output.o";

std::string Compiler::parse_invocation() {
  size_t inputs = std::count(cc1_.begin(), cc1_.end(), "{input}");
  size_t outputs = std::count(cc1_.begin(), cc1_.end(), "{output}");
  if (inputs != 1 || outputs != 1) {
    return "the -cc1 arguments name {input} " + std::to_string(inputs) + " and {output} " + std::to_string(outputs) +
           " times (expected once each)";
  }
  std::vector<std::string> args = substitute(cc1_, {{kInputPlaceholder}, kOutputPlaceholder});
  std::vector<const char *> argv;
  for (const std::string &arg : args) {
    argv.push_back(arg.c_str());
  }
  llvm::IntrusiveRefCntPtr<clang::DiagnosticIDs> ids(new clang::DiagnosticIDs());
  llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> options(new clang::DiagnosticOptions());
  clang::DiagnosticsEngine engine(ids, options, parse_diagnostics_.get(), false);
  auto invocation = std::make_shared<clang::CompilerInvocation>();
  if (!clang::CompilerInvocation::CreateFromArgs(*invocation, argv, engine, argv0_.c_str()) ||
      invocation->getFrontendOpts().Inputs.size() != 1) {
    std::string errors;
    for (auto it = parse_diagnostics_->err_begin(); it != parse_diagnostics_->err_end(); ++it) {
      errors += (errors.empty() ? "" : "; ") + it->second;
    }
    return "clang refused the -cc1 arguments" + (errors.empty() ? std::string() : ": " + errors);
  }
  invocation_ = std::move(invocation);
  main_file_name_ = std::count(cc1_.begin(), cc1_.end(), "{input-name}") > 0;
  return {};
}

std::shared_ptr<clang::CompilerInvocation> Compiler::invocation_for(const Paths &paths) const {
  auto invocation = std::make_shared<clang::CompilerInvocation>(*invocation_);
  clang::FrontendOptions &frontend = invocation->getFrontendOpts();
  frontend.Inputs = {clang::FrontendInputFile(paths.inputs[0], frontend.Inputs[0].getKind())};
  frontend.OutputFile = paths.output;
  if (main_file_name_) {
    // What -main-file-name {input-name} gave.
    invocation->getCodeGenOpts().MainFileName = llvm::sys::path::filename(paths.inputs[0]).str();
  }
  return invocation;
}

std::vector<Compiled> Compiler::compile(const std::vector<Paths> &jobs) {
  std::vector<Compiled> results(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&](Worker *worker) {
    for (size_t i; (i = next++) < jobs.size();) {
      auto started = std::chrono::steady_clock::now();
      results[i].ok = compile_one(jobs[i], results[i].diagnostics, *worker);
      auto elapsed = std::chrono::steady_clock::now() - started;
      results[i].microseconds = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    }
  };
  size_t count = std::min(workers_.size(), jobs.size());
  std::vector<std::thread> threads;
  for (size_t w = 1; w < count; ++w) {
    threads.emplace_back(work, workers_[w].get());
  }
  work(workers_[0].get());
  for (std::thread &thread : threads) {
    thread.join();
  }
  return results;
}

bool Compiler::compile_one(const Paths &paths, std::string &diagnostics, Worker &worker) {
  // The object is written here, not by clang: clang registers each file it writes for
  // removal on a signal, in a list LLVM never shrinks, so a long-lived service would walk a
  // longer list on every compile (a few percent of a compile after a thousand). It outlives
  // the compiler instance, which may hold the stream writing into it.
  llvm::SmallVector<char, 0> object;
  auto clang = std::make_unique<clang::CompilerInstance>(worker.pch_ops, worker.module_cache.get());
  clang->setInvocation(invocation_for(paths));

  // Everything clang would write to stderr: diagnostics and the "N errors generated." line.
  llvm::raw_string_ostream text(diagnostics);
  clang->createDiagnostics(new clang::TextDiagnosticPrinter(text, &clang->getDiagnosticOpts()), true);
  clang->setVerboseOutputStream(text);
  // The argument parse's warnings, as the process prints them on every compile.
  parse_diagnostics_->FlushDiagnostics(clang->getDiagnostics());
  clang->setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
  bool ok = clang::ExecuteCompilerInvocation(clang.get());
  clang->getDiagnosticClient().finish();
  text.flush();
  if (ok) {
    std::error_code error;
    llvm::raw_fd_ostream out(paths.output, error, llvm::sys::fs::OF_None);
    if (!error) {
      out.write(object.data(), object.size());
      out.close();
      error = out.error();
      out.clear_error();
    }
    if (error) {
      diagnostics += "error: cannot write " + paths.output + ": " + error.message() + "\n";
      ok = false;
    }
  }
  return ok;
}

} // namespace service
