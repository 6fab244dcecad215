// Package secret makes the random tokens marketbridge hands out (session
// cookies, e-mail links, API keys) and the hashes it keeps of them.
//
// Tokens carry 256 bits of randomness, so a plain SHA-256 is the right hash:
// unlike passwords they cannot be guessed, and a fast hash lets a request be
// authenticated with one indexed lookup.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Token returns a new URL-safe random token.
func Token() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash is what is stored in place of a token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
