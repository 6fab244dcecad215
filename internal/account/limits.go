package account

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/ratelimit"
)

// Log-in limits (#11 item 6). A limit on the account alone let anyone lock
// its owner out by failing on purpose; limits on the client alone let many
// clients guess at one account. So:
//   - each client address may fail LoginClientBurst times, then one more per
//     LoginClientEvery, whatever accounts it tries;
//   - each (account, client) pair may fail LoginPairBurst times, then one
//     more per LoginPairEvery;
//   - each account has a back-off shared by all clients: past
//     LoginAccountFree failures, every attempt makes the next wait twice as
//     long, from a second up to LoginAccountMaxWait; failures are forgotten
//     at one per LoginAccountLeak.
//
// The numbers make the back-off out of reach of a few clients: one client
// fails at most 10 times and then 20 times an hour, two or three together
// stay under 30 at once and under the 60 an hour the account forgets, so
// the owner, logging in from elsewhere, is never slowed by them. Four or
// more are slowed together, and sustain about one guess a minute at the
// account however many they are. A browser that has logged in to the
// account before (a device cookie, see RememberDevice) is not part of the
// back-off at all: a flood of clients cannot keep the owner's own browser
// out either, and a browser that resets the password through the mailed
// link becomes such a browser (RememberDevice). A log-in with the right
// password gives its attempt back. A refusal says how long to wait
// (RateLimitError, Retry-After); nothing ever sleeps.
const (
	LoginClientBurst    = 30
	LoginClientEvery    = 20 * time.Second
	LoginPairBurst      = 10
	LoginPairEvery      = 3 * time.Minute
	LoginAccountFree    = 30
	LoginAccountLeak    = time.Minute
	LoginAccountMaxWait = 10 * time.Minute
)

// Mail limits: registration, resending the verification mail and asking
// for a reset send mail, so each client address and each e-mail address
// may do so MailBurst times, then once per MailEvery. They are apart from
// the log-in limits: asking for mail to someone's address never slows
// their log-in.
const (
	MailClientBurst = 30
	MailClientEvery = 20 * time.Second
	MailBurst       = 10
	MailEvery       = time.Minute
)

type limits struct {
	loginClient  *ratelimit.Limiter
	loginPair    *ratelimit.Limiter
	loginAccount *ratelimit.Backoff
	mailClient   *ratelimit.Limiter
	mailAddress  *ratelimit.Limiter
}

func newLimits(now func() time.Time) limits {
	return limits{
		loginClient: ratelimit.New(LoginClientBurst, LoginClientEvery, now),
		loginPair:   ratelimit.New(LoginPairBurst, LoginPairEvery, now),
		loginAccount: ratelimit.NewBackoff(ratelimit.BackoffConfig{Free: LoginAccountFree, Base: time.Second,
			Max: LoginAccountMaxWait, Leak: LoginAccountLeak}, now),
		mailClient:  ratelimit.New(MailClientBurst, MailClientEvery, now),
		mailAddress: ratelimit.New(MailBurst, MailEvery, now),
	}
}

// ErrRateLimited is what every refusal for too many attempts matches
// (errors.Is); the error itself is a *RateLimitError saying how long to wait.
var ErrRateLimited = fault.New(fault.KindRateLimited, "Too many attempts. Please wait a minute and try again.")

// RateLimitError refuses an attempt made too soon, and says when the next
// may come.
type RateLimitError struct {
	RetryAfter time.Duration
	shown      *fault.Error
}

func rateLimited(wait time.Duration) error {
	wait = max(wait, time.Second).Round(time.Second)
	return &RateLimitError{RetryAfter: wait,
		shown: fault.New(fault.KindRateLimited, "Too many attempts. Please wait %s and try again.", waitText(wait))}
}

func (e *RateLimitError) Error() string { return e.shown.Error() }

// Unwrap gives the message to show (with its kind) and ErrRateLimited.
func (e *RateLimitError) Unwrap() []error { return []error{e.shown, ErrRateLimited} }

// waitText says a wait as a person would, rounded up.
func waitText(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	case d <= time.Minute:
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

// clientKey is the client a limit counts against. IPv6 clients are counted
// by their /64, the block one host usually holds, so that walking through
// its addresses gains nothing; IPv4 (mapped or not) by the address. Anything
// else, which only a misconfigured proxy would send, counts as itself, cut
// short so that it cannot grow the limiter's memory. "" stays "": no client
// address known.
func clientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		if len(addr) > 64 {
			addr = addr[:64]
		}
		return addr
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// beginLogIn applies the log-in limits to an attempt at email from client
// (a clientKey) or, when device is not empty, from a browser known to have
// logged in to this account. It returns ok to call when the password
// turned out right, which gives the attempt back.
func (l limits) beginLogIn(email, client, device string) (ok func(), err error) {
	var undo []func()
	refuse := func(wait time.Duration) (func(), error) {
		for _, u := range undo {
			u()
		}
		return nil, rateLimited(wait)
	}
	if client != "" {
		if ok, wait := l.loginClient.Take(client); !ok {
			return refuse(wait)
		}
		undo = append(undo, func() { l.loginClient.Refund(client) })
	}
	pair := email + "\x00client:" + client
	if device != "" {
		pair = email + "\x00device:" + device
	}
	if ok, wait := l.loginPair.Take(pair); !ok {
		return refuse(wait)
	}
	undo = append(undo, func() { l.loginPair.Refund(pair) })
	if device == "" {
		if ok, wait := l.loginAccount.Reserve(email); !ok {
			return refuse(wait)
		}
		undo = append(undo, func() { l.loginAccount.Release(email) })
	}
	return func() {
		for _, u := range undo {
			u()
		}
	}, nil
}

// allowMail applies the mail limits to a request that may send mail to
// email.
func (l limits) allowMail(client, email string) error {
	if client != "" {
		if ok, wait := l.mailClient.Take(client); !ok {
			return rateLimited(wait)
		}
	}
	if ok, wait := l.mailAddress.Take(email); !ok {
		if client != "" {
			l.mailClient.Refund(client)
		}
		return rateLimited(wait)
	}
	return nil
}
