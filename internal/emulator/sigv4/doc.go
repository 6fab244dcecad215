// Package sigv4 verifies AWS Signature Version 4 on incoming requests, from the
// published algorithm: canonical request, string to sign, derived signing key,
// HMAC-SHA256. It answers with the error codes AWS JSON services use
// (MissingAuthenticationTokenException, IncompleteSignatureException,
// UnrecognizedClientException, InvalidSignatureException), so that an SDK
// pointed at the emulator fails the way it would against AWS.
//
// It deliberately shares no code with any signer: the emulator's tests sign
// with the AWS SDK and this package must agree with it independently.
package sigv4
