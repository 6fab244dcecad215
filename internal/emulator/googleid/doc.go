// Package googleid is Google's identity as the Google Cloud Marketplace
// emulator needs it: the few endpoints of www.googleapis.com,
// accounts.google.com and oauth2.googleapis.com that a SaaS partner's code
// touches, served as one http.Handler the emulator mounts at /google/id/.
//
// It keeps two key sets, as Google does: the keys of the
// cloud-commerce-partner@system.gserviceaccount.com robot, which sign the
// sign-up JWT the buyer's browser posts to the partner (contract §1.3), published
// as Google's x509 certificate map and as a JWKS; and the keys of
// accounts.google.com, which sign the OpenID Connect tokens on Pub/Sub push
// requests (§3.4), published at /oauth2/v3/certs. Both rotate on request, the
// previous key staying published until the next rotation.
//
// It issues service-account key files whose token_uri is its own /token
// endpoint, answers the OAuth2 JWT-bearer grant x/oauth2/google and
// cloud.google.com/go/auth send with them, and tells the emulator's APIs
// (Partner Procurement, Service Control) which service account a bearer
// token speaks for. Keys and issued service-account keys persist in the data
// folder when there is one, so a restarted emulator still accepts the
// seller's key file and cached certificates.
//
// Like the rest of the emulator it imports nothing from the seller side.
package googleid
