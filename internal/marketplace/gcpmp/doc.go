// Package gcpmp is marketbridge's side of Google Cloud Marketplace (#16):
// the core's Provider (the Partner Procurement API through Google's
// generated client, cloudcommerceprocurement/v1), its Meterer (Service
// Control check and report, servicecontrol/v1), and the Notices of the
// seller's Pub/Sub push subscription.
//
// It speaks the contract of ../shared/docs/gcp-marketplace-contract.md:
// the sign-up JWT is verified here, at once, against the x509 certificate
// map of a configured URL, never one the token names (§1.4); push calls are
// believed only with a Google-signed OIDC token for the configured service
// account (§3.4); usage goes out as one Service Control operation per
// entitlement, metric and hour whose operationId is a UUID v5 of those, so
// a resend is the same operation (§4.4).
//
// It talks to the configured hosts only (the two APIs, the two key URLs and
// the service account's token URI), so the same code runs against Google and
// against an emulator. It imports nothing of the emulator, and of the core
// only the ports it implements.
package gcpmp
