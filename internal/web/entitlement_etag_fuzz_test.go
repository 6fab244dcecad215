package web

import (
	"strings"
	"testing"
)

// FuzzETagMatches reads any If-None-Match header a client sends to the
// entitlement endpoint: it never panics, a header naming the ETag (weak or
// strong, among others) matches, and a header without it or "*" never does.
func FuzzETagMatches(f *testing.F) {
	const etag = `"abcDEF012_-"`
	for _, h := range []string{"", etag, "W/" + etag, `"x", ` + etag, "*", `"x"`, ",,,", `W/`, `"abcDEF012_-`, strings.Repeat(`"a",`, 100)} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := etagMatches(header, etag)
		named := false
		for part := range strings.SplitSeq(header, ",") {
			part = strings.TrimSpace(part)
			if part == "*" || part == etag || part == "W/"+etag {
				named = true
			}
		}
		if got != named {
			t.Fatalf("etagMatches(%q) = %v, want %v", header, got, named)
		}
	})
}
