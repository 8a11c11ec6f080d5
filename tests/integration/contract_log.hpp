// The integration tests' side of the contract test (tests/contract/): when JOBD_CONTRACT_DIR is
// set, every HTTP response that a RawConnection received (http_request, submit and get use one
// too) is appended as one JSON line to <dir>/responses-<pid>.jsonl, paired with the request it
// answers, for tests/contract/validate.mjs to check against proto/openapi.yaml.
//
// Pairing: responses answer requests in order (HTTP/1.1), so the bytes a connection sent are
// split into requests (request line, headers, Content-Length or chunked body) and the n-th final
// response (1xx skipped) answers the n-th request. Where the sent bytes stop being well-formed
// HTTP/1.x (garbage, HTTP/0.9, a request line cut short), the responses from there on are
// recorded without a request: the validator holds them to the connection-level refusals.
#pragma once

#include <string>

namespace jobd::testing::contract {

// Whether responses are recorded (JOBD_CONTRACT_DIR is set and not empty).
bool enabled();

// Records the responses in `received` (everything a connection read, in order), paired with the
// requests in `sent`. `closed` is whether the peer closed the connection, which is what ends a
// body that has no Content-Length (an event stream).
void record_exchange(const std::string& sent, const std::string& received, bool closed);

}  // namespace jobd::testing::contract
