// Package sns produces Amazon SNS HTTP/S deliveries the way SNS does: the JSON
// envelope (Notification, SubscriptionConfirmation, UnsubscribeConfirmation),
// its canonical string, and its signature with SignatureVersion 1
// (SHA1withRSA) or 2 (SHA256withRSA).
//
// Real SNS signs with a key whose certificate lives under sns.<region>.amazonaws.com;
// the emulator signs with an RSA key and a self-signed certificate of its own,
// made by NewKeyPair and served at the envelope's SigningCertURL, so that a
// seller's verifier only has to trust a different certificate source.
package sns
