package metering_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// creditAlert is one alert of committed credits: the term it is for (0 the
// first, 1 the renewal's), the commitment it was reached against and the
// threshold.
type creditAlert struct {
	term      int
	credits   int64
	threshold int64
}

// alertCase is a contract's usage, hour by hour after the link's hour, at
// $0.22 a compute unit, what AWS and the seller do meanwhile, and the
// alerts that must be mailed, in order.
type alertCase struct {
	name       string
	credits    int64         // the first term's committed credits
	endAfter   time.Duration // the first term's end, after the link's hour
	units      map[int]int64 // compute units used at the start of each hour
	renewAt    int           // the hour AWS renews for a month and the seller learns of it; 0: never
	renewTo    int64         // the renewed term's credits, when not the first's
	upgradeAt  int           // the hour AWS raises the current term's credits and the seller learns of it; 0: never
	upgradeTo  int64
	makerDown  [2]int // hours [from, to) in which metering does not run
	noZeroRecs bool   // metering makes no records for hours with nothing due
	want       []creditAlert
}

var alertCases = []alertCase{
	{name: "R15 one term: 50%, 75% and 90% once each, never again",
		credits: 100, endAfter: 48 * time.Hour,
		units: map[int]int64{1: 250, 2: 100, 3: 100, 4: 100, 6: 100}, // $55, $77, $99, then overage
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}}},
	{name: "R15 within the credits, without zero records: nothing is due, yet the alerts go",
		credits: 100, endAfter: 48 * time.Hour, noZeroRecs: true,
		units: map[int]int64{1: 250, 3: 100, 5: 100}, // $55, $77, $99: no record at all
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}}},
	{name: "R13 R15 R22 a renewal's fresh term alerts again as its own credits are used",
		credits: 100, endAfter: 6*time.Hour + 30*time.Minute, renewAt: 3,
		units: map[int]int64{1: 250, 2: 100, 8: 250, 9: 200}, // first term $77; second $55, then $99
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {1, 100, 50}, {1, 100, 75}, {1, 100, 90}}},
	{name: "R13 R15 R22 after an early renewal the old term's last hours alert against the old term's credits",
		credits: 100, endAfter: 6*time.Hour + 30*time.Minute, renewAt: 2, renewTo: 200,
		// $22 before the renewal, $77 and $99 after it, in the old term: 99%
		// of its 100 credits, 49.5% of the new term's 200; then the new
		// term's $110, 55% of 200.
		units: map[int]int64{1: 100, 4: 250, 5: 100, 8: 500},
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}, {1, 200, 50}}},
	{name: "R13 R15 metering that catches up across a term's end alerts each term against its own credits",
		credits: 100, endAfter: 6*time.Hour + 30*time.Minute, renewAt: 3, makerDown: [2]int{5, 10},
		units: map[int]int64{5: 432, 8: 250}, // the old term's $95.04, the new term's $55, metered together
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}, {1, 100, 50}}},
	{name: "R15 R22 an upgrade before any alert: the shares are of the new commitment",
		credits: 100, endAfter: 48 * time.Hour, upgradeAt: 2, upgradeTo: 200,
		units: map[int]int64{1: 200, 3: 100, 4: 200}, // $44, $66 (66% of the old 100, 33% of 200), $110
		want:  []creditAlert{{0, 200, 50}}},
	{name: "R15 R22 an upgrade to twice the credits after 90%: its 50%, 75% and 90% alert again",
		credits: 100, endAfter: 48 * time.Hour, upgradeAt: 3, upgradeTo: 200,
		units: map[int]int64{1: 432, 4: 45, 5: 250, 6: 100}, // $95.04; then 52%, 80% and 91% of 200
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}, {0, 200, 50}, {0, 200, 75}, {0, 200, 90}}},
	{name: "R15 R22 an upgrade by a tenth after 90%: only its 90% alerts, its 50% and 75% are less than the admins were told",
		credits: 100, endAfter: 48 * time.Hour, upgradeAt: 3, upgradeTo: 110,
		units: map[int]int64{1: 432, 4: 20}, // $95.04 (86% of 110), then $99.44 (90.4%)
		want:  []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}, {0, 110, 90}}},
}

