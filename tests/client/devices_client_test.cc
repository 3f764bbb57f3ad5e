// Several devices per account through the client library and a real relay on a loopback port:
// linking with a one-time code, messages to every device, own sent messages on the other
// device, removal (DESIGN §4, "Several devices").
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "client/client.h"
#include "tests/client/client_fixture.h"

namespace alliance::client::testing {
namespace {

class DevicesClientTest : public ClientFixture {
 protected:
  // Links a new profile `name` to the account of `existing`, named `device_name`.
  std::unique_ptr<Client> Link(Client& existing, const std::string& name,
                               const std::string& device_name) {
    auto fresh = Client::Init(Options(name), Pass("pw-" + name));
    EXPECT_TRUE(fresh.ok()) << fresh.status();
    if (!fresh.ok()) return nullptr;
    RelayOptions relay;
    relay.address = Address();
    auto code = (*fresh)->StartLink(relay);
    EXPECT_TRUE(code.ok()) << code.status();
    if (!code.ok()) return nullptr;
    auto id = existing.ApproveLink(code->code, device_name);
    EXPECT_TRUE(id.ok()) << id.status();
    absl::Status finished = (*fresh)->FinishLink(absl::Seconds(5));
    EXPECT_TRUE(finished.ok()) << finished;
    return *std::move(fresh);
  }

  static std::vector<std::string> Bodies(const std::vector<MessageView>& v) {
    std::vector<std::string> out;
    for (const MessageView& m : v) out.push_back(m.body);
    return out;
  }
};

TEST_F(DevicesClientTest, ALinkedDeviceReceivesEverythingAndShowsWhatTheOtherSent) {
  BuildClinic();
  ASSERT_TRUE(client_->SendText("therapist", "hello from the phone").ok());
  ASSERT_EQ(Bodies(*therapist_->Sync()), std::vector<std::string>{"hello from the phone"});

  std::unique_ptr<Client> laptop = Link(*client_, "Sam-laptop", "Laptop");
  ASSERT_NE(laptop, nullptr);
  auto devices = client_->Devices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 2u);
  EXPECT_TRUE((*devices)[0].this_device);
  EXPECT_EQ((*devices)[1].name, "Laptop");
  EXPECT_TRUE((*devices)[0].last_seen.has_value());  // The phone logged in today.
  auto contacts = laptop->Contacts(false);
  ASSERT_TRUE(contacts.ok());
  ASSERT_EQ(contacts->size(), 1u);  // The therapist, with the key the phone pinned.
  EXPECT_EQ(laptop->Account()->id, client_->Account()->id);
  auto on_laptop_devices = laptop->Devices();
  ASSERT_TRUE(on_laptop_devices.ok());
  ASSERT_EQ(on_laptop_devices->size(), 2u);
  EXPECT_TRUE((*on_laptop_devices)[1].this_device);
  EXPECT_EQ((*on_laptop_devices)[1].name, "Laptop");

  // The therapist's client still knows one device: the relay answers with the missing one,
  // the client refreshes the signed list and encrypts to both.
  auto sent = therapist_->SendText("client", "to both of your devices");
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_TRUE(sent->sent);
  EXPECT_EQ(Bodies(*client_->Sync()), std::vector<std::string>{"to both of your devices"});
  EXPECT_EQ(Bodies(*laptop->Sync()), std::vector<std::string>{"to both of your devices"});
  // The therapist's conversation says quietly that Sam reads on another screen now.
  auto with_sam = therapist_->History("client");
  ASSERT_TRUE(with_sam.ok());
  const auto line = std::find_if(with_sam->begin(), with_sam->end(),
                                 [](const MessageView& m) { return m.device_added; });
  ASSERT_NE(line, with_sam->end());
  EXPECT_NE(line->body.find("Sam added a device on "), std::string::npos) << line->body;

  // What the laptop sends reaches the therapist and shows on the phone as sent by Sam.
  auto from_laptop = laptop->SendText("therapist", "sent from the laptop");
  ASSERT_TRUE(from_laptop.ok()) << from_laptop.status();
  ASSERT_TRUE(from_laptop->sent);
  EXPECT_EQ(Bodies(*therapist_->Sync()), std::vector<std::string>{"sent from the laptop"});
  ASSERT_TRUE(client_->Sync().ok());
  auto history = client_->History("therapist");
  ASSERT_TRUE(history.ok());
  ASSERT_FALSE(history->empty());
  EXPECT_EQ(history->back().body, "sent from the laptop");
  EXPECT_EQ(history->back().direction, v1::DIRECTION_OUTGOING);

  // Read on the phone: read on the laptop too.
  ASSERT_TRUE(therapist_->SendText("client", "one more").ok());
  ASSERT_TRUE(client_->Sync().ok());
  ASSERT_TRUE(laptop->Sync().ok());
  ASSERT_TRUE(client_->History("therapist", /*mark_read=*/true).ok());
  ASSERT_TRUE(laptop->Sync().ok());
  auto on_laptop = laptop->Contacts(false);
  ASSERT_TRUE(on_laptop.ok());
  EXPECT_EQ((*on_laptop)[0].unread, 0u);

  // A lost laptop: removed from the phone, it is refused at once, and messages go on.
  ASSERT_TRUE(client_->RemoveDevice((*devices)[1].id).ok());
  EXPECT_FALSE(laptop->Sync().ok());
  auto after = therapist_->SendText("client", "after the removal");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->sent);
  EXPECT_EQ(Bodies(*client_->Sync()), std::vector<std::string>{"after the removal"});
  ASSERT_TRUE(client_->SendText("therapist", "phone still works").ok());
  EXPECT_EQ(Bodies(*therapist_->Sync()), std::vector<std::string>{"phone still works"});
}

TEST_F(DevicesClientTest, ACodeWorksOnceAndNonsenseIsNotACode) {
  BuildClinic();
  auto fresh = Client::Init(Options("Sam-tablet"), Pass("pw-Sam-tablet"));
  ASSERT_TRUE(fresh.ok());
  RelayOptions relay;
  relay.address = Address();
  auto code = (*fresh)->StartLink(relay);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(client_->ApproveLink(code->code, "Tablet").ok());
  auto again = client_->ApproveLink(code->code, "Tablet");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_EQ(client_->ApproveLink("not-a-code", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A code nobody opened is unknown to the relay.
  std::string other = code->code;
  other[0] = other[0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(client_->ApproveLink(other, "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*fresh)->FinishLink(absl::Seconds(5)).ok());
}

TEST_F(DevicesClientTest, TheDeviceLimitHolds) {
  BuildClinic();
  std::vector<std::unique_ptr<Client>> linked;
  for (int i = 0; i < 4; ++i) {  // The default limit is 5 devices.
    linked.push_back(Link(*therapist_, "Rivera-" + std::to_string(i), "Device"));
    ASSERT_NE(linked.back(), nullptr);
  }
  auto sixth = Client::Init(Options("Rivera-6"), Pass("pw-Rivera-6"));
  ASSERT_TRUE(sixth.ok());
  RelayOptions relay;
  relay.address = Address();
  auto code = (*sixth)->StartLink(relay);
  ASSERT_TRUE(code.ok());
  auto refused = therapist_->ApproveLink(code->code, "One too many");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
}

}  // namespace
}  // namespace alliance::client::testing
