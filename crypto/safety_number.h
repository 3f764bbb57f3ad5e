// Safety numbers: 60 digits both parties compare out of band (in session, by phone, by QR).
//
// Per party: h = SHA-512(0x00 0x01 ‖ IK ‖ account id); then 5199 times h = SHA-512(h ‖ IK);
// the first 30 bytes as six 5-byte big-endian chunks, each mod 100 000, zero-padded to 5 digits.
// The two 30-digit strings are sorted and joined, so both sides see the same 60 digits, and the
// number changes when either identity key changes.
//
//   std::string sn = SafetyNumber(my_ik, my_id, their_ik, their_id);   // "12345 67890 …" groups
//   std::string qr = SafetyNumberQrPayload(sn_digits);
//
// Thread safety: pure functions.
#ifndef ALLIANCE_CRYPTO_SAFETY_NUMBER_H_
#define ALLIANCE_CRYPTO_SAFETY_NUMBER_H_

#include <string>

#include "crypto/secret.h"

namespace alliance::crypto {

// The 30 digits of one party.
std::string SafetyNumberHalf(const PublicKey& identity_key, ByteSpan account_id);

// The 60-digit safety number of a pair (order of the arguments does not matter).
std::string SafetyNumber(const PublicKey& identity_a, ByteSpan account_a,
                         const PublicKey& identity_b, ByteSpan account_b);

// The 60 digits in twelve groups of five, separated by spaces, for display.
std::string FormatSafetyNumber(const std::string& digits);

// QR payload: "alliance-sn:1:" followed by the 60 digits.
std::string SafetyNumberQrPayload(const std::string& digits);

}  // namespace alliance::crypto

#endif  // ALLIANCE_CRYPTO_SAFETY_NUMBER_H_
