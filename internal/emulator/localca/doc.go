// Package localca is the emulator's own certificate authority. It is made
// once, in the emulator's data folder, and issues the TLS certificate the
// emulator serves HTTPS with, so that SNS verifiers that insist on an https
// SigningCertURL (every stock one does) can fetch the signing certificate
// from the emulator after being told to trust this one CA file (#13).
//
// Any emulator may use it; it knows nothing of AWS.
package localca
