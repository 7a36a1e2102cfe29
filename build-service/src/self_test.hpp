// The guard of links in the service's own process: run once at start, before the first link.
#pragma once

#include <string>

#include "compile.hpp"
#include "link.hpp"

namespace service {

// Links a fixture with data relocations twice in process (in a child, so that this process
// stays never-linked if it fails) and once in a child forked from this never-linked process,
// and compiles it again after those links. Empty when both links wrote the forked link's bytes
// and the compile its first object; else why not. For tests, JANK_BUILD_SERVICE_TEST=
// fail-self-test makes it fail after doing all that.
std::string self_test(Compiler &compiler, const Linker &linker);

} // namespace service
