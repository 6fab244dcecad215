package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	coreoidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// DefaultScopes are asked for unless the vendor says otherwise: openid for
// the ID token, email and profile for the address and name a first sign-in
// creates the user with.
const DefaultScopes = "openid email profile"

// CallbackPath is where the provider sends the browser back; the vendor
// registers BaseURL + CallbackPath as the client's redirect URI.
const CallbackPath = "/login/oidc/callback"

// Config is the relying party's settings.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string // "openid" is added when missing
	RedirectURL  string   // BaseURL + CallbackPath
	// HTTPClient talks to the provider; nil is a client with a timeout.
	HTTPClient *http.Client
	// Now is the time ID tokens' exp and iat are checked against: real
	// time, whatever the demo's marketplace clock says. nil is time.Now.
	Now func() time.Time
	// TrustEmail takes every address the provider gives as verified, for
	// a provider that never says email_verified but whose addresses the
	// vendor's own administrators assign (a single-tenant Microsoft Entra
	// ID directory). Never for a provider where people choose their
	// address: an unverified address would then take a new account's name.
	TrustEmail bool
}

// Validate reports every missing or malformed setting.
func (c Config) Validate() error {
	var errs []error
	if err := CheckIssuer(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("oidc: ClientID is required"))
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("oidc: RedirectURL %q is not an http(s) URL", c.RedirectURL))
	}
	return errors.Join(errs...)
}

// CheckIssuer accepts an http(s) URL, and plain http only on a loopback
// host (a provider on the same machine, as in tests): ID tokens and the
// client secret must not cross a network in the clear.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an http(s) URL", issuer)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("issuer %q: use https (plain http is allowed on a loopback address only)", issuer)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SplitScopes reads a space- or comma-separated scope list, adding openid
// when it is missing.
func SplitScopes(s string) []string {
	scopes := []string{coreoidc.ScopeOpenID}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		if f != coreoidc.ScopeOpenID {
			scopes = append(scopes, f)
		}
	}
	return scopes
}

// RelyingParty signs people in through one provider. Discovery happens on
// first use and is retried until it succeeds, so that a provider briefly
// down when marketbridge starts costs sign-ins, not the start.
type RelyingParty struct {
	cfg    Config
	client *http.Client

	mu         sync.Mutex
	discovered *discovered
}

type discovered struct {
	provider   *coreoidc.Provider
	verifier   *coreoidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string
}

// New returns a relying party; it contacts the provider on first use.
func New(cfg Config) (*RelyingParty, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Scopes = SplitScopes(strings.Join(cfg.Scopes, " "))
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &RelyingParty{cfg: cfg, client: client}, nil
}

// ErrUnavailable is what a person sees when the provider cannot be reached.
var ErrUnavailable = fault.New(fault.KindUnavailable, "The sign-in service cannot be reached right now. Please try again in a minute.")

// ErrRejected is a callback that did not prove who the person is: an error
// from the provider, a code it refused, or an ID token that failed
// verification. The cause is logged, never shown.
var ErrRejected = fault.New(fault.KindUnauthenticated, "The sign-in could not be completed. Please try again.")

func (rp *RelyingParty) discover(ctx context.Context) (*discovered, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.discovered != nil {
		return rp.discovered, nil
	}
	// The provider keeps this context to fetch keys later: only its HTTP
	// client matters, not the request's deadline.
	pctx := coreoidc.ClientContext(context.WithoutCancel(ctx), rp.client)
	p, err := coreoidc.NewProvider(pctx, rp.cfg.Issuer)
	if err != nil {
		return nil, fault.Wrap(fault.KindUnavailable, fmt.Errorf("oidc discovery at %s: %w", rp.cfg.Issuer, err), fault.Message(ErrUnavailable))
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, fault.Wrap(fault.KindUnavailable, fmt.Errorf("oidc discovery at %s: %w", rp.cfg.Issuer, err), fault.Message(ErrUnavailable))
	}
	d := &discovered{
		provider: p,
		verifier: p.VerifierContext(pctx, &coreoidc.Config{ClientID: rp.cfg.ClientID, Now: rp.cfg.Now}),
		oauth: oauth2.Config{ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: rp.cfg.RedirectURL, Scopes: rp.cfg.Scopes},
		endSession: providerEndSession(rp.cfg.Issuer, p.Endpoint().AuthURL, extra.EndSession),
	}
	rp.discovered = d
	return d, nil
}

// Start is one sign-in's secrets: State and Nonce go through the browser,
// Verifier (PKCE) stays with marketbridge until the code is exchanged.
type Start struct {
	State, Nonce, Verifier string
}

// AuthURL is the provider's authorization endpoint for st, with the PKCE
// challenge (S256) and the nonce.
func (rp *RelyingParty) AuthURL(ctx context.Context, st Start) (string, error) {
	d, err := rp.discover(ctx)
	if err != nil {
		return "", err
	}
	return d.oauth.AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), coreoidc.Nonce(st.Nonce)), nil
}

// Identity is who a verified ID token says the person is.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// IDToken is the raw token, kept with the session for RP-initiated
	// log-out (id_token_hint).
	IDToken string
}

