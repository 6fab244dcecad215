// Package account holds the people who use the console: registration with
// e-mail verification, passwords (argon2id, length and common-password
// rules), log-in with rate limits, password reset, sessions, and the
// business information asked for after the first log-in.
//
// Messages to a person never reveal whether an e-mail address is
// registered: registration, resend and reset answer the same either way, and
// the mail itself tells the owner of the address what happened.
package account
