package servicecontrol

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkReport is one hourly operation per request through the handler
// (no network), each a new operationId, into an in-memory ledger and into
// a file (synchronous=FULL): what the emulator spends per seller report.
func BenchmarkReport(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkReport(b, ":memory:") })
	b.Run("file", func(b *testing.B) { benchmarkReport(b, filepath.Join(b.TempDir(), "ledger.db")) })
}

func benchmarkReport(b *testing.B, path string) {
	s, err := New(b.Context(), Config{Services: map[string]ServiceConfig{testService: {}}, Authorize: staticAuthorizer,
		Consumers: demoConsumers(), LedgerPath: path}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	i := 0
	for b.Loop() {
		i++
		start := hour0.Add(-time.Duration(i) * time.Hour)
		body := fmt.Sprintf(`{"operations":[{"operationId":"op-%d","consumerId":%q,"startTime":%q,"endTime":%q,"metricValueSets":[{"metricName":%q,"metricValues":[{"int64Value":"5"}]}]}]}`,
			i, consumerA, start.Format("2006-01-02T15:04:05Z"), start.Add(time.Hour).Format("2006-01-02T15:04:05Z"), testMetric)
		r := httptest.NewRequest(http.MethodPost, "/v1/services/"+testService+":report", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+goodToken)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 200 || strings.Contains(w.Body.String(), "reportErrors") {
			b.Fatalf("%d %s", w.Code, w.Body.String())
		}
	}
}
