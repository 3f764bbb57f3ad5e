// Fuzz target: the relay's TOML configuration loader (server/infra/config.h).
//
// Input: the contents of a relay.toml. It is written to a file of this process (LoadConfigFile
// reads a path) and loaded over the defaults. Invariants: no crash, no exception escapes, no UB;
// errors are INVALID_ARGUMENT only (the file exists); a file that loads is either accepted or
// refused with INVALID_ARGUMENT by ValidateOptions.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "server/infra/config.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const std::string& ConfigPath() {
  static const std::string* path = [] {
    char name[] = "/tmp/alliance-fuzz-config-XXXXXX";
    int fd = mkstemp(name);
    alliance::fuzz::Require(fd >= 0, "create the config file");
    close(fd);
    return new std::string(name);
  }();
  return *path;
}

void RemoveConfig() { std::remove(ConfigPath().c_str()); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)ConfigPath();
  std::atexit(RemoveConfig);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace alliance;
  std::FILE* f = std::fopen(ConfigPath().c_str(), "wb");
  fuzz::Require(f != nullptr, "open the config file");
  fuzz::Require(size == 0 || std::fwrite(data, 1, size, f) == size, "write the config file");
  std::fclose(f);
  server::RelayOptions options;
  absl::Status s = server::LoadConfigFile(ConfigPath(), &options);
  if (!s.ok()) {
    fuzz::Require(absl::IsInvalidArgument(s), "config errors are INVALID_ARGUMENT");
    return 0;
  }
  absl::Status valid = server::ValidateOptions(options);
  fuzz::Require(valid.ok() || absl::IsInvalidArgument(valid), "validation errors are INVALID_ARGUMENT");
  return 0;
}
