// Running the real binaries from a test: a command with captured output, and a background
// process (the relay, `alliance watch`) that can be signalled.
#ifndef ALLIANCE_TESTS_E2E_PROCESS_H_
#define ALLIANCE_TESTS_E2E_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace alliance::e2e {

struct Result {
  int exit_code = -1;  // -1 when killed by a signal.
  int signal = 0;
  std::string out;
  std::string err;
};

// Runs `argv` to completion with extra environment variables; stdin is /dev/null or `input`.
Result RunCommand(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env = {},
                  const std::string& input = "");

// A child process whose stdout and stderr go to files.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& out_file,
             const std::map<std::string, std::string>& env = {});
  ~Background();
  // Sends `sig` and waits; returns the exit code (-1 if it died of a signal).
  int Stop(int sig);
  // Waits up to `seconds` for the process to exit by itself; returns its exit code (-1 if it
  // died of a signal), or -2 if it is still running (it is then left running).
  int Wait(double seconds);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bound then released).
int FreePort();
// Waits until 127.0.0.1:port accepts connections (at most `seconds`).
bool WaitForPort(int port, double seconds);
std::string ReadFile(const std::string& path);

}  // namespace alliance::e2e

#endif  // ALLIANCE_TESTS_E2E_PROCESS_H_
