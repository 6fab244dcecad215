package api

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/marketbridge/marketbridge/internal/azurespec"
)

// The statuses the emulator answers that Microsoft's documents do not list,
// on purpose: 400 for a missing or other api-version (documented in prose,
// §3.1), 400 for a continuation token the API never issued, 429 from the
// throttle (§5.5), 500 for an injected fault on the Metering API.
var undocumented = map[int]bool{http.StatusBadRequest: true, http.StatusTooManyRequests: true, http.StatusInternalServerError: true}

// specChecker checks every answer the tests receive against Microsoft's
// published OpenAPI documents (package azurespec): the operation must
// exist, and a documented status's body must match its schema. The
// requests are not checked: the tests send bad ones on purpose. The
// documents are Microsoft's and not in this repository; without them
// (azurespec.Locate) the answers go unchecked and the test says so.
type specChecker struct {
	base http.RoundTripper
	c    *azurespec.Checker // nil without the documents
	mu   sync.Mutex
	errs []error
}

func newSpecChecker(t *testing.T, transport http.RoundTripper, _ string) *specChecker {
	t.Helper()
	sc := &specChecker{base: transport}
	dir, err := azurespec.Locate()
	if err != nil {
		t.Logf("answers not checked against Microsoft's OpenAPI documents: %v", err)
		return sc
	}
	if sc.c, err = azurespec.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	return sc
}

func (sc *specChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	if sc.c == nil {
		return sc.base.RoundTrip(req)
	}
	return sc.c.Transport(sc.base, sc.keep).RoundTrip(req)
}

// keep records a mismatch of an answer, but not of a request (sent bad on
// purpose) nor an undocumented status the emulator gives on purpose.
func (sc *specChecker) keep(err error) {
	var m *azurespec.Mismatch
	if errors.As(err, &m) && (m.Part == "request" || (m.Part == "response" && undocumented[m.Status] && m.Operation != "" && isUndeclaredStatus(m))) {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.errs = append(sc.errs, err)
}

// isUndeclaredStatus tells a status the documents do not declare from a
// body that breaks a declared one.
func isUndeclaredStatus(m *azurespec.Mismatch) bool {
	return errors.Is(m, azurespec.ErrUndeclaredStatus)
}

// report fails the test with every answer that differed from the documents.
func (sc *specChecker) report(t *testing.T) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, err := range sc.errs {
		t.Errorf("against Microsoft's OpenAPI: %v", err)
	}
}
