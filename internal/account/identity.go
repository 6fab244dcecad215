package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/secret"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Sign-in through the vendor's OpenID Connect provider (#12). A person is
// known by (issuer, subject). The rules for who they are here:
//   - an identity seen before is its user, whatever address it now has;
//   - a new identity with an address the provider verified, that no account
//     holds, creates a user without a password, verified;
//   - an address the provider did not verify never attaches to an account
//     and never takes an address: the sign-in is refused;
//   - a verified address that an account already holds is not attached
//     either: its owner links the identity while logged in (LinkIdentity),
//     so that a user has both a password and an identity only by choice.

// SignInTTL is how long a sign-in may take at the provider.
const SignInTTL = 10 * time.Minute

// PendingSignIn is a sign-in on its way through the provider.
type PendingSignIn struct {
	State, Nonce, Verifier string
	Next                   string // a console path to return to
	// LinkUserID, when not 0, is the logged-in user who asked to link the
	// identity to their account.
	LinkUserID int64
}

// SaveSignIn keeps what the callback will need, keyed by the hash of the
// state, and forgets sign-ins that were never finished.
func (s *Service) SaveSignIn(ctx context.Context, p PendingSignIn) error {
	now := s.now()
	var link sql.NullInt64
	if p.LinkUserID != 0 {
		link = sql.NullInt64{Int64: p.LinkUserID, Valid: true}
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_sign_ins WHERE expires_at <= $1`, now); err != nil {
			return fmt.Errorf("forget stale sign-ins: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_sign_ins (state_hash, nonce_hash, verifier, next, link_user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, secret.Hash(p.State), secret.Hash(p.Nonce), p.Verifier, p.Next, link, now, now.Add(SignInTTL))
		if err != nil {
			return fmt.Errorf("save sign-in: %w", err)
		}
		return nil
	})
}

// ErrSignInExpired is a callback whose state is unknown, already used, or
// too old: the person starts again.
var ErrSignInExpired = fault.New(fault.KindInvalid, "This sign-in has expired or was already used. Please start again.")

// TakenSignIn is a pending sign-in the callback has spent.
type TakenSignIn struct {
	NonceHash  string
	Verifier   string
	Next       string
	LinkUserID int64
}

// NonceMatches says whether nonce is the one the sign-in started with.
func (t TakenSignIn) NonceMatches(nonce string) bool {
	return nonce != "" && secret.Hash(nonce) == t.NonceHash
}

// TakeSignIn spends the sign-in that state names: a state works once.
func (s *Service) TakeSignIn(ctx context.Context, state string) (TakenSignIn, error) {
	if state == "" {
		return TakenSignIn{}, ErrSignInExpired
	}
	var t TakenSignIn
	var link sql.NullInt64
	var expires time.Time
	err := s.db.Write().QueryRowContext(ctx, `DELETE FROM oidc_sign_ins WHERE state_hash = $1
		RETURNING nonce_hash, verifier, next, link_user_id, expires_at`, secret.Hash(state)).
		Scan(&t.NonceHash, &t.Verifier, &t.Next, &link, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return TakenSignIn{}, ErrSignInExpired
	case err != nil:
		return TakenSignIn{}, fmt.Errorf("take sign-in: %w", err)
	case !s.now().Before(expires):
		return TakenSignIn{}, ErrSignInExpired
	}
	t.LinkUserID = link.Int64
	return t, nil
}

// Identity is a verified identity at an OpenID provider.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	Name            string
}

func (id *Identity) normalize() {
	id.Email = NormalizeEmail(id.Email)
	if !cleanText(id.Email) {
		id.Email = "" // no address: an identity seen before signs in, a new one is refused
	}
	// The name is the person's own at the provider: keep what can be
	// shown and stored (PostgreSQL refuses NUL bytes and invalid UTF-8).
	id.Name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, id.Name)
	id.Name = strings.Join(strings.Fields(id.Name), " ")
	if len(id.Name) > 200 {
		id.Name = strings.ToValidUTF8(id.Name[:200], "")
	}
}

// cleanText says whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// ErrIdentityInvalid is an identity whose issuer or subject is no text we
// can keep: the provider is at fault, and the person cannot sign in.
var ErrIdentityInvalid = fault.New(fault.KindInvalid, "Your identity provider sent an identity that cannot be used here. Please contact the vendor's support.")

// valid says whether the identity's issuer and subject can be kept.
func (id Identity) valid() bool {
	return id.Issuer != "" && id.Subject != "" && cleanText(id.Issuer) && cleanText(id.Subject) && len(id.Subject) <= 255
}

// Sign-in outcomes a person may see.
var (
	// ErrIdentityEmailUnverified: the provider did not vouch for the
	// address, so it cannot be the key to an account here.
	ErrIdentityEmailUnverified = fault.New(fault.KindForbidden,
		"Your identity provider has not confirmed your e-mail address, so we cannot create or open an account with it. Confirm the address there, then try again.")
	// ErrIdentityEmailTaken: an account with a password holds the address.
	ErrIdentityEmailTaken = fault.New(fault.KindConflict,
		"An account with this e-mail address already exists. Log in with its password, then link this sign-in from your account page.")
	// ErrIdentityEmailTakenNoPassword: an account without a password,
	// which signs in through another identity (another issuer, or a
	// subject the provider has since changed), holds the address.
	ErrIdentityEmailTakenNoPassword = fault.New(fault.KindConflict,
		"An account with this e-mail address already exists, and signs in through another identity. Ask the vendor's support to move it to this one.")
	// ErrIdentityTaken: linking an identity that another user signs in with.
	ErrIdentityTaken = fault.New(fault.KindConflict, "This sign-in is already linked to another account.")
	// ErrIdentityLinkedElsewhere: the user already has another identity at
	// the same provider.
	ErrIdentityLinkedElsewhere = fault.New(fault.KindConflict, "Your account is already linked to another sign-in at this provider.")
)

// SignInWithIdentity returns the user an identity signs in as, creating it
// on a first sign-in (see the rules at the top of this file).
func (s *Service) SignInWithIdentity(ctx context.Context, id Identity) (User, error) {
	return s.signInWithIdentity(ctx, id, false)
}

func (s *Service) signInWithIdentity(ctx context.Context, id Identity, retried bool) (User, error) {
	id.normalize()
	if id.Issuer == "" || id.Subject == "" {
		return User{}, fmt.Errorf("sign in: identity without issuer or subject")
	}
	if !id.valid() {
		return User{}, ErrIdentityInvalid
	}
	var u User
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = s.userByIdentity(ctx, tx, id)
		if err == nil || !errors.Is(err, ErrUserNotFound) {
			return err
		}
		if !id.EmailVerified || !validEmail(id.Email) {
			return ErrIdentityEmailUnverified
		}
		name := id.Name
		if name == "" {
			name, _, _ = strings.Cut(id.Email, "@")
		}
		now := s.now()
		var userID int64
		err = tx.QueryRowContext(ctx, `INSERT INTO users (email, name, password_hash, email_verified_at, created_at) VALUES ($1, $2, '', $3, $3)
			ON CONFLICT (email) DO NOTHING RETURNING id`, id.Email, name, now).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			var hasPassword bool
			if err := tx.QueryRowContext(ctx, `SELECT password_hash <> '' FROM users WHERE email = $1`, id.Email).Scan(&hasPassword); err != nil {
				return fmt.Errorf("sign in: read the user with address: %w", err)
			}
			if !hasPassword {
				return ErrIdentityEmailTakenNoPassword
			}
			return ErrIdentityEmailTaken
		}
		if err != nil {
			return fmt.Errorf("sign in: create user: %w", err)
		}
		if err := s.insertIdentity(ctx, tx, userID, id); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if err != nil {
			return fmt.Errorf("sign in: read new user %d: %w", userID, err)
		}
		s.logger.InfoContext(ctx, "user created by sign-in", "user", userID, "issuer", id.Issuer)
		return nil
	})
	if store.IsUniqueViolation(err) && !retried {
		// The same identity's first sign-in in two tabs: the other won,
		// and the identity now names its user.
		return s.signInWithIdentity(ctx, id, true)
	}
	return u, err
}

// userByIdentity is the user an identity is linked to, whose last sign-in
// it records; ErrUserNotFound when it is new.
func (s *Service) userByIdentity(ctx context.Context, tx *sql.Tx, id Identity) (User, error) {
	var userID int64
	err := tx.QueryRowContext(ctx, `UPDATE user_identities SET last_login_at = $1, email = $2 WHERE issuer = $3 AND subject = $4 RETURNING user_id`,
		s.now(), id.Email, id.Issuer, id.Subject).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("sign in: read identity: %w", err)
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
	if err != nil {
		return User{}, fmt.Errorf("sign in: read user %d: %w", userID, err)
	}
	return u, nil
}

func (s *Service) insertIdentity(ctx context.Context, tx *sql.Tx, userID int64, id Identity) error {
	now := s.now()
	_, err := tx.ExecContext(ctx, `INSERT INTO user_identities (issuer, subject, user_id, email, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $5)`,
		id.Issuer, id.Subject, userID, id.Email, now)
	if err != nil {
		return fmt.Errorf("link identity to user %d: %w", userID, err)
	}
	return nil
}

// LinkIdentity attaches an identity to a logged-in user, who proved both
// (their session, and the round trip through the provider). An identity
// another user signs in with is refused; linking one already linked to
// this user changes nothing.
func (s *Service) LinkIdentity(ctx context.Context, userID int64, id Identity) error {
	id.normalize()
	if !id.valid() {
		return ErrIdentityInvalid
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var owner int64
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2`, id.Issuer, id.Subject).Scan(&owner)
		switch {
		case err == nil && owner == userID:
			return nil
		case err == nil:
			return ErrIdentityTaken
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("link identity: %w", err)
		}
		var other int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM user_identities WHERE issuer = $1 AND user_id = $2`, id.Issuer, userID).Scan(&other)
		if err == nil {
			return ErrIdentityLinkedElsewhere
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("link identity: %w", err)
		}
		return s.insertIdentity(ctx, tx, userID, id)
	})
	if store.IsUniqueViolation(err) {
		return ErrIdentityTaken
	}
	return err
}

// LinkedIdentity is an identity a user signs in with, for their account page.
type LinkedIdentity struct {
	Issuer, Email string
	LinkedAt      time.Time
	LastLoginAt   time.Time
}

// Identities lists the identities linked to a user.
func (s *Service) Identities(ctx context.Context, userID int64) ([]LinkedIdentity, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT issuer, email, created_at, last_login_at FROM user_identities WHERE user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []LinkedIdentity
	for rows.Next() {
		var li LinkedIdentity
		if err := rows.Scan(&li.Issuer, &li.Email, &li.LinkedAt, &li.LastLoginAt); err != nil {
			return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
		}
		out = append(out, li)
	}
	return out, rows.Err()
}

// HasPassword says whether a user can log in with a password: users
// created by a sign-in through a provider have none.
func (s *Service) HasPassword(ctx context.Context, userID int64) (bool, error) {
	var has bool
	err := s.db.Read().QueryRowContext(ctx, `SELECT password_hash <> '' FROM users WHERE id = $1`, userID).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("read user %d: %w", userID, err)
	}
	return has, nil
}
