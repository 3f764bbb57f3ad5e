#include "server/infra/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace alliance::server {

absl::StatusOr<std::unique_ptr<Logger>> Logger::Create(const std::string& file,
                                                       const std::string& level) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat("unknown log level ", level));
  }
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // spdlog reports open failures by exception; this runs once at startup.
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex&) {
      return absl::UnavailableError(absl::StrCat("cannot open log file ", file));
    }
  }
  auto logger = std::make_shared<spdlog::logger>("alliance-relay", std::move(sink));
  logger->set_pattern("%v");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  return std::unique_ptr<Logger>(new Logger(std::move(logger)));
}

Logger::Logger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

Logger::~Logger() { Flush(); }

void Logger::Log(int level, std::string_view event, nlohmann::json fields) {
  auto lvl = static_cast<spdlog::level::level_enum>(level);
  if (!logger_->should_log(lvl)) return;
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = spdlog::level::to_string_view(lvl).data();
  line["event"] = std::string(event);
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) line[k] = v;
  }
  // Replace, never throw, on invalid UTF-8 (fields are ours, but stay safe).
  logger_->log(lvl, "{}",
               line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void Logger::Info(std::string_view e, nlohmann::json f) { Log(spdlog::level::info, e, f); }
void Logger::Warn(std::string_view e, nlohmann::json f) { Log(spdlog::level::warn, e, f); }
void Logger::Error(std::string_view e, nlohmann::json f) { Log(spdlog::level::err, e, f); }
void Logger::Debug(std::string_view e, nlohmann::json f) { Log(spdlog::level::debug, e, f); }
void Logger::Flush() { logger_->flush(); }

}  // namespace alliance::server
