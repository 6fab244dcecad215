package gcpmp

import (
	"context"
	"testing"

	"github.com/marketbridge/marketbridge/internal/metering"
)

// An entitlement that ended inside a record's hour: Google's check refuses
// the whole hour (it runs past the end), but takes the usage before the
// end reported until the end (§4.4.4). The meter reads the entitlement and
// reports the final hour until its end, to the second; an hour wholly
// after the end, or an entitlement still running, stays refused (R18, #16).
func TestBatchMeterUsage_FinalHourUntilTheEnd_R18(t *testing.T) {
	notActive := []map[string]any{{"code": "SERVICE_NOT_ACTIVATED", "detail": "its entitlement is not active"}}
	tests := []struct {
		name    string
		state   string
		end     string // subscriptionEndTime
		want    metering.OutcomeStatus
		wantEnd string // endTime reported; "" when nothing is
	}{
		{"ended inside the hour", "CANCELLED", "2026-01-01T09:41:17.250Z", metering.OutcomeAccepted, "2026-01-01T09:41:17Z"},
		{"ended before the hour", "CANCELLED", "2026-01-01T08:59:00Z", metering.OutcomeNotSubscribed, ""},
		{"suspended, no end", "SUSPENDED", "", metering.OutcomeNotSubscribed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGoogle(t)
			extra := map[string]any{"usageReportingId": "project_number:1"}
			if tt.end != "" {
				extra["subscriptionEndTime"] = tt.end
				f.endedAt["project_number:1"] = tt.end
			}
			f.entitlement("ent-1", "acc-1", tt.state, extra)
			f.checkErrors["project_number:1"] = notActive
			out, err := NewMeter(f.client(newClock().Now)).BatchMeterUsage(context.Background(), testProduct,
				[]metering.Record{rec("ent-1", "project_number:1", "usage_cents", 42)})
			if err != nil || len(out) != 1 || out[0].Status != tt.want {
				t.Fatalf("outcomes %+v, %v; want %v", out, err, tt.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			switch {
			case tt.wantEnd == "" && len(f.reported) != 0:
				t.Fatalf("reported %v, want nothing", f.reported)
			case tt.wantEnd != "" && (len(f.reported) != 1 || f.reported[0]["endTime"] != tt.wantEnd):
				t.Fatalf("reported %v, want one operation until %s", f.reported, tt.wantEnd)
			}
		})
	}
}
