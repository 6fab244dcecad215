package web

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/metering"
)

// usageReportJSON is the body of GET /api/v1/organizations/{org}/usage.
type usageReportJSON struct {
	OrganizationID int64             `json:"organization_id"`
	From           time.Time         `json:"from"`
	To             time.Time         `json:"to"`
	Granularity    string            `json:"granularity"`
	Periods        []usagePeriodJSON `json:"periods"`
	Totals         usageTotalsJSON   `json:"totals"`
}

type usagePeriodJSON struct {
	Start  time.Time        `json:"start"`
	End    time.Time        `json:"end"`
	Meters []meterUsageJSON `json:"meters"`
}

// meterUsageJSON: rated_micros = billed_micros + unbilled_micros, always.
type meterUsageJSON struct {
	Meter          string             `json:"meter"`
	Quantity       string             `json:"quantity"`
	RatedMicros    int64              `json:"rated_micros"`
	BilledMicros   int64              `json:"billed_micros"`
	UnbilledMicros int64              `json:"unbilled_micros"`
	Unbilled       []unbilledPartJSON `json:"unbilled"`
}

type unbilledPartJSON struct {
	Reason   string `json:"reason"`
	Quantity string `json:"quantity"`
	Micros   int64  `json:"micros"`
}

type usageTotalsJSON struct {
	RatedMicros    int64 `json:"rated_micros"`
	BilledMicros   int64 `json:"billed_micros"`
	UnbilledMicros int64 `json:"unbilled_micros"`
}

// fieldErrorsJSON is the body of a 400 for a query with invalid fields:
// every field's error at once.
type fieldErrorsJSON struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields"`
}

// parseUsageQuery reads from, to and granularity (hour when absent), and
// reports every field error at once.
func parseUsageQuery(orgID int64, v url.Values) (metering.UsageQuery, error) {
	q := metering.UsageQuery{OrgID: orgID, Granularity: metering.Granularity(v.Get("granularity"))}
	if _, ok := v["granularity"]; !ok {
		q.Granularity = metering.GranularityHour
	}
	var errs []error
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if len(v[f.name]) > 1 {
			errs = append(errs, fault.Field(f.name, "Give it once."))
			continue
		}
		raw := v.Get(f.name)
		if raw == "" {
			continue // Validate says it is missing
		}
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil || t.Year() < 2000 || t.Year() > 9998 {
			errs = append(errs, fault.Field(f.name, "Must be a time in RFC 3339, e.g. 2026-11-23T09:00:00Z."))
			continue
		}
		*f.dst = t.UTC()
	}
	if err := q.Validate(); err != nil {
		errs = append(errs, err)
	}
	return q, fault.Validation(errs...)
}

// handleAPIUsage is an organization's usage per period and meter, rated,
// split into what a marketplace bills and what it does not, and why, for
// the vendor to bill the rest another way (R12, R20, R23).
func (s *Server) handleAPIUsage(w http.ResponseWriter, r *http.Request, orgID int64) error {
	q, err := parseUsageQuery(orgID, r.URL.Query())
	if err != nil {
		writeFieldErrors(w, err)
		return nil
	}
	periods, err := s.cfg.Coverage.Usage(r.Context(), q)
	if err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Kind == fault.KindInvalid {
			writeFieldErrors(w, err)
			return nil
		}
		return err
	}
	out := usageReportJSON{OrganizationID: orgID, From: q.From, To: q.To, Granularity: string(q.Granularity), Periods: []usagePeriodJSON{}}
	for _, p := range periods {
		pj := usagePeriodJSON{Start: p.Start, End: p.Start.Add(q.Granularity.Length())}
		for _, m := range p.Meters {
			mj := meterUsageJSON{Meter: m.Meter, Quantity: metering.FormatQuantity(m.Quantity), RatedMicros: m.RatedMicros,
				BilledMicros: m.BilledMicros, UnbilledMicros: m.UnbilledMicros, Unbilled: []unbilledPartJSON{}}
			for _, u := range m.Unbilled {
				mj.Unbilled = append(mj.Unbilled, unbilledPartJSON{Reason: string(u.Reason), Quantity: metering.FormatQuantity(u.Quantity), Micros: u.Micros})
			}
			out.Totals.RatedMicros += m.RatedMicros
			out.Totals.BilledMicros += m.BilledMicros
			out.Totals.UnbilledMicros += m.UnbilledMicros
			pj.Meters = append(pj.Meters, mj)
		}
		out.Periods = append(out.Periods, pj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func writeFieldErrors(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, fieldErrorsJSON{Error: "Invalid query: see fields.", Fields: fault.Fields(err)})
}
