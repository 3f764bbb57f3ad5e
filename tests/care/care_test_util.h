// Helpers shared by the alliance_care tests: fixed identities, an agreement builder and local
// civil times. Nothing here reads the wall clock.
#ifndef ALLIANCE_TESTS_CARE_CARE_TEST_UTIL_H_
#define ALLIANCE_TESTS_CARE_CARE_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "alliance/v1/care.pb.h"
#include "crypto/keys.h"

namespace alliance::care::testing {

inline std::vector<uint8_t> Seed(uint8_t fill) { return std::vector<uint8_t>(32, fill); }

inline std::string KeyBytes(const crypto::PublicKey& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

// The therapist and client of one relationship, plus an outsider, from fixed seeds.
struct Parties {
  crypto::IdentityKeyPair therapist = *crypto::IdentityKeyPair::FromSeed(Seed(0x7E));
  crypto::IdentityKeyPair client = *crypto::IdentityKeyPair::FromSeed(Seed(0xC1));
  crypto::IdentityKeyPair other = *crypto::IdentityKeyPair::FromSeed(Seed(0x0F));
};

inline constexpr char kEmergency[] =
    "If you are in danger, call 112 now or the crisis line 0800 111 0 111.";

inline void AddWindow(v1::CareAgreement* a, v1::Weekday day, int start_hour, int start_min,
                      int duration_minutes) {
  v1::ResponseWindow* w = a->add_windows();
  w->set_day(day);
  w->set_start_minute(static_cast<uint32_t>(start_hour * 60 + start_min));
  w->set_duration_minutes(static_cast<uint32_t>(duration_minutes));
}

// Monday to Friday 09:00–17:00 in `zone`, replies within `hours` working hours.
inline v1::CareAgreement OfficeHours(const std::string& zone, uint32_t hours = 16) {
  v1::CareAgreement a;
  a.set_format_version(1);
  a.set_version(1);
  a.set_therapist_identity_key(std::string(32, 'T'));
  a.set_client_identity_key(std::string(32, 'C'));
  a.set_proposed_at_unix(1'717'200'000);
  a.set_time_zone(zone);
  for (v1::Weekday d : {v1::WEEKDAY_MONDAY, v1::WEEKDAY_TUESDAY, v1::WEEKDAY_WEDNESDAY,
                        v1::WEEKDAY_THURSDAY, v1::WEEKDAY_FRIDAY}) {
    AddWindow(&a, d, 9, 0, 8 * 60);
  }
  a.set_reply_within_working_hours(hours);
  a.set_read_receipts(true);
  a.set_emergency_notice(kEmergency);
  a.set_device_retention_days(90);
  return a;
}

// The same agreement bound to real parties, ready to sign.
inline v1::CareAgreement BoundAgreement(const Parties& p, uint64_t version = 1) {
  v1::CareAgreement a = OfficeHours("Europe/Berlin");
  a.set_version(version);
  a.set_therapist_identity_key(KeyBytes(p.therapist.public_key()));
  a.set_client_identity_key(KeyBytes(p.client.public_key()));
  return a;
}

// A local wall-clock time in `zone` (must be a unique civil time).
inline absl::Time Local(const std::string& zone, int y, int mo, int d, int h, int mi = 0) {
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(zone, &tz)) std::abort();
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), tz);
}

inline absl::Time Utc(int y, int mo, int d, int h, int mi = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone());
}

}  // namespace alliance::care::testing

#endif  // ALLIANCE_TESTS_CARE_CARE_TEST_UTIL_H_
