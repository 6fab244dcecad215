package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIDocument describes every /api/v1 endpoint and every webhook
// (OpenAPI 3.1). The tests check each API response they see against it,
// and each /api/v1 route of routes.go is in it, so that it cannot drift.
//
//go:embed openapi.json
var openAPIDocument []byte

// handleOpenAPI serves the document to anyone: it describes the API, it
// reveals nothing of any organization.
func handleOpenAPI() http.Handler {
	sum := sha256.Sum256(openAPIDocument)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(openAPIDocument))
	})
}
