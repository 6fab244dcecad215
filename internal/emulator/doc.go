// Package emulator is the AWS Marketplace emulator as one http.Handler: the
// AWS JSON API on POST / (awsapi), the buyer's console pages under /buyer/
// (buyer), the control API under /emulator/v1/ (control), SNS's confirmation
// and certificate URLs under /sns/, and the background work (delivering the
// notification outbox, applying what the clock makes due). Listener serves
// it over HTTP and HTTPS on one port, with a certificate from a local CA
// kept in the data folder (localca), because SNS's URLs are https (#13).
//
// It imports nothing from the seller side of marketbridge, and the seller
// imports nothing from it: each side implements the wire contract on its own,
// which is what makes the tests between them mean something.
package emulator
