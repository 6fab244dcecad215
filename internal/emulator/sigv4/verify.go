package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
)

// Error codes returned by Verify, as AWS spells them.
const (
	CodeMissingToken      = "MissingAuthenticationTokenException"
	CodeIncomplete        = "IncompleteSignatureException"
	CodeUnrecognized      = "UnrecognizedClientException"
	CodeInvalidSignature  = "InvalidSignatureException"
	messageMismatch       = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	messageUnrecognized   = "The security token included in the request is invalid."
	messageMissingToken   = "Missing Authentication Token"
	defaultMaxClockSkewed = 15 * time.Minute
)

// Error is a refused signature: Code is the AWS error type, Message what AWS
// says. AWS JSON services answer all of them with HTTP 400.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Verifier checks requests signed for one service.
type Verifier struct {
	// Service is the signing name the credential scope must carry.
	Service string
	// Secret returns the secret access key of an access key id.
	Secret func(accessKeyID string) (secret string, ok bool)
	// Now is real time: clients sign with their wall clock, never with the
	// emulator's shifted clock.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now (15 minutes when zero).
	MaxSkew time.Duration
}

// Credential is what a verified request was signed with.
type Credential struct {
	AccessKeyID string
	Region      string
}

// Verify checks the Authorization header of r against body, which the caller
// has already read from r.Body.
func (v *Verifier) Verify(r *http.Request, body []byte) (Credential, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return Credential{}, &Error{CodeMissingToken, messageMissingToken}
	}
	parsed, err := parseAuthorization(auth)
	if err != nil {
		return Credential{}, err
	}
	secret, ok := v.Secret(parsed.accessKeyID)
	if !ok {
		return Credential{}, &Error{CodeUnrecognized, messageUnrecognized}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return Credential{}, &Error{CodeIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + auth}
	}
	signedAt, err := time.Parse(timeFormat, amzDate)
	if err != nil {
		return Credential{}, &Error{CodeIncomplete, fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'.", amzDate)}
	}
	if parsed.date != signedAt.Format(dateFormat) {
		return Credential{}, &Error{CodeInvalidSignature, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", parsed.date, signedAt.Format(dateFormat), amzDate)}
	}
	if parsed.service != v.Service {
		return Credential{}, &Error{CodeInvalidSignature, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", v.Service)}
	}
	if err := v.checkSkew(signedAt); err != nil {
		return Credential{}, err
	}
	if !contains(parsed.signedHeaders, "host") {
		return Credential{}, &Error{CodeInvalidSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization."}
	}
	payloadHash := hashHex(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != "UNSIGNED-PAYLOAD" {
		if h != payloadHash {
			return Credential{}, &Error{CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed."}
		}
	} else if h == "UNSIGNED-PAYLOAD" {
		payloadHash = h
	}
	canonical := CanonicalRequest(r, parsed.signedHeaders, payloadHash)
	scope := strings.Join([]string{parsed.date, parsed.region, parsed.service, "aws4_request"}, "/")
	toSign := strings.Join([]string{algorithm, amzDate, scope, hashHex([]byte(canonical))}, "\n")
	want := hex.EncodeToString(hmacSHA256(SigningKey(secret, parsed.date, parsed.region, parsed.service), []byte(toSign)))
	if !hmac.Equal([]byte(want), []byte(parsed.signature)) {
		return Credential{}, &Error{CodeInvalidSignature, messageMismatch}
	}
	return Credential{AccessKeyID: parsed.accessKeyID, Region: parsed.region}, nil
}

func (v *Verifier) checkSkew(signedAt time.Time) error {
	skew := v.MaxSkew
	if skew == 0 {
		skew = defaultMaxClockSkewed
	}
	now := v.Now().UTC()
	mins := strconv.Itoa(int(skew / time.Minute))
	if signedAt.Before(now.Add(-skew)) {
		return &Error{CodeInvalidSignature, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s min.)",
			signedAt.Format(timeFormat), now.Add(-skew).Format(timeFormat), now.Format(timeFormat), mins)}
	}
	if signedAt.After(now.Add(skew)) {
		return &Error{CodeInvalidSignature, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s min.)",
			signedAt.Format(timeFormat), now.Add(skew).Format(timeFormat), now.Format(timeFormat), mins)}
	}
	return nil
}

type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
}

func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, &Error{CodeIncomplete, "Authorization header requires 'AWS4-HMAC-SHA256' algorithm. Authorization=" + h}
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		if found {
			params[k] = val
		}
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if params[k] == "" {
			return a, &Error{CodeIncomplete, fmt.Sprintf("Authorization header requires '%s' parameter. Authorization=%s", k, h)}
		}
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return a, &Error{CodeIncomplete, "Credential should be scoped to a valid region, service and aws4_request terminator. Credential=" + params["Credential"]}
	}
	a.accessKeyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	a.signedHeaders = strings.Split(params["SignedHeaders"], ";")
	a.signature = params["Signature"]
	return a, nil
}

// CanonicalRequest builds step 1 of the algorithm for the headers the client
// said it signed.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// headerValue returns the canonical value of a header, with the headers Go's
// server moves out of r.Header (Host, Content-Length) put back.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	values := r.Header.Values(name)
	trimmed := make([]string, len(values))
	for i, v := range values {
		trimmed[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(trimmed, ",")
}

// canonicalURI encodes each path segment once more, as SigV4 does for every
// service but S3.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segments := strings.Split(p, "/")
	for i, s := range segments {
		segments[i] = uriEncode(s)
	}
	return strings.Join(segments, "/")
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

// uriEncode is RFC 3986 percent-encoding of everything but unreserved characters.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// SigningKey derives the key for one day, region and service.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
