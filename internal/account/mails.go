package account

import (
	"fmt"
	"net/url"

	mailbox "github.com/marketbridge/marketbridge/internal/mail"
)

func link(base, path string, q url.Values) string {
	if len(q) == 0 {
		return base + path
	}
	return base + path + "?" + q.Encode()
}

func verifyMail(base, email, name, token, next string) mailbox.Message {
	q := url.Values{"token": {token}}
	if next != "" {
		q.Set("next", next)
	}
	u := link(base, "/verify-email", q)
	return mailbox.Message{
		To:      []string{email},
		Subject: "Verify your e-mail address",
		Text: fmt.Sprintf("Hello %s,\n\nPlease confirm that this is your e-mail address by opening this link:\n\n%s\n\n"+
			"The link works once and expires in 24 hours. If you did not register, ignore this message.\n", name, u),
	}
}

// signUpAgainMail tells a verified owner that someone signed up with their
// address; the sign-up changed nothing.
func signUpAgainMail(base, email, name string) mailbox.Message {
	return mailbox.Message{
		To:      []string{email},
		Subject: "Someone tried to sign up with your e-mail address",
		Text: fmt.Sprintf("Hello %s,\n\nSomeone, perhaps you, tried to create an account with this e-mail address. "+
			"You already have one, and nothing has changed. Log in at\n\n%s\n\nIf you forgot your password, reset it at\n\n%s\n\n"+
			"If this was not you, you need not do anything.\n", name, link(base, "/login", nil), link(base, "/forgot-password", nil)),
	}
}

// signUpAgainUnverifiedMail tells the owner of an unverified account that
// someone signed up with the address, and gives them a link to choose the
// account's password, which also verifies the address.
func signUpAgainUnverifiedMail(base, email, name, token string) mailbox.Message {
	return mailbox.Message{
		To:      []string{email},
		Subject: "Someone tried to sign up with your e-mail address",
		Text: fmt.Sprintf("Hello %s,\n\nSomeone, perhaps you, tried to create an account with this e-mail address. "+
			"An account with this address already exists and is not verified yet. Nothing has changed.\n\n"+
			"To verify this address and choose the account's password, open this link:\n\n%s\n\n"+
			"The link works once and expires in 24 hours. If this was not you, you need not do anything.\n",
			name, link(base, "/reset-password", url.Values{"token": {token}})),
	}
}

func resetMail(base, email, name, token string) mailbox.Message {
	return mailbox.Message{
		To:      []string{email},
		Subject: "Reset your password",
		Text: fmt.Sprintf("Hello %s,\n\nTo choose a new password, open this link:\n\n%s\n\n"+
			"The link works once and expires in one hour. If you did not ask for this, ignore this message; your password is unchanged.\n",
			name, link(base, "/reset-password", url.Values{"token": {token}})),
	}
}
