package config

import (
	"strings"
	"testing"
)

func TestOIDC_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    OIDC
		want string // in the error; "" for none
	}{
		{"off", OIDC{LocalAccounts: true}, ""},
		{"https issuer", OIDC{Issuer: "https://idp.example.com", ClientID: "mb", LocalAccounts: true}, ""},
		{"loopback http", OIDC{Issuer: "http://127.0.0.1:9000", ClientID: "mb"}, ""},
		{"plain http elsewhere", OIDC{Issuer: "http://idp.example.com", ClientID: "mb", LocalAccounts: true}, "--oidc-issuer"},
		{"not a URL", OIDC{Issuer: "idp.example.com", ClientID: "mb", LocalAccounts: true}, "--oidc-issuer"},
		{"no client id", OIDC{Issuer: "https://idp.example.com", LocalAccounts: true}, "--oidc-client-id: required"},
		{"client without issuer", OIDC{ClientID: "mb", LocalAccounts: true}, "set --oidc-issuer too"},
		{"nobody could log in", OIDC{LocalAccounts: false}, "--local-accounts=false"},
		{"trusted addresses of no provider", OIDC{TrustEmail: true, LocalAccounts: true}, "--oidc-trust-email"},
		{"trusted addresses", OIDC{Issuer: "https://login.microsoftonline.com/tid/v2.0", ClientID: "mb", TrustEmail: true}, ""},
	} {
		err := tc.o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}