// Alerts of committed credits go per contract term: each threshold of a
// term's commitment once; a renewal's term alerts again, an old term's
// hours after an early renewal against the old credits, an upgrade against
// the new commitment (R13, R15, R22). The mail goes to the organization's
// admins and billing members, not its developers, and says which threshold,
// commitment and term.
func TestCreditAlerts_R13_R15_R22_EachTermAlertsOnItsOwnCredits(t *testing.T) {
	for _, tc := range alertCases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				s, c := newContractSeller(t, db, tc.credits, tc.endAfter)
				first, agreement, customer := c.first, c.agreement, c.customer
				billing := s.members(map[string]org.Role{"second-admin@example.com": org.RoleAdmin, "billing@example.com": org.RoleBilling,
					"dev@example.com": org.RoleDeveloper})
				maker := s.maker
				if tc.noZeroRecs {
					maker = s.makerWith(s.market, false)
				}
				firstEnd := first.Add(tc.endAfter)
				termStart := map[int]sql.NullTime{0: {}, 1: {Time: firstEnd, Valid: true}}
				termEnd := map[int]time.Time{0: firstEnd, 1: firstEnd.AddDate(0, 1, 0)}
				for hour := 1; hour <= 14; hour++ {
					s.setClock(ctx, first.Add(time.Duration(hour)*time.Hour+20*time.Minute))
					if u := tc.units[hour]; u > 0 {
						s.use(event(fmt.Sprintf("h%d", hour), "compute", first.Add(time.Duration(hour)*time.Hour), fmt.Sprint(u)))
					}
					if hour == tc.renewAt {
						if _, err := s.emu.Market().Renew(ctx, agreement, 1); err != nil {
							t.Fatal(err)
						}
						if tc.renewTo > 0 {
							if _, err := s.emu.Market().Upgrade(ctx, agreement, map[string]int64{"committed_credits": tc.renewTo}); err != nil {
								t.Fatal(err)
							}
						}
						s.entitlementUpdated(customer, hour)
					}
					if hour == tc.upgradeAt {
						if _, err := s.emu.Market().Upgrade(ctx, agreement, map[string]int64{"committed_credits": tc.upgradeTo}); err != nil {
							t.Fatal(err)
						}
						s.entitlementUpdated(customer, hour)
					}
					if hour >= tc.makerDown[0] && hour < tc.makerDown[1] {
						continue
					}
					if _, err := maker.MakeRecords(ctx); err != nil {
						t.Fatal(err)
					}
				}
				got := s.creditAlerts(termStart)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("credit alerts %v, want %v", got, tc.want)
				}
				mails := s.outbox()
				if len(mails) != len(tc.want) {
					t.Fatalf("%d mails in the outbox, want %d: %+v", len(mails), len(tc.want), mails)
				}
				for i, a := range tc.want {
					m := mails[i]
					if !slices.Equal(m.to, billing) {
						t.Errorf("mail %d goes to %v, want the admins and billing members %v", i, m.to, billing)
					}
					if want := fmt.Sprintf("%d%% of Metered's committed credits are used", a.threshold); m.subject != want {
						t.Errorf("mail %d: subject %q, want %q", i, m.subject, want)
					}
					for _, want := range []string{fmt.Sprintf("has used %d%% of the $%d.00 committed credits", a.threshold, a.credits),
						"ends on " + termEnd[a.term].Format(time.DateOnly), fmt.Sprintf("https://seller.example.com/orgs/%d/billing", s.orgID)} {
						if !strings.Contains(m.text, want) {
							t.Errorf("mail %d says %q, want it to say %q", i, m.text, want)
						}
					}
				}
			})
		})
	}
}

