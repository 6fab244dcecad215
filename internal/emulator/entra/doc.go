// Package entra is the Microsoft Entra ID stand-in of the Microsoft commercial
// marketplace emulator: the few endpoints of login.microsoftonline.com that a
// SaaS publisher's code touches, served as one http.Handler under the
// authority host the seller is configured with (e.g.
// https://127.0.0.1:8081/entra/).
//
// It issues client-credentials access tokens for the marketplace API
// (resource 20e940b3-4c77-4b0b-9a53-9e16a1b010a7) to registered publisher
// apps, on the v2 (scope) and v1 (resource) token endpoints, with Entra's
// error shapes; serves the OpenID discovery documents MSAL and azidentity
// read, and the JWKS a seller verifies webhook tokens with; verifies the
// access tokens the emulator's Fulfillment and Metering APIs receive; and
// mints the tokens the marketplace attaches to its webhook calls. Its
// signing keys rotate on request, the previous key staying published for a
// while, and persist in the data folder when there is one.
//
// The wire contract is docs/azure-marketplace-contract.md §2, §4.4 and
// §7.1 of the specification. Like the rest of the emulator it imports
// nothing from the seller side.
package entra
