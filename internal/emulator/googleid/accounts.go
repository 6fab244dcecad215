package googleid

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strings"
)

// keyFile is Google's service-account key file, field for field as
// `gcloud iam service-accounts keys create` writes it.
type keyFile struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
	UniverseDomain          string `json:"universe_domain"`
}

// checkEmail accepts what can be a service account's e-mail address: one
// '@', nothing that would need escaping in a URL path segment.
func checkEmail(email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(email) > 254 {
		return fmt.Errorf("service account e-mail %q: want name@project.iam.gserviceaccount.com", email)
	}
	for _, c := range email {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@.-_+", c)) {
			return fmt.Errorf("service account e-mail %q: only letters, digits and @.-_+ are allowed", email)
		}
	}
	return nil
}

// ServiceAccountKey returns a key file for the service account email whose
// token_uri is this stand-in's token endpoint, so that the seller uses it
// unchanged with google.CredentialsFromJSON or option.WithAuthCredentialsJSON.
// The first call makes the key and remembers it (in the data folder when
// there is one); later calls return the same file until the key is revoked.
func (s *Server) ServiceAccountKey(email string) ([]byte, error) {
	if err := checkEmail(email); err != nil {
		return nil, err
	}
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	var key *saKey
	for _, a := range st.accounts {
		if a.Email == email && !a.Revoked {
			key = a
		}
	}
	if key == nil {
		k, err := newSigningKey(st.random, email, s.now())
		if err != nil {
			return nil, fmt.Errorf("service account key for %s: %w", email, err)
		}
		kp, err := k.keyPEM()
		if err != nil {
			return nil, fmt.Errorf("service account key for %s: %w", email, err)
		}
		key = &saKey{Email: email, KeyID: k.kid, ClientID: numericID(email), ProjectID: projectOf(email),
			Key: kp, Cert: k.certPEM(), CreatedAt: s.now().UTC(), signing: k}
		st.accounts = append(st.accounts, key)
		if err := st.save(); err != nil {
			st.accounts = st.accounts[:len(st.accounts)-1]
			return nil, fmt.Errorf("service account key for %s: %w", email, err)
		}
		s.log.Info("google service account key issued", "email", email, "key_id", key.KeyID)
	}
	return json.MarshalIndent(keyFile{
		Type:                    "service_account",
		ProjectID:               key.ProjectID,
		PrivateKeyID:            key.KeyID,
		PrivateKey:              key.Key,
		ClientEmail:             key.Email,
		ClientID:                key.ClientID,
		AuthURI:                 s.base + "o/oauth2/auth",
		TokenURI:                s.TokenURL(),
		AuthProviderX509CertURL: s.base + "oauth2/v1/certs",
		ClientX509CertURL:       s.base + "robot/v1/metadata/x509/" + url.PathEscape(key.Email),
		UniverseDomain:          "googleapis.com",
	}, "", "  ")
}

// RevokeServiceAccountKey deletes an issued key, as deleting it in the
// console does: assertions it signs are refused from then on (access tokens
// already issued live out their hour, as Google's do). It reports whether
// there was such a key.
func (s *Server) RevokeServiceAccountKey(keyID string) (bool, error) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, a := range st.accounts {
		if a.KeyID == keyID && !a.Revoked {
			a.Revoked = true
			if err := st.save(); err != nil {
				a.Revoked = false
				return false, fmt.Errorf("revoke service account key %s: %w", keyID, err)
			}
			return true, nil
		}
	}
	return false, nil
}

// accountKey finds a live issued key by its id.
func (st *state) accountKey(keyID string) (*saKey, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	for _, a := range st.accounts {
		if a.KeyID == keyID && !a.Revoked {
			return a, true
		}
	}
	return nil, false
}

// accountKeys are the live keys of email.
func (st *state) accountKeys(email string) []*signingKey {
	st.mu.RLock()
	defer st.mu.RUnlock()
	var out []*signingKey
	for _, a := range st.accounts {
		if a.Email == email && !a.Revoked {
			out = append(out, a.signing)
		}
	}
	return out
}

// numericID is a stable 21-digit id for an e-mail address, the shape of a
// service account's unique id (client_id, and sub/azp of its ID tokens).
func numericID(email string) string {
	sum := sha256.Sum256([]byte("google-sa\x00" + email))
	n := new(big.Int).SetBytes(sum[:12])
	n.Mod(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	return fmt.Sprintf("1%020d", n)
}

// projectOf is the project of name@project.iam.gserviceaccount.com, or
// "emulator" for other addresses.
func projectOf(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	if p, ok := strings.CutSuffix(domain, ".iam.gserviceaccount.com"); ok && p != "" {
		return p
	}
	return "emulator"
}