// Two processes metering one PostgreSQL (or SQLite) database at the same
// time mail each threshold of a term once (R15), and tell the vendor's
// product of each once, the credits used up (100%) too (issue 12).
func TestCreditAlerts_R15_TwoProcessesMailEachThresholdOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, c := newContractSeller(t, db, 100, 48*time.Hour)
		first := c.first
		other := s.makerWith(s.otherProcess(), true)
		units := map[int]int64{1: 250, 2: 100, 3: 100, 5: 100} // $55, $77, $99, $121
		for hour := 1; hour <= 6; hour++ {
			s.setClock(ctx, first.Add(time.Duration(hour)*time.Hour+20*time.Minute))
			if u := units[hour]; u > 0 {
				s.use(event(fmt.Sprintf("h%d", hour), "compute", first.Add(time.Duration(hour)*time.Hour), fmt.Sprint(u)))
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				maker := s.maker
				if i%2 == 1 {
					maker = other
				}
				wg.Go(func() {
					if _, err := maker.MakeRecords(ctx); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		if got, want := s.creditAlerts(nil), []creditAlert{{0, 100, 50}, {0, 100, 75}, {0, 100, 90}}; !slices.Equal(got, want) {
			t.Fatalf("credit alerts %v, want %v", got, want)
		}
		if mails := s.outbox(); len(mails) != 3 {
			t.Fatalf("%d mails, want 3 (50%%, 75%%, 90%%)", len(mails))
		}
		if got, want := s.thresholdEvents(), []int{50, 75, 90, 100}; !slices.Equal(got, want) {
			t.Fatalf("credits.threshold events %v, want %v", got, want)
		}
	})
}

// thresholdEvents lists the thresholds of the credits.threshold webhook
// events of the seller's organization, in sequence order.
func (s *seller) thresholdEvents() []int {
	s.t.Helper()
	rows, err := s.db.Read().Query(`SELECT data FROM webhook_events WHERE org_id = $1 AND type = 'credits.threshold' ORDER BY seq`, s.orgID)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			s.t.Fatal(err)
		}
		var d struct{ Threshold int }
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, d.Threshold)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// Migration 0015 keeps the alerts sent per subscription as the alerts of
// the term that was current when they were sent; they count against that
// term's commitment, so its thresholds are not mailed twice, and a later
// term alerts on its own (R13, R15, R22).
func TestCreditAlerts_R15_R22_Migration0015KeepsAlertsOfTheirTerm(t *testing.T) {
	cases := []struct {
		name   string
		sentAt []time.Duration // after the link's hour, for 50%, 75%, 90% in turn
		want   []creditAlert   // after the migration, then after metering
	}{
		{name: "sent in the first term: the renewed term alerts on its own",
			sentAt: []time.Duration{time.Hour, 2 * time.Hour},
			want:   []creditAlert{{0, 0, 50}, {0, 0, 75}, {1, 100, 50}, {1, 100, 75}, {1, 100, 90}}},
		{name: "sent in the renewed term: not mailed again",
			sentAt: []time.Duration{8 * time.Hour, 9 * time.Hour},
			want:   []creditAlert{{1, 0, 50}, {1, 0, 75}, {1, 100, 90}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				s, c := newContractSeller(t, db, 100, 6*time.Hour+30*time.Minute)
				first, agreement, customer := c.first, c.agreement, c.customer
				s.setClock(ctx, first.Add(3*time.Hour))
				if _, err := s.emu.Market().Renew(ctx, agreement, 1); err != nil {
					t.Fatal(err)
				}
				s.entitlementUpdated(customer, 3)
				var subID int64
				if err := db.Read().QueryRow(`SELECT id FROM subscriptions`).Scan(&subID); err != nil {
					t.Fatal(err)
				}
				// The table as 0009 made it, with its rows, then 0015 again.
				types := map[store.Dialect]string{store.DialectSQLite: "TIMESTAMP", store.DialectPostgres: "TIMESTAMPTZ"}[db.Dialect()]
				if _, err := db.Write().Exec(`DROP TABLE credit_alerts`); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Write().Exec(`CREATE TABLE credit_alerts (subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
					threshold INTEGER NOT NULL, sent_at ` + types + ` NOT NULL, PRIMARY KEY (subscription_id, threshold))`); err != nil {
					t.Fatal(err)
				}
				for i, at := range tc.sentAt {
					if _, err := db.Write().Exec(`INSERT INTO credit_alerts (subscription_id, threshold, sent_at) VALUES ($1, $2, $3)`,
						subID, []int{50, 75, 90}[i], store.Now(first.Add(at+20*time.Minute))); err != nil {
						t.Fatal(err)
					}
				}
				ms, err := store.Migrations()
				if err != nil {
					t.Fatal(err)
				}
				m := ms[slices.IndexFunc(ms, func(m store.Migration) bool { return m.Version == 15 })]
				if _, err := db.Write().Exec(strings.ReplaceAll(m.SQL, "{{time}}", types)); err != nil {
					t.Fatal(err)
				}
				termStart := map[int]sql.NullTime{0: {}, 1: {Time: first.Add(6*time.Hour + 30*time.Minute), Valid: true}}
				if got, want := s.creditAlerts(termStart), tc.want[:len(tc.sentAt)]; !slices.Equal(got, want) {
					t.Fatalf("after migrating: credit alerts %v, want %v", got, want)
				}
				for hour := 4; hour <= 10; hour++ {
					s.setClock(ctx, first.Add(time.Duration(hour)*time.Hour+20*time.Minute))
					if hour == 8 { // the renewed term's usage: $99 of its 100 credits
						s.use(event("renewed", "compute", first.Add(8*time.Hour), "450"))
					}
					if _, err := s.maker.MakeRecords(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if got := s.creditAlerts(termStart); !slices.Equal(got, tc.want) {
					t.Fatalf("after metering: credit alerts %v, want %v", got, tc.want)
				}
				if mails, want := s.outbox(), len(tc.want)-len(tc.sentAt); len(mails) != want {
					t.Fatalf("%d mails, want %d", len(mails), want)
				}
			})
		})
	}
}

