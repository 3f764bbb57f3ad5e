// Logger: JSON-lines logging on top of spdlog. One object per line:
//   {"ts":"2024-05-01T10:00:00.123Z","level":"info","event":"login","account":"3f2a…"}
// Callers pass an event name and fields; there is no free-form text, so nothing a client sent
// (payloads, display names, tokens) can end up in a log by accident. Account ids are random
// pseudonyms and may be logged; tokens, codes and payloads must never be passed as fields.
//
//   ALLIANCE_ASSIGN_OR_RETURN(auto log, Logger::Create("/var/log/alliance/relay.log", "info"));
//   log->Info("relay_started", {{"port", port}});
//
// Thread-safe.
#ifndef ALLIANCE_SERVER_INFRA_LOGGING_H_
#define ALLIANCE_SERVER_INFRA_LOGGING_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace spdlog {
class logger;
}

namespace alliance::server {

class Logger {
 public:
  // Logs to `file` (appending; created if missing) or, when empty, to stderr.
  // `level`: trace, debug, info, warn, error, critical or off.
  // Errors: INVALID_ARGUMENT (unknown level), UNAVAILABLE (file cannot be opened).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Logger>> Create(const std::string& file,
                                                                      const std::string& level);
  ~Logger();

  void Info(std::string_view event, nlohmann::json fields = nlohmann::json::object());
  void Warn(std::string_view event, nlohmann::json fields = nlohmann::json::object());
  void Error(std::string_view event, nlohmann::json fields = nlohmann::json::object());
  void Debug(std::string_view event, nlohmann::json fields = nlohmann::json::object());
  // Writes buffered lines out.
  void Flush();

 private:
  explicit Logger(std::shared_ptr<spdlog::logger> logger);
  void Log(int level, std::string_view event, nlohmann::json fields);

  std::shared_ptr<spdlog::logger> logger_;  // spdlog's API shares ownership
};

}  // namespace alliance::server

#endif  // ALLIANCE_SERVER_INFRA_LOGGING_H_