// Exchange trades a callback's code for tokens and verifies the ID token:
// its signature against the provider's published keys, iss, aud, exp, and
// that its nonce is the one this sign-in started with. The e-mail address
// and name come from the ID token, or from the userinfo endpoint when the
// token does not carry them (providers differ).
func (rp *RelyingParty) Exchange(ctx context.Context, code, verifier string, nonceOK func(nonce string) bool) (Identity, error) {
	d, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, rp.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, rejected("exchange code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, rejected("token response has no id_token")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, rejected("verify id token: %w", err)
	}
	if idt.Nonce == "" || !nonceOK(idt.Nonce) {
		return Identity{}, rejected("id token nonce does not match the sign-in's")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, rejected("verify at_hash: %w", err)
		}
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, rejected("read id token claims: %w", err)
	}
	// A token for several audiences is for the party its azp names, and
	// an azp names this client or the token is another's (OpenID Connect
	// Core 3.1.3.7): go-oidc checks only that aud includes this client.
	if (len(idt.Audience) > 1 || c.AuthorizedParty != "") && c.AuthorizedParty != rp.cfg.ClientID {
		return Identity{}, rejected("id token for audiences %q, authorized party %q, not this client", idt.Audience, c.AuthorizedParty)
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: c.Email, EmailVerified: bool(c.EmailVerified), Name: c.name(), IDToken: raw}
	if id.Email == "" || id.Name == "" {
		if err := rp.fillFromUserInfo(ctx, d, tok, &id); err != nil {
			return Identity{}, err
		}
	}
	if rp.cfg.TrustEmail && id.Email != "" {
		id.EmailVerified = true
	}
	return id, nil
}

// fillFromUserInfo completes the address and name from the userinfo
// endpoint, which answers for the same subject or not at all.
func (rp *RelyingParty) fillFromUserInfo(ctx context.Context, d *discovered, tok *oauth2.Token, id *Identity) error {
	if d.provider.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return rejected("userinfo: %w", err)
	}
	if ui.Subject != id.Subject {
		return rejected("userinfo is about subject %q, the id token about %q", ui.Subject, id.Subject)
	}
	var c claims
	if err := ui.Claims(&c); err != nil {
		return rejected("read userinfo claims: %w", err)
	}
	if id.Email == "" {
		id.Email, id.EmailVerified = c.Email, bool(c.EmailVerified)
	}
	if id.Name == "" {
		id.Name = c.name()
	}
	return nil
}

func rejected(format string, args ...any) error {
	return fault.Wrap(fault.KindUnauthenticated, fmt.Errorf("oidc: "+format, args...), fault.Message(ErrRejected))
}

// claims are the standard claims marketbridge reads.
type claims struct {
	AuthorizedParty   string    `json:"azp"`
	Email             string    `json:"email"`
	EmailVerified     looseBool `json:"email_verified"`
	Name              string    `json:"name"`
	GivenName         string    `json:"given_name"`
	FamilyName        string    `json:"family_name"`
	PreferredUsername string    `json:"preferred_username"`
}

func (c claims) name() string {
	if n := strings.TrimSpace(c.Name); n != "" {
		return n
	}
	return strings.TrimSpace(c.GivenName + " " + c.FamilyName)
}

// looseBool reads email_verified as a boolean or as the string "true",
// which some providers (Amazon Cognito, older Azure AD) send; anything else
// is false.
type looseBool bool

func (b *looseBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = looseBool(v)
	case string:
		t, _ := strconv.ParseBool(v)
		*b = looseBool(t)
	default:
		*b = false
	}
	return nil
}

// providerEndSession is the discovery document's end_session_endpoint if
// it belongs to the provider: on the issuer's host or the authorization
// endpoint's (where browsers already go), over https or loopback http as
// CheckIssuer asks of the issuer, without credentials. Log-out sends the
// ID token there (id_token_hint), so any other URL is ignored: the
// browser then logs out of marketbridge only.
func providerEndSession(issuer, authURL, endSession string) string {
	u, err := url.Parse(endSession)
	if endSession == "" || err != nil || u.User != nil || CheckIssuer(u.Scheme+"://"+u.Host) != nil {
		return ""
	}
	for _, own := range []string{issuer, authURL} {
		if o, err := url.Parse(own); err == nil && o.Scheme == u.Scheme && strings.EqualFold(o.Host, u.Host) {
			return endSession
		}
	}
	return ""
}

// LogoutURL is where to send a browser to end its session at the provider
// too (RP-initiated log-out), returning to postLogout; ok is false when the
// provider publishes no end_session_endpoint or is not reachable.
func (rp *RelyingParty) LogoutURL(ctx context.Context, idToken, postLogout string) (string, bool) {
	d, err := rp.discover(ctx)
	if err != nil || d.endSession == "" {
		return "", false
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return "", false
	}
	q := u.Query()
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	q.Set("client_id", rp.cfg.ClientID)
	q.Set("post_logout_redirect_uri", postLogout)
	u.RawQuery = q.Encode()
	return u.String(), true
}

// Issuer is the configured issuer, as identities are stored under.
func (rp *RelyingParty) Issuer() string { return rp.cfg.Issuer }

// NewStart makes one sign-in's state, nonce and PKCE verifier.
func NewStart(token func() string) Start {
	return Start{State: token(), Nonce: token(), Verifier: oauth2.GenerateVerifier()}
}

// Callback is what the provider sent back to CallbackPath.
type Callback struct {
	State string
	Code  string
	// Error and Description are the provider's refusal (access_denied when
	// the person cancelled), when there is one.
	Error, Description string
}

// ParseCallback reads a callback's query. It bounds what it accepts, since
// anyone can call the callback with anything.
func ParseCallback(rawQuery string) (Callback, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Callback{}, fault.Wrap(fault.KindInvalid, err, "This sign-in link is not valid. Please start again.")
	}
	c := Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"), Description: q.Get("error_description")}
	const max = 4096
	if len(c.State) > 256 || len(c.Code) > max || len(c.Error) > 256 || len(c.Description) > max {
		return Callback{}, fault.New(fault.KindInvalid, "This sign-in link is not valid. Please start again.")
	}
	if c.State == "" || (c.Code == "" && c.Error == "") {
		return Callback{}, fault.New(fault.KindInvalid, "This sign-in link is not valid. Please start again.")
	}
	return c, nil
}
