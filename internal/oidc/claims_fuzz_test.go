package oidc

import (
	"encoding/json"
	"testing"
)

// FuzzClaims reads an ID token's or userinfo's claims as the provider sent
// them (already signed, yet still outside input): any JSON value of any
// claim either fails to decode or decodes, and email_verified is true only
// for true or a string ParseBool reads as true.
func FuzzClaims(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com","email_verified":true,"name":"A"}`,
		`{"email_verified":"true"}`, `{"email_verified":"TRUE"}`, `{"email_verified":"1"}`,
		`{"email_verified":"yes"}`, `{"email_verified":1}`, `{"email_verified":null}`, `{"email_verified":{"a":1}}`,
		`{"given_name":"  ","family_name":"B"}`, `{"email":3}`, `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c claims
		if err := json.Unmarshal(data, &c); err != nil {
			return
		}
		if c.EmailVerified {
			var raw struct {
				V any `json:"email_verified"`
			}
			if json.Unmarshal(data, &raw) != nil {
				return
			}
			switch v := raw.V.(type) {
			case bool:
				if !v {
					t.Fatalf("email_verified false read as true: %s", data)
				}
			case string:
			default:
				t.Fatalf("email_verified %T read as true: %s", raw.V, data)
			}
		}
		_ = c.name()
	})
}
