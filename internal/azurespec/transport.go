package azurespec

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// Transport returns a RoundTripper that passes every request on to next and
// checks those for the marketplace APIs (paths with an /api segment; what
// follows the first such segment is matched against the documents' paths) and their answers against the documents, calling report with
// a *Mismatch for each difference: the request, then the response. A request
// for a path or method the documents do not declare is reported once, and
// its answer is not checked. report is called from the goroutine that
// called RoundTrip, so it must be safe for concurrent use when the client
// is. Neither the request nor the response is changed, though both bodies
// are read in full. A nil next means http.DefaultTransport.
func (c *Checker) Transport(next http.RoundTripper, report func(error)) http.RoundTripper {
	if report == nil {
		panic("azurespec: Transport needs a report function")
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{checker: c, next: next, report: report}
}

type transport struct {
	checker *Checker
	next    http.RoundTripper
	report  func(error)
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, ok := apiPath(r.URL.Path); !ok {
		return t.next.RoundTrip(r)
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		// A RoundTripper must not change the request it was given, so
		// the body goes on in a copy.
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if err := t.checker.CheckRequest(r, body); err != nil {
		t.report(err)
		var m *Mismatch
		if errors.As(err, &m) && m.Part == "route" {
			return t.next.RoundTrip(r)
		}
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	data, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if readErr != nil {
		// A broken answer (the connection dropped mid-body, as the
		// emulator's faults do) is the network's doing, not a contract
		// breach: hand the caller what arrived, then the same error.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), errReader{readErr}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if err := t.checker.CheckResponse(r, resp.StatusCode, resp.Header, data); err != nil {
		t.report(err)
	}
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
