// Attachment encryption (crypto/attachment.h): the chunked secretstream refuses every way a
// stream can be altered: a flipped bit, a cut at a chunk boundary, swapped chunks, a chunk
// after the final one, another key.
#include "crypto/attachment.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wire/protocol.h"

namespace alliance::crypto {
namespace {

struct Sealed {
  std::string key;
  std::string header;
  std::vector<std::string> chunks;
};

Sealed SealChunks(const std::vector<std::string>& plain) {
  auto sealer = AttachmentSealer::Create();
  EXPECT_TRUE(sealer.ok());
  Sealed s;
  s.key.assign(reinterpret_cast<const char*>(sealer->key().data()), sealer->key().size());
  s.header = sealer->header();
  for (size_t i = 0; i < plain.size(); ++i) {
    auto c = sealer->Seal(AsBytes(plain[i]), i + 1 == plain.size());
    EXPECT_TRUE(c.ok());
    s.chunks.push_back(*c);
  }
  return s;
}

// Opens `chunks` in order; returns the plaintext, or the first error. A stream must end with
// the final chunk.
absl::StatusOr<std::string> OpenAll(const std::string& key, const std::string& header,
                                    const std::vector<std::string>& chunks) {
  auto opener = AttachmentOpener::Create(AsBytes(key), AsBytes(header));
  if (!opener.ok()) return opener.status();
  std::string out;
  SecretBytes buf;
  bool final = false;
  for (const std::string& c : chunks) {
    size_t n = 0;
    auto last = opener->Open(AsBytes(c), &buf, &n);
    if (!last.ok()) return last.status();
    out.append(reinterpret_cast<const char*>(buf.data()), n);
    final = *last;
  }
  if (!final) return absl::DataLossError("no final chunk");
  return out;
}

std::vector<std::string> ThreeChunks() {
  return {std::string(wire::kAttachmentChunkSize, 'a'), std::string(wire::kAttachmentChunkSize, 'b'),
          std::string(100, 'c')};
}

TEST(AttachmentCryptoTest, ChunksRoundTripAndGrowBySeventeenBytes) {
  Sealed s = SealChunks(ThreeChunks());
  EXPECT_EQ(s.header.size(), wire::kAttachmentHeaderSize);
  EXPECT_EQ(s.chunks[0].size(), wire::kAttachmentChunkSize + 17);
  EXPECT_EQ(s.chunks[2].size(), 117u);
  auto plain = OpenAll(s.key, s.header, s.chunks);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, ThreeChunks()[0] + ThreeChunks()[1] + ThreeChunks()[2]);
  EXPECT_EQ(wire::AttachmentCipherSize(2 * wire::kAttachmentChunkSize + 100),
            24 + 2 * wire::kAttachmentChunkSize + 100 + 3 * 17);
}

TEST(AttachmentCryptoTest, AnEmptyFileIsOneFinalChunk) {
  Sealed s = SealChunks({""});
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(s.chunks[0].size(), 17u);
  EXPECT_EQ(wire::AttachmentCipherSize(0), 24u + 17u);
  auto plain = OpenAll(s.key, s.header, s.chunks);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->empty());
}

TEST(AttachmentCryptoTest, AFlippedBitAnywhereFails) {
  Sealed s = SealChunks(ThreeChunks());
  for (size_t chunk : {0u, 2u}) {
    for (size_t at : {size_t{0}, s.chunks[chunk].size() / 2, s.chunks[chunk].size() - 1}) {
      std::vector<std::string> bad = s.chunks;
      bad[chunk][at] ^= 0x01;
      EXPECT_EQ(OpenAll(s.key, s.header, bad).status().code(), absl::StatusCode::kDataLoss);
    }
  }
  std::string header = s.header;
  header[3] ^= 0x80;
  EXPECT_FALSE(OpenAll(s.key, header, s.chunks).ok());
}

TEST(AttachmentCryptoTest, AStreamCutAtAChunkBoundaryFails) {
  Sealed s = SealChunks(ThreeChunks());
  // Every chunk authenticates, but the final tag never comes.
  EXPECT_EQ(OpenAll(s.key, s.header, {s.chunks[0], s.chunks[1]}).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(AttachmentCryptoTest, SwappedChunksFail) {
  Sealed s = SealChunks(ThreeChunks());
  EXPECT_EQ(OpenAll(s.key, s.header, {s.chunks[1], s.chunks[0], s.chunks[2]}).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(AttachmentCryptoTest, AChunkFromAnotherFileFails) {
  Sealed a = SealChunks(ThreeChunks());
  Sealed b = SealChunks(ThreeChunks());
  EXPECT_EQ(OpenAll(a.key, a.header, {a.chunks[0], b.chunks[1], a.chunks[2]}).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(AttachmentCryptoTest, AWrongKeyFails) {
  Sealed s = SealChunks(ThreeChunks());
  std::string key = s.key;
  key[0] ^= 0x01;
  EXPECT_FALSE(OpenAll(key, s.header, s.chunks).ok());
  EXPECT_EQ(AttachmentOpener::Create(AsBytes(std::string("short")), AsBytes(s.header))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AttachmentCryptoTest, NothingIsAcceptedAfterTheFinalChunk) {
  Sealed s = SealChunks({"one", "two"});
  std::vector<std::string> extra = s.chunks;
  extra.push_back(s.chunks[1]);
  EXPECT_EQ(OpenAll(s.key, s.header, extra).status().code(), absl::StatusCode::kDataLoss);
  auto sealer = AttachmentSealer::Create();
  ASSERT_TRUE(sealer.ok());
  ASSERT_TRUE(sealer->Seal(AsBytes(std::string("x")), true).ok());
  EXPECT_FALSE(sealer->Seal(AsBytes(std::string("y")), false).ok());
  EXPECT_FALSE(sealer->Seal(AsBytes(std::string(wire::kAttachmentChunkSize + 1, 'z')), true).ok());
}

TEST(AttachmentCryptoTest, TheStreamHashIsBlake2b256OfTheBytesFed) {
  StreamHash h;
  h.Update(AsBytes(std::string("ab")));
  h.Update(AsBytes(std::string("c")));
  std::array<uint8_t, 32> whole{};
  const std::string abc = "abc";
  crypto_generichash(whole.data(), whole.size(), reinterpret_cast<const uint8_t*>(abc.data()),
                     abc.size(), nullptr, 0);
  EXPECT_EQ(h.Final(), whole);
}

}  // namespace
}  // namespace alliance::crypto
