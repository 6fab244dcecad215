package servicecontrol

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var reportSeeds = []string{
	`{"operations":[{"operationId":"op-1","consumerId":"project_number:1","startTime":"2026-12-01T10:00:00Z","endTime":"2026-12-01T11:00:00Z","metricValueSets":[{"metricName":"m","metricValues":[{"int64Value":"5"}]}]}]}`,
	`{"operations":[{"operationId":"op-1","consumerId":"c","startTime":"2026-12-01T10:00:00+01:00","endTime":"2026-12-01T11:00:00.5Z","metricValueSets":[{"metricName":"m","metricValues":[{"int64Value":"5","labels":{"a":"b"}},{"int64Value":"6"}]}],"userLabels":{"k":"v"}}]}`,
	`{"operations":[{"operationId":"x","consumerId":"c","startTime":"2026-12-01T10:00:00Z","endTime":"2026-12-01T11:00:00Z","metricValueSets":[{"metricName":"m","metricValues":[{"doubleValue":1.5,"startTime":"2026-12-01T10:30:00Z"}]}]}]}`,
	`{"operations":[{"int64Value":5}]}`,
	`{"operation":{"consumerId":"c"}}`,
	`[]`,
}

// FuzzDecodeReport: any body either fails with a 400 INVALID_ARGUMENT or
// yields operations that hold what report relies on.
func FuzzDecodeReport(f *testing.F) {
	for _, s := range reportSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, e := decodeReport(body)
		if e != nil {
			if e.status != http.StatusBadRequest || e.code != "INVALID_ARGUMENT" || e.message == "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if len(ops) == 0 {
			t.Fatal("no operations and no error")
		}
		for _, op := range ops {
			if op.ID == "" || op.ConsumerID == "" || !op.Start.Before(op.End) {
				t.Fatalf("operation %+v", op)
			}
			for _, set := range op.Sets {
				for _, v := range set.Values {
					if v.Kind == "" || !v.Start.Before(v.End) {
						t.Fatalf("value %+v", v)
					}
				}
			}
			_ = digestOf(op)
		}
	})
}

// FuzzDecodeCheck: the same for check requests, whose times are optional.
func FuzzDecodeCheck(f *testing.F) {
	for _, s := range reportSeeds {
		f.Add([]byte(strings.Replace(strings.Replace(s, `"operations":[`, `"operation":`, 1), "}]}", "}}", 1)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		op, e := decodeCheck(body)
		if e != nil {
			if e.status != http.StatusBadRequest || e.message == "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if op.ConsumerID == "" || (!op.Start.IsZero() && !op.End.IsZero() && !op.Start.Before(op.End)) {
			t.Fatalf("operation %+v", op)
		}
	})
}

// FuzzRoutes: arbitrary paths and bodies through the handler never panic
// and always answer JSON with a status the client understands.
func FuzzRoutes(f *testing.F) {
	f.Add("/v1/services/"+testService+":report", reportSeeds[0])
	f.Add("/v1/services/"+testService+":check", `{"operation":{"consumerId":"project_number:123456789012"}}`)
	f.Add("/v1/services/a:b:c", "{}")
	f.Add("/v1/services/:report", "")
	s, err := New(f.Context(), Config{Services: map[string]ServiceConfig{testService: {}}, Authorize: staticAuthorizer,
		Consumers: demoConsumers(), LedgerPath: ":memory:"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t?#%") {
			return
		}
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a server would receive
		}
		r.Header.Set("Authorization", "Bearer "+goodToken)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if ct := w.Header().Get("Content-Type"); w.Code != http.StatusMovedPermanently && w.Code != http.StatusTemporaryRedirect && !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s: %d %q", path, w.Code, ct)
		}
	})
}
