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
package account
