// Package account holds the people who use the console: registration with
// e-mail verification, passwords (argon2id, length and common-password
// rules), log-in with rate limits by client, by (account, client) and a
// back-off per account that known browsers are spared (limits.go), password
// reset, sessions, and the business information asked for after the first
// log-in.
//
// Messages to a person never reveal whether an e-mail address is
// registered: registration, resend and reset answer the same either way, and
// the mail itself tells the owner of the address what happened. A sign-up
// never changes an existing account; only the mailbox, through a link, can
// choose the password of an account whose address two people signed up
// with (#11).
//
// People may also sign in through the vendor's OpenID Connect provider
// (identity.go, #12): an identity is (issuer, subject), a first sign-in with
// an address the provider verified creates a user without a password, and
// an identity joins an existing account only when its owner links it while
// logged in. Telling such a person that their address has an account here
// reveals nothing: the provider vouched that the mailbox is theirs.
package account
