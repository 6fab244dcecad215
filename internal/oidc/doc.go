// Package oidc is marketbridge's relying party for the vendor's OpenID
// Connect provider (#12): discovery, the authorization code flow with PKCE
// (S256), and verification of the ID token it returns (signature, iss, aud,
// exp, nonce), with github.com/coreos/go-oidc/v3 and golang.org/x/oauth2.
//
// It knows nothing of users or sessions: it turns a callback's code into a
// verified Identity. Which user that identity is, and where the state and
// nonce are kept between the two legs, is package account's business.
package oidc
