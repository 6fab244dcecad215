package web_test

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// BenchmarkEntitlement measures GET /api/v1/organizations/{org}/entitlement
// through the whole server (web.New: routing, request ids, timeouts,
// security headers, metrics, the API key) over loopback HTTP, for a
// linked pay-as-you-go subscription and a contract with committed credits
// (one more read), answered in full (200) or, for a product that keeps the
// last answer, 304 from If-None-Match. One op is one request, from 16
// concurrent connections; see docs/performance.md for the figures. The
// billing endpoint is measured alongside, for comparison.
//
//	go test -run '^$' -bench Entitlement -benchtime 20000x ./internal/web/
func BenchmarkEntitlement(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(engine, func(b *testing.B) {
			a := newApp(b, storetest.Open(b, engine))
			_, agreement := a.subscribe(market.DemoPAYGCode)
			orgs := map[string][2]string{}
			for name, agreement := range map[string]string{"payg": agreement, "contract": a.acceptDemoOffer()} {
				br, billing := a.linkNewOrg(name+"@example.com", agreement, name)
				id := orgIDOf(billing)
				orgs[name] = [2]string{id, br.createKey("/orgs/" + id + "/")}
			}
			for _, name := range []string{"payg", "contract"} {
				id, key := orgs[name][0], orgs[name][1]
				r, _ := a.entitlement(id, key, "")
				etag := r.header.Get("ETag")
				for _, tc := range []struct {
					name, inm string
					want      int
				}{{name + "-200", "", http.StatusOK}, {name + "-304", etag, http.StatusNotModified}} {
					b.Run(tc.name, func(b *testing.B) {
						benchEntitlement(b, a.srv.URL+"/api/v1/organizations/"+id+"/entitlement", key, tc.inm, tc.want)
					})
				}
			}
			// For comparison: the billing endpoint, which rates the term's
			// usage for the credits used.
			b.Run("contract-billing", func(b *testing.B) {
				benchEntitlement(b, a.srv.URL+"/api/v1/organizations/"+orgs["contract"][0]+"/billing", orgs["contract"][1], "", http.StatusOK)
			})
		})
	}
}

func benchEntitlement(b *testing.B, url, key, inm string, want int) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16, DisableCompression: true}}
	b.SetParallelism(8) // 16 goroutines on 2 cores
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			if inm != "" {
				req.Header.Set("If-None-Match", inm)
			}
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("status %d, want %d", resp.StatusCode, want)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	// CPU time of the process (server and client) per request: what a
	// request costs whatever else the machine runs.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
