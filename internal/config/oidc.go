package config

import (
	"errors"
	"flag"
	"fmt"

	"github.com/marketbridge/marketbridge/internal/oidc"
)

// OIDC configures sign-in through the vendor's OpenID Connect provider
// (#12), and whether marketbridge's own accounts (register, password
// log-in, reset) stay on beside it.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       string
	Name         string
	// LocalAccounts keeps registration, password log-in and reset; false
	// leaves sign-in through the provider only.
	LocalAccounts bool
	// TrustEmail takes the provider's addresses as verified (see
	// oidc.Config.TrustEmail).
	TrustEmail bool
}

// Bind declares the sign-in flags on fs.
func (o *OIDC) Bind(fs *flag.FlagSet) {
	fs.StringVar(&o.Issuer, "oidc-issuer", "", "the vendor's OpenID Connect issuer URL (https; http on loopback only); empty turns sign-in through a provider off. "+
		"Register BASE-URL"+oidc.CallbackPath+" as the client's redirect URI and BASE-URL/login as its post-logout redirect URI")
	fs.StringVar(&o.ClientID, "oidc-client-id", "", "the OAuth client id marketbridge has at the provider (required with --oidc-issuer)")
	fs.StringVar(&o.ClientSecret, "oidc-client-secret", "", "the client's secret; empty for a public client (PKCE is always used)")
	fs.StringVar(&o.Scopes, "oidc-scopes", oidc.DefaultScopes, "the scopes asked for, space-separated (openid is always asked for)")
	fs.StringVar(&o.Name, "oidc-name", "single sign-on", `the provider's name on the log-in button: "Log in with NAME"`)
	fs.BoolVar(&o.TrustEmail, "oidc-trust-email", false, "take every e-mail address the provider gives as verified, for a provider that never says email_verified "+
		"(Microsoft Entra ID) and whose addresses only the vendor's administrators assign; never for a provider where people choose their address")
	fs.BoolVar(&o.LocalAccounts, "local-accounts", true, "offer marketbridge's own accounts (register, password log-in, reset); false leaves sign-in through --oidc-issuer only")
}

// Enabled says whether sign-in through a provider is on.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Validate reports every inconsistent setting at once.
func (o OIDC) Validate() error {
	var errs []error
	if o.Enabled() {
		if err := oidc.CheckIssuer(o.Issuer); err != nil {
			errs = append(errs, fmt.Errorf("--oidc-issuer: %w", err))
		}
		if o.ClientID == "" {
			errs = append(errs, errors.New("--oidc-client-id: required with --oidc-issuer"))
		}
		if len(oidc.SplitScopes(o.Scopes)) == 0 {
			errs = append(errs, errors.New("--oidc-scopes: empty"))
		}
	} else if o.ClientID != "" || o.ClientSecret != "" || o.TrustEmail {
		errs = append(errs, errors.New("--oidc-client-id, --oidc-client-secret, --oidc-trust-email: set --oidc-issuer too"))
	}
	if !o.LocalAccounts && !o.Enabled() {
		errs = append(errs, errors.New("--local-accounts=false: nobody could log in; set --oidc-issuer"))
	}
	return errors.Join(errs...)
}
