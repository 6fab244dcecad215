package web

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// FuzzCursor: parseCursor takes any string without panicking; what it
// accepts is a cursor encodeCursor makes for the same position, and every
// cursor encodeCursor makes parses back.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{encodeCursor(0), encodeCursor(1), encodeCursor(1<<63 - 1), "", "bzE6LTE", "bzE6MDE", "!!", "bzE6", "=", "o1:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		after, err := parseCursor(c)
		if err != nil {
			if fault.Fields(err)["cursor"] == "" {
				t.Fatalf("parseCursor(%q) = %v, want a cursor field error", c, err)
			}
			return
		}
		if after < 0 {
			t.Fatalf("parseCursor(%q) = %d", c, after)
		}
		if back, err := parseCursor(encodeCursor(after)); err != nil || back != after {
			t.Fatalf("round trip of %d = %d, %v", after, back, err)
		}
	})
}

// FuzzListQuery: any query string of GET /api/v1/organizations is either
// refused with field errors or read into a page size within bounds.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=3", "limit=0&billing_state=gone&cursor=!!", "external_id=t-1", "cursor=" + encodeCursor(9) + "&limit=200",
		"limit=201", "limit=-1", "limit=9999999999999999999", "billing_state=active&billing_state=grace", "external_id=", "external_id=a%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseListQuery(q)
		if err != nil {
			if len(fault.Fields(err)) == 0 {
				t.Fatalf("parseListQuery(%q) = %v, want field errors", raw, err)
			}
			return
		}
		if lq.Limit < 1 || lq.Limit > maxOrgPage || lq.After < 0 {
			t.Fatalf("parseListQuery(%q) = %+v", raw, lq)
		}
	})
}

// FuzzVendorBodies: decodeBody reads any bytes without panicking, and
// refuses what is not one JSON object of the request's fields with a field
// error naming the body.
func FuzzVendorBodies(f *testing.F) {
	for _, s := range []string{`{"external_id":"t-1","name":"Acme","admin_email":"a@example.com"}`, `{"email":"b@example.com","role":"admin"}`,
		`{"role":"billing"}`, `{"external_id":"t-2"}`, `{}`, `[]`, `null`, `{"external_id":1}`, `{"a":1}`, `{} {}`, `{"name":"\u0000"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&createOrgRequest{}, &addMemberRequest{}, &roleRequest{}, &externalIDRequest{}} {
			if err := decodeBody(bytesReader(body), v); err != nil && fault.Fields(err)["body"] == "" {
				t.Fatalf("decodeBody(%q) = %v, want a body field error", body, err)
			}
		}
		if in, err := decodeCreateOrg(bytesReader(body)); err == nil {
			// Whatever decodes is then validated field by field, never
			// with a panic.
			_ = in.Validate()
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
