package market

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	mixedAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits     = "0123456789"
)

// randomString draws n characters of alphabet from m.rand. Modulo bias is
// irrelevant for identifiers of an emulator.
func (m *Market) randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := m.rand.Read(b); err != nil {
		panic(fmt.Sprintf("emulator randomness failed: %v", err)) // crypto/rand does not fail
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (m *Market) randomHex(n int) string {
	b := make([]byte, n)
	if _, err := m.rand.Read(b); err != nil {
		panic(fmt.Sprintf("emulator randomness failed: %v", err))
	}
	return hex.EncodeToString(b)
}

// uuid returns a version-4 UUID, the shape of AWS request and message ids.
func (m *Market) uuid() string {
	b := make([]byte, 16)
	if _, err := m.rand.Read(b); err != nil {
		panic(fmt.Sprintf("emulator randomness failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// RequestID is an x-amzn-RequestId value.
func (m *Market) RequestID() string { return m.uuid() }

func (m *Market) newToken() string {
	b := make([]byte, 48)
	if _, err := m.rand.Read(b); err != nil {
		panic(fmt.Sprintf("emulator randomness failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
