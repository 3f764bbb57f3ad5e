// Writes the seed corpora of every fuzz target: alliance_fuzz_write_seeds DIR writes
// DIR/<target>/seed_NN for each target. The inputs are built with the same fixed keys and
// fixtures as the targets (fuzz_util.h, relay_fixture.h), so they decrypt, verify and name
// accounts that exist. The checked-in corpus under tests/fuzz/corpus comes from this tool:
//   build-clang/tests/fuzz/alliance_fuzz_write_seeds tests/fuzz/corpus
#include <sodium.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "alliance/v1/client_records.pb.h"
#include "alliance/v1/devices_service.pb.h"
#include "alliance/v1/keys_service.pb.h"
#include "alliance/v1/relay_service.pb.h"
#include "care/agreement.h"
#include "care/goals.h"
#include "crypto/devices.h"
#include "crypto/sealed_store.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/relay_fixture.h"
#include "wire/protocol.h"
#include "wire/signed_strings.h"

namespace alliance::fuzz {
namespace {

namespace fs = std::filesystem;
using Seeds = std::vector<std::vector<uint8_t>>;

std::vector<uint8_t> Of(const google::protobuf::Message& m) {
  std::string s = m.SerializeAsString();
  return std::vector<uint8_t>(s.begin(), s.end());
}
std::vector<uint8_t> Of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

void Write(const fs::path& dir, const std::string& target, const Seeds& seeds) {
  fs::create_directories(dir / target);
  for (size_t i = 0; i < seeds.size(); ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "seed_%02zu", i);
    std::ofstream out(dir / target / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(seeds[i].data()), static_cast<std::streamsize>(seeds[i].size()));
    Require(out.good(), "write a seed");
  }
  std::printf("%s: %zu seeds\n", target.c_str(), seeds.size());
}

Seeds PreKeySeeds() {
  Seeds seeds;
  for (bool with_opk : {true, false}) {
    crypto::testing::Parties p;
    crypto::VerifiedBundle b = *crypto::VerifyPreKeyBundle(p.Bundle(with_opk), kNow);
    crypto::Session alice = *crypto::Session::Initiate(p.alice, b, p.rng);
    crypto::OutgoingMessage m;
    RequireOk(alice.Encrypt(Bytes("hello"), &m), "encrypt");
    seeds.push_back(Tagged(0, m.bytes));
    seeds.push_back(Tagged(1, Of(p.Bundle(with_opk))));
    seeds.push_back(Tagged(2, Of(p.Bundle(with_opk))));
  }
  // A device list signed by Bob for the target's relay and account, and a provisioning message
  // sealed to the target's link code (prekey_fuzz.cc, modes 3 and 4).
  crypto::testing::Parties p;
  v1::SignedDeviceList list;
  list.set_version(2);
  for (uint32_t id : {1u, 3u}) {
    v1::DeviceEntry* d = list.add_devices();
    d->set_device_id(id);
    d->set_device_key(std::string(32, static_cast<char>('a' + id)));
    d->set_added_at(kNow - 86400 * id);
  }
  RequireOk(crypto::SignDeviceList(p.bob, std::vector<uint8_t>(16, 0x5E),
                                   std::vector<uint8_t>(16, 0xBB), &list),
            "sign device list");
  seeds.push_back(Tagged(3, Of(list)));
  crypto::DhKeyPair code = *crypto::DhKeyPair::FromSecret(crypto::testing::Seed(0x44));
  absl::StatusOr<std::string> sealed =
      crypto::SealProvision(code.public_key, Bytes("account keys and profile"), p.rng);
  RequireOk(sealed.status(), "seal provision");
  seeds.push_back(Tagged(4, Of(*sealed)));
  return seeds;
}

Seeds SealedStoreSeeds() {
  Seeds seeds;
  const std::string name = "session/0123";
  seeds.push_back(Tagged(0, std::string(1, static_cast<char>(name.size())) + name +
                                std::string(crypto::kSealOverhead + 8, 'x')));
  seeds.push_back(Tagged(1, std::string(1, static_cast<char>(name.size())) + name + "a value"));
  seeds.push_back(Tagged(1, std::string(1, '\0')));
  v1::WrappedStoreKey w;
  w.set_version(1);
  w.set_ops_limit(1);  // Below the minimum: refused before Argon2id.
  w.set_mem_limit(crypto_pwhash_MEMLIMIT_INTERACTIVE);
  w.set_salt(std::string(16, 's'));
  w.set_sealed_key(std::string(crypto::kSealOverhead + 32, 'k'));
  seeds.push_back(Tagged(2, Of(w)));
  return seeds;
}

v1::CareAgreement Agreement() {
  const CareParties& p = CareParties::Get();
  v1::CareAgreement a;
  a.set_format_version(1);
  a.set_version(1);
  a.set_therapist_identity_key(std::string(p.therapist.public_key().begin(), p.therapist.public_key().end()));
  a.set_client_identity_key(std::string(p.client.public_key().begin(), p.client.public_key().end()));
  a.set_proposed_at_unix(kNow);
  a.set_time_zone("Europe/Berlin");
  v1::ResponseWindow* w = a.add_windows();
  w->set_day(v1::WEEKDAY_MONDAY);
  w->set_start_minute(9 * 60);
  w->set_duration_minutes(8 * 60);
  a.set_reply_within_working_hours(16);
  v1::OutOfOffice* ooo = a.add_out_of_office();
  ooo->set_start_unix(kNow);
  ooo->set_end_unix(kNow + 7 * 86400);
  ooo->set_notice("away");
  a.set_emergency_notice("Call 112 in an emergency.");
  a.add_crisis_phrases("want to die");
  return a;
}

std::string Canonical(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

Seeds CareSeeds() {
  const CareParties& p = CareParties::Get();
  Seeds seeds;
  v1::CareAgreement a = Agreement();
  absl::StatusOr<v1::SignedAgreement> proposal = care::ProposeAgreement(a, p.therapist);
  RequireOk(proposal.status(), "propose");
  absl::StatusOr<v1::SignedAgreement> both =
      care::AcceptAgreement(*proposal, p.therapist.public_key(), p.client);
  RequireOk(both.status(), "accept");
  seeds.push_back(Tagged(0, Of(*proposal)));
  seeds.push_back(Tagged(0, Of(*both)));
  seeds.push_back(Tagged(1, Canonical(a)));

  v1::GoalEvent g;
  g.set_event_id(std::string(16, 'e'));
  g.set_goal_id(std::string(16, 'g'));
  g.set_action(v1::GOAL_ACTION_ADD);
  g.set_lamport(1);
  g.set_author(v1::PARTY_CLIENT);
  g.set_title("Sleep before midnight");
  absl::StatusOr<v1::SignedGoalEvent> signed_goal = care::SignGoalEvent(g, p.client);
  RequireOk(signed_goal.status(), "sign goal");
  seeds.push_back(Tagged(2, Of(*signed_goal)));
  seeds.push_back(Tagged(3, Canonical(g)));

  v1::CareLog log;
  v1::ConcernEvent* open = log.add_concerns();
  open->set_event_id(std::string(16, '1'));
  open->set_concern_id(std::string(16, 'c'));
  open->set_action(v1::CONCERN_ACTION_OPEN);
  open->set_lamport(1);
  open->set_author(v1::PARTY_CLIENT);
  open->set_title("Medication side effects");
  v1::ConcernEvent* ack = log.add_concerns();
  ack->set_event_id(std::string(16, '2'));
  ack->set_concern_id(std::string(16, 'c'));
  ack->set_action(v1::CONCERN_ACTION_ACKNOWLEDGE);
  ack->set_lamport(2);
  ack->set_author(v1::PARTY_THERAPIST);
  *log.add_goals() = *signed_goal;
  v1::GoalEvent progress = g;
  progress.set_event_id(std::string(16, 'f'));
  progress.set_action(v1::GOAL_ACTION_PROGRESS);
  progress.set_lamport(2);
  progress.clear_title();
  progress.set_has_percent(true);
  progress.set_percent(50);
  *log.add_goals() = *care::SignGoalEvent(progress, p.client);
  seeds.push_back(Tagged(4, Of(log)));

  v1::OutOfOfficeUpdate update;
  update.set_format_version(1);
  update.set_issued_at_unix(kNow);
  *update.add_periods() = a.out_of_office(0);
  v1::SignedOutOfOffice s;
  s.set_document(Canonical(update));
  crypto::Signature sig = p.therapist.Sign(
      crypto::AsBytes(wire::DocumentMessage(wire::kOutOfOfficeDocument, s.document())));
  s.set_signature(std::string(sig.begin(), sig.end()));
  seeds.push_back(Tagged(5, Of(s)));
  seeds.push_back(Tagged(6, s.document()));
  return seeds;
}

Seeds ConfigSeeds(const fs::path& source_dir) {
  Seeds seeds;
  std::ifstream in(source_dir / "deploy" / "relay.toml", std::ios::binary);
  Require(in.good(), "read deploy/relay.toml");
  seeds.push_back(std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {}));
  seeds.push_back(Of(std::string("data = \"/tmp/x\"\nlisten = \"127.0.0.1:0\"\n")));
  seeds.push_back(Of(std::string("[limits]\nsend_burst = 1.5\nretention_days = 0\ntoken_ttl_hours = -1\n")));
  seeds.push_back(Of(std::string("commit_threads = 99999999999999999999\nlog_level = 'off'\n")));
  return seeds;
}

// method ‖ caller ‖ request, with account aliases.
std::vector<uint8_t> Request(Method m, As as, const google::protobuf::Message& request) {
  std::vector<uint8_t> out{static_cast<uint8_t>(m), static_cast<uint8_t>(as)};
  std::string body = request.SerializeAsString();
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string Alias(int account) { return std::string(16, static_cast<char>(kAliasFill[account])); }

Seeds RelaySeeds() {
  Seeds seeds;
  seeds.push_back(Request(kChallenge, As::kNobody, v1::ChallengeRequest()));
  v1::LoginRequest login;
  login.mutable_address()->set_account_id(Alias(2));
  login.mutable_address()->set_device_id(1);
  login.set_nonce(std::string(32, 'n'));
  login.set_expires_at(1'790'000'060);
  login.set_signature(std::string(64, 's'));
  seeds.push_back(Request(kLogin, As::kNobody, login));
  v1::RegisterRequest reg;
  reg.set_invite_code(std::string(16, 'i'));
  reg.set_identity_key(std::string(32, 'k'));
  reg.set_proof(std::string(64, 'p'));
  seeds.push_back(Request(kRegister, As::kNobody, reg));
  seeds.push_back(Request(kListContacts, As::kClient, v1::ListContactsRequest()));
  v1::CreateInviteRequest invite;
  invite.set_role(v1::ROLE_CLIENT);
  seeds.push_back(Request(kCreateInvite, As::kTherapist, invite));
  v1::RevokeInviteRequest revoke;
  revoke.set_invite_id(std::string(32, 'r'));
  seeds.push_back(Request(kRevokeInvite, As::kAdmin, revoke));
  seeds.push_back(Request(kListMembers, As::kAdmin, v1::ListMembersRequest()));
  v1::ReadAuditRequest audit;
  seeds.push_back(Request(kReadAudit, As::kAdmin, audit));
  v1::DeactivateAccountRequest deactivate;  // Not one of the fixture's accounts.
  deactivate.set_account_id(std::string(16, 'z'));
  seeds.push_back(Request(kDeactivateAccount, As::kAdmin, deactivate));

  crypto::testing::Parties p;
  v1::PublishPreKeysRequest publish;
  *publish.mutable_signed_prekey() = p.spk.ToPublic();
  *publish.add_one_time_prekeys() = p.opk.ToPublic();
  seeds.push_back(Request(kPublishPreKeys, As::kTherapist, publish));
  seeds.push_back(Request(kGetPreKeyStatus, As::kTherapist, v1::GetPreKeyStatusRequest()));
  v1::FetchPreKeyBundleRequest fetch;
  fetch.mutable_address()->set_account_id(Alias(1));
  fetch.mutable_address()->set_device_id(1);
  seeds.push_back(Request(kFetchPreKeyBundle, As::kClient, fetch));

  v1::SendRequest send;
  send.set_version(wire::kEnvelopeVersion);
  send.set_message_id(std::string(16, 'm'));
  send.mutable_recipient()->set_account_id(Alias(1));
  send.mutable_recipient()->set_device_id(1);
  send.set_type(v1::ENVELOPE_TYPE_MESSAGE);
  send.set_payload(std::string(64, 'c'));
  seeds.push_back(Request(kSend, As::kClient, send));
  v1::ReceiveRequest receive;
  receive.mutable_mailbox()->set_account_id(Alias(1));
  receive.mutable_mailbox()->set_device_id(1);
  seeds.push_back(Request(kReceive, As::kTherapist, receive));
  v1::AckRequest ack;
  ack.add_sequences(1);
  seeds.push_back(Request(kAck, As::kTherapist, ack));

  v1::ListDevicesRequest devices;
  devices.set_account_id(Alias(1));
  seeds.push_back(Request(kListDevices, As::kClient, devices));
  v1::PublishDeviceListRequest list;
  list.mutable_list()->set_version(1);
  v1::DeviceEntry* device = list.mutable_list()->add_devices();
  device->set_device_id(1);
  device->set_device_key(std::string(32, 'd'));
  list.mutable_list()->set_signature(std::string(64, 's'));
  seeds.push_back(Request(kPublishDeviceList, As::kTherapist, list));
  v1::DeleteAccountRequest del;  // Confirmation does not match: refused.
  del.set_confirm_account_id(Alias(1));
  seeds.push_back(Request(kDeleteAccount, As::kClient, del));
  seeds.push_back(Request(kLogout, As::kForged, v1::LogoutRequest()));
  return seeds;
}

}  // namespace
}  // namespace alliance::fuzz

int main(int argc, char** argv) {
  using namespace alliance::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR  (writes DIR/<target>/seed_NN)\n", argv[0]);
    return 2;
  }
  InitSodiumOrDie();
  const std::filesystem::path dir = argv[1];
  Write(dir, "ratchet_decrypt", RatchetFixture::Get().seeds);
  Write(dir, "prekey", PreKeySeeds());
  Write(dir, "sealed_store", SealedStoreSeeds());
  Write(dir, "care_documents", CareSeeds());
  Write(dir, "relay_config", ConfigSeeds(ALLIANCE_SOURCE_DIR));
  Write(dir, "relay_requests", RelaySeeds());
  return 0;
}