// linkedContract is a contract newContractSeller set up: the hour its
// organization was linked in, and the agreement's identifiers at AWS.
type linkedContract struct {
	first     time.Time
	agreement string
	customer  marketplace.Customer
}

// newContractSeller is newSeller with a contract of the credits given,
// whose first term ends endAfter the hour of the link.
func newContractSeller(t *testing.T, db *store.DB, credits int64, endAfter time.Duration) (*seller, linkedContract) {
	t.Helper()
	var c linkedContract
	s := newSellerWith(t, db, func(s *seller) int64 {
		c.first = s.Now().UTC().Truncate(time.Hour)
		var sub int64
		c.agreement, c.customer, sub = s.contractEnding(credits, c.first.Add(endAfter))
		return sub
	})
	return s, c
}

// members adds members to the seller's organization by e-mail and role,
// and returns the addresses of its admins and billing members, sorted, its
// creator's too: whoever is told about the bill.
func (s *seller) members(roles map[string]org.Role) []string {
	s.t.Helper()
	admins := []string{"m@example.com"}
	for email, role := range roles {
		var user int64
		if err := s.db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at)
			VALUES ($1, 'Member', 'x', $2, $2) RETURNING id`, email, store.Now(s.Now())).Scan(&user); err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.db.Write().Exec(`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			s.orgID, user, string(role), store.Now(s.Now())); err != nil {
			s.t.Fatal(err)
		}
		if role == org.RoleAdmin || role == org.RoleBilling {
			admins = append(admins, email)
		}
	}
	slices.Sort(admins)
	return admins
}

// otherProcess is a second marketplace service on the seller's database,
// as another process of marketbridge has.
func (s *seller) otherProcess() *marketplace.Service {
	s.t.Helper()
	logger := slog.New(slog.DiscardHandler)
	outbox := mail.NewOutbox(s.db, s.Now)
	orgs, err := org.New(org.Config{DB: s.db, Mailer: outbox, Logger: logger, Now: s.Now, BaseURL: "https://seller.example.com"})
	if err != nil {
		s.t.Fatal(err)
	}
	mkt, err := marketplace.New(marketplace.Config{DB: s.db, Catalog: s.catalog, Resolver: s.client, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: s.Now, BaseURL: "https://seller.example.com", Events: webhook.NewRecorder(time.Now)})
	if err != nil {
		s.t.Fatal(err)
	}
	return mkt
}

// makerWith is a record maker for the subscriptions of mkt.
func (s *seller) makerWith(mkt *marketplace.Service, zeroRecords bool) *metering.Maker {
	s.t.Helper()
	maker, err := metering.NewMaker(metering.MakerConfig{DB: s.db, Subscriptions: mkt, Usage: usage.NewTotals(s.db), Prices: s.catalog,
		Logger: slog.New(slog.DiscardHandler), Now: s.Now, ZeroRecords: zeroRecords})
	if err != nil {
		s.t.Fatal(err)
	}
	return maker
}

// creditAlerts lists the recorded alerts in the order they were sent, each
// term named by its index in termStart (any start is term 0 when nil);
// credits is 0 for those of before migration 0015.
func (s *seller) creditAlerts(termStart map[int]sql.NullTime) []creditAlert {
	s.t.Helper()
	rows, err := s.db.Read().Query(`SELECT term_start, credits, threshold FROM credit_alerts WHERE threshold < 100 ORDER BY sent_at, credits, threshold`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []creditAlert
	for rows.Next() {
		var start sql.NullTime
		var credits sql.NullInt64
		var a creditAlert
		if err := rows.Scan(&start, &credits, &a.threshold); err != nil {
			s.t.Fatal(err)
		}
		a.credits, a.term = credits.Int64, -1
		for i, ts := range termStart {
			if ts.Valid == start.Valid && ts.Time.Equal(start.Time) {
				a.term = i
			}
		}
		if termStart == nil {
			a.term = 0
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

type outboxMail struct {
	to            []string
	subject, text string
}

// outbox lists the credit alerts in the mail outbox, oldest first,
// recipients sorted.
func (s *seller) outbox() []outboxMail {
	s.t.Helper()
	rows, err := s.db.Read().Query(`SELECT recipients, subject, text_body FROM mail_outbox WHERE subject LIKE '%committed credits are used' ORDER BY id`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxMail
	for rows.Next() {
		var m outboxMail
		var to string
		if err := rows.Scan(&to, &m.subject, &m.text); err != nil {
			s.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(to), &m.to); err != nil {
			s.t.Fatal(err)
		}
		slices.Sort(m.to)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}
