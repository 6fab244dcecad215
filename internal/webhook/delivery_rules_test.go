package webhook

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// A receiver that fails, hangs and restarts at random still gets every
// event, each with a good signature and the same webhook-id on every
// attempt (issue 12: at least once, none with a bad signature).
func TestDeliver_ChaoticReceiverGetsEveryEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rnd := rand.New(rand.NewPCG(7, 11))
		var rmu sync.Mutex
		rc := newReceiver(t)
		rc.checkTime = clock.Now
		rc.behave = func(int, *http.Request) int {
			rmu.Lock()
			defer rmu.Unlock()
			switch p := rnd.Float64(); {
			case p < 0.25:
				return http.StatusInternalServerError
			case p < 0.3:
				return http.StatusFound // a redirect, not followed: a failure
			case p < 0.35:
				return -1 // hang past the client's timeout
			}
			return http.StatusAccepted
		}
		// The receiver restarts now and then: its port refuses
		// connections for a while, then it listens again on the same one.
		addr := rc.srv.Listener.Addr().String()
		_, secret := createEndpoint(t, eps, rc.srv.URL+"/in")
		rc.setSecrets(secret)
		rec := NewRecorder(clock.Now)
		orgs := []int64{newOrg(t, db, "acme", "a"), newOrg(t, db, "beta", "b")}
		const events = 60
		want := map[string]Event{}
		d := newDeliverer(t, db, clock)
		ctx := context.Background()
		down := false
		for i := range events {
			e := record(t, db, rec, orgs[i%2], TypeSubscriptionUpdated, map[string]string{"state": "active"})
			want[e.ID] = e
			if i%10 == 9 {
				if down {
					ln, err := net.Listen("tcp", addr)
					if err != nil {
						t.Fatalf("restart the receiver on %s: %v", addr, err)
					}
					rc.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(rc.serve)}}
					rc.srv.Start()
					t.Cleanup(rc.srv.Close)
				} else {
					rc.srv.CloseClientConnections()
					rc.srv.Close()
				}
				down = !down
			}
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			rmu.Lock() // a hanging request's handler may still draw
			step := time.Duration(rnd.IntN(30)) * time.Second
			rmu.Unlock()
			clock.Advance(step)
		}
		if down {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			rc.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(rc.serve)}}
			rc.srv.Start()
			t.Cleanup(rc.srv.Close)
		}
		deliverAll(t, db, clock, 500, d)

		ids := map[string][]received{}
		for _, r := range rc.received() {
			if r.verified[0] != nil {
				t.Errorf("delivery %s has a bad signature: %v", r.id, r.verified[0])
			}
			e, ok := want[r.id]
			if !ok {
				t.Fatalf("webhook-id %s is no event's", r.id)
			}
			if p := r.parse(t); p.Data.Sequence != e.Seq || p.Data.Organization.ID != e.Organization.ID {
				t.Errorf("webhook-id %s carries sequence %d of %d, want %d of %d", r.id, p.Data.Sequence, p.Data.Organization.ID, e.Seq, e.Organization.ID)
			}
			ids[r.id] = append(ids[r.id], r)
		}
		retried := 0
		for id := range want {
			rs := ids[id]
			ok := false
			for _, r := range rs {
				ok = ok || (r.status >= 200 && r.status < 300)
			}
			if !ok {
				t.Errorf("event %s never answered 2xx (%d attempts)", id, len(rs))
			}
			if len(rs) > 1 {
				retried++
			}
		}
		if s := deliveryStatuses(t, db); s[StatusDelivered] != events {
			t.Errorf("deliveries %v, want %d delivered", s, events)
		}
		if retried == 0 {
			t.Error("no event needed a retry: the receiver was not chaotic")
		}
	})
}

// Two processes on one database deliver each event once between them, and
// never the same one at the same time.
func TestDeliver_TwoWorkersDeliverEachEventOnce(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			db1, db2 := storetest.OpenURL(t, url), storetest.OpenURL(t, url)
			clock := newFakeClock()
			eps := newEndpoints(t, db1, clock)
			var inFlight sync.Map
			var overlaps atomic.Int32
			rc := newReceiver(t)
			rc.behave = func(_ int, r *http.Request) int {
				id := r.Header.Get("webhook-id")
				if _, busy := inFlight.LoadOrStore(id, true); busy {
					overlaps.Add(1)
				}
				time.Sleep(time.Millisecond)
				inFlight.Delete(id)
				return http.StatusNoContent
			}
			_, secret := createEndpoint(t, eps, rc.srv.URL)
			rc.setSecrets(secret)
			rec := NewRecorder(clock.Now)
			orgID := newOrg(t, db1, "acme", "")
			const events = 80
			for range events {
				record(t, db1, rec, orgID, TypeSubscriptionUpdated, nil)
			}
			d1, d2 := newDeliverer(t, db1, clock), newDeliverer(t, db2, clock)
			var wg sync.WaitGroup
			var errs [2]error
			for i, d := range []*Deliverer{d1, d2} {
				wg.Go(func() { _, errs[i] = d.DeliverDue(context.Background()) })
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, r := range rc.received() {
				seen[r.id]++
				if r.verified[0] != nil {
					t.Errorf("bad signature: %v", r.verified[0])
				}
			}
			if len(seen) != events {
				t.Errorf("%d distinct events delivered, want %d", len(seen), events)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("event %s delivered %d times", id, n)
				}
			}
			if overlaps.Load() != 0 {
				t.Errorf("%d deliveries were in flight twice at once", overlaps.Load())
			}
			var deliveries int
			if err := db1.Read().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries`).Scan(&deliveries); err != nil || deliveries != events {
				t.Errorf("%d delivery rows (%v), want one per event", deliveries, err)
			}
			// On SQLite one process's writes may starve the other's (its
			// busy handler sleeps between tries): only PostgreSQL is sure
			// to share the work.
			var claimants int
			if err := db1.Read().QueryRow(`SELECT COUNT(DISTINCT claimed_by) FROM webhook_deliveries`).Scan(&claimants); engine == "postgres" && (err != nil || claimants != 2) {
				t.Errorf("deliveries were sent by %d processes (%v), want both to take part", claimants, err)
			}
		})
	}
}

// An endpoint gets the events recorded after it was made, of the types it
// takes, and none while disabled.
func TestFanOut_NewEndpointGetsOnlyLaterEventsOfItsTypes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rec := NewRecorder(clock.Now)
		orgID := newOrg(t, db, "acme", "")
		d := newDeliverer(t, db, clock)
		early := newReceiver(t)
		_, s1 := createEndpoint(t, eps, early.srv.URL)
		early.setSecrets(s1)
		first := record(t, db, rec, orgID, TypeOrganizationLinked, nil)
		// Made after the first event, before any delivery pass.
		late := newReceiver(t)
		lateEp, s2 := createEndpoint(t, eps, late.srv.URL, TypeSubscriptionUpdated)
		late.setSecrets(s2)
		second := record(t, db, rec, orgID, TypeSubscriptionUpdated, nil)
		third := record(t, db, rec, orgID, TypeCreditsThreshold, nil)
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		if err := eps.SetEnabled(ctx, lateEp.ID, false); err != nil {
			t.Fatal(err)
		}
		fourth := record(t, db, rec, orgID, TypeSubscriptionUpdated, nil)
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		if err := eps.SetEnabled(ctx, lateEp.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		ids := func(rc *receiver) []string {
			var out []string
			for _, r := range rc.received() {
				out = append(out, r.id)
			}
			return out
		}
		if got, want := ids(early), []string{first.ID, second.ID, third.ID, fourth.ID}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("the early endpoint got %v, want every event %v", got, want)
		}
		if got := ids(late); len(got) != 1 || got[0] != second.ID {
			t.Errorf("the later endpoint got %v, want only %s (later, of its type, not while disabled)", got, second.ID)
		}
	})
}

// An endpoint failing every attempt for days is disabled, the operators
// are mailed, and its pending deliveries wait until an operator enables it.
func TestDeliver_DisablesEndpointFailingForDays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		rc.checkTime = clock.Now
		var healthy atomic.Bool
		rc.behave = func(int, *http.Request) int {
			if healthy.Load() {
				return http.StatusOK
			}
			return http.StatusBadGateway
		}
		ep, secret := createEndpoint(t, eps, rc.srv.URL)
		rc.setSecrets(secret)
		outbox := mail.NewOutbox(db, clock.Now)
		d := newDeliverer(t, db, clock, func(c *DelivererConfig) {
			c.Mailer, c.Operators, c.BaseURL = outbox, []string{"ops@example.com"}, "https://billing.example.com"
		})
		rec := NewRecorder(clock.Now)
		orgID := newOrg(t, db, "acme", "")
		start := clock.Now()
		// An event every six hours, delivered as they come due.
		for clock.Now().Sub(start) < DisableAfter+12*time.Hour {
			record(t, db, rec, orgID, TypeSubscriptionUpdated, nil)
			until := clock.Now().Add(6 * time.Hour)
			for clock.Now().Before(until) {
				if _, err := d.DeliverDue(ctx); err != nil {
					t.Fatal(err)
				}
				clock.Advance(30 * time.Minute)
			}
		}
		got, err := eps.Get(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Enabled || got.DisabledAt.IsZero() || !strings.Contains(got.DisabledReason, "in a row failed") {
			t.Fatalf("endpoint after days of failures = %+v, want disabled with a reason", got)
		}
		if since := got.DisabledAt.Sub(start); since < DisableAfter || since > DisableAfter+time.Hour {
			t.Errorf("disabled %v after the first failure, want soon after %v", since, DisableAfter)
		}
		msgs, err := outbox.List(ctx, 10)
		if err != nil || len(msgs) != 1 || msgs[0].To[0] != "ops@example.com" || !strings.Contains(msgs[0].Text, "/operator/webhooks/") {
			t.Fatalf("mail to the operators = %+v, %v", msgs, err)
		}
		// Disabled: nothing is attempted, new events are not fanned out.
		before := len(rc.received())
		record(t, db, rec, orgID, TypeSubscriptionUpdated, nil)
		clock.Advance(24 * time.Hour)
		if n, err := d.DeliverDue(ctx); err != nil || n != 0 || len(rc.received()) != before {
			t.Fatalf("a disabled endpoint got %d attempts (%v)", n, err)
		}
		// Enabled again by an operator, its waiting deliveries go out.
		healthy.Store(true)
		if err := eps.SetEnabled(ctx, ep.ID, true); err != nil {
			t.Fatal(err)
		}
		var waiting int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if n, err := d.DeliverDue(ctx); err != nil || n != waiting || waiting == 0 {
			t.Fatalf("after enabling: %d attempts (%v), want the %d waiting", n, err, waiting)
		}
		if got, _ := eps.Get(ctx, ep.ID); !got.Enabled || got.ConsecutiveFailures != 0 || got.LastSuccessAt.IsZero() {
			t.Errorf("endpoint after a success = %+v", got)
		}
	})
}

// After a rotation both secrets sign for 24 hours, so that a receiver with
// either verifies; after that only the new one does.
func TestRotate_BothSecretsSignFor24Hours(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		rc.checkTime = clock.Now
		ep, old := createEndpoint(t, eps, rc.srv.URL)
		fresh, err := eps.Rotate(ctx, ep.ID)
		if err != nil || fresh == old || !strings.HasPrefix(fresh, "whsec_") {
			t.Fatalf("Rotate = %q, %v", fresh, err)
		}
		rc.setSecrets(old, fresh)
		rec := NewRecorder(clock.Now)
		orgID := newOrg(t, db, "acme", "")
		d := newDeliverer(t, db, clock)
		send := func() received {
			t.Helper()
			n := len(rc.received())
			record(t, db, rec, orgID, TypeSubscriptionUpdated, nil)
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			got := rc.received()
			if len(got) != n+1 {
				t.Fatalf("%d deliveries, want %d", len(got), n+1)
			}
			return got[n]
		}
		clock.Advance(RotationGrace - time.Minute)
		during := send()
		if during.verified[0] != nil || during.verified[1] != nil || len(strings.Fields(during.signature)) != 2 {
			t.Errorf("during the grace: signature %q, old secret %v, new secret %v; want both to verify", during.signature, during.verified[0], during.verified[1])
		}
		clock.Advance(2 * time.Minute)
		after := send()
		if !errors.Is(after.verified[0], standardwebhooks.ErrNoMatchingSignature) || after.verified[1] != nil || len(strings.Fields(after.signature)) != 1 {
			t.Errorf("after the grace: signature %q, old secret %v, new secret %v; want the new one only", after.signature, after.verified[0], after.verified[1])
		}
	})
}

// "Send again" makes a delivered event due now, with the same webhook-id.
func TestResend_SameWebhookID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		ep, secret := createEndpoint(t, eps, rc.srv.URL)
		rc.setSecrets(secret)
		e := record(t, db, NewRecorder(clock.Now), newOrg(t, db, "acme", ""), TypeOrganizationLinked, nil)
		d := newDeliverer(t, db, clock)
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := eps.Deliveries(ctx, ep.ID, 10)
		if err != nil || len(ds) != 1 || ds[0].Status != StatusDelivered {
			t.Fatalf("deliveries = %+v, %v", ds, err)
		}
		if err := eps.Resend(ctx, ep.ID, ds[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := eps.Resend(ctx, ep.ID+1, ds[0].ID); !errors.Is(err, ErrEndpointNotFound) {
			t.Errorf("resend through another endpoint: %v, want not found", err)
		}
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		got := rc.received()
		if len(got) != 2 || got[0].id != e.ID || got[1].id != e.ID || got[1].verified[0] != nil {
			t.Errorf("received %d, want the event twice with webhook-id %s", len(got), e.ID)
		}
	})
}

// Configured endpoints are created, updated (a new secret is a rotation)
// and removed with the configuration; operators' endpoints stay, and an
// operator cannot change a configured one.
func TestSyncConfig_CreatesUpdatesRemoves(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		mine, _ := createEndpoint(t, eps, "https://mine.example.com/hooks")
		a, b := "https://a.example.com/hooks", "https://b.example.com/hooks"
		s1, s2 := NewSecret(), NewSecret()
		if err := eps.SyncConfig(ctx, []ConfigEndpoint{{URL: a, Secret: s1}, {URL: b, Secret: s1, Types: []Type{TypeUsageUnbilled}}}); err != nil {
			t.Fatal(err)
		}
		if err := eps.SyncConfig(ctx, []ConfigEndpoint{{URL: a, Secret: s2, Types: []Type{TypeOrganizationLinked}}}); err != nil {
			t.Fatal(err)
		}
		list, err := eps.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].URL != a || !list[0].FromConfig || list[0].TypesLabel() != "organization.linked" || list[1].ID != mine.ID {
			t.Fatalf("endpoints = %+v", list)
		}
		var secret, prev string
		var until sql.NullTime
		if err := db.Read().QueryRow(`SELECT secret, previous_secret, previous_until FROM webhook_endpoints WHERE id = $1`, list[0].ID).
			Scan(&secret, &prev, &until); err != nil {
			t.Fatal(err)
		}
		if secret != s2 || prev != s1 || !until.Time.Equal(store.Now(clock.Now()).Add(RotationGrace)) {
			t.Errorf("after a new configured secret: secret %q previous %q until %v", secret, prev, until.Time)
		}
		for name, err := range map[string]error{
			"rotate":  func() error { _, err := eps.Rotate(ctx, list[0].ID); return err }(),
			"disable": eps.SetEnabled(ctx, list[0].ID, false),
			"delete":  eps.Delete(ctx, list[0].ID),
		} {
			if !errors.Is(err, errFromConfig) {
				t.Errorf("%s a configured endpoint: %v, want refused", name, err)
			}
		}
		if err := eps.SyncConfig(ctx, []ConfigEndpoint{{URL: "ftp://x", Secret: "nope"}}); err == nil {
			t.Error("an invalid configuration was synced")
		}
	})
}

// An endpoint deleted while its delivery is out leaves nothing behind and
// no error: the attempt has nothing to be logged against.
func TestDeliver_EndpointDeletedDuringAttempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		var ep Endpoint
		rc.behave = func(int, *http.Request) int {
			if err := eps.Delete(ctx, ep.ID); err != nil {
				t.Error(err)
			}
			return http.StatusInternalServerError
		}
		ep, _ = createEndpoint(t, eps, rc.srv.URL)
		record(t, db, NewRecorder(clock.Now), newOrg(t, db, "acme", ""), TypeOrganizationLinked, nil)
		if n, err := newDeliverer(t, db, clock).DeliverDue(ctx); err != nil || n != 1 {
			t.Fatalf("DeliverDue = %d, %v; want one attempt and no error", n, err)
		}
		var rows int
		if err := db.Read().QueryRow(`SELECT (SELECT COUNT(*) FROM webhook_attempts) + (SELECT COUNT(*) FROM webhook_deliveries)`).Scan(&rows); err != nil || rows != 0 {
			t.Errorf("%d rows left (%v)", rows, err)
		}
	})
}

// An endpoint that hangs until the timeout does not hold every worker: the
// other endpoints' deliveries go out meanwhile.
func TestDeliver_SlowEndpointLeavesAWorkerToTheOthers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		slow, fast := newReceiver(t), newReceiver(t)
		slow.behave = func(int, *http.Request) int { return -1 } // hangs
		createEndpoint(t, eps, slow.srv.URL, TypeSubscriptionUpdated)
		createEndpoint(t, eps, fast.srv.URL, TypeOrganizationLinked)
		rec := NewRecorder(clock.Now)
		orgID := newOrg(t, db, "acme", "")
		// The slow endpoint's deliveries come first in the queue.
		for range 12 {
			record(t, db, rec, orgID, TypeSubscriptionUpdated, nil)
		}
		for range 4 {
			record(t, db, rec, orgID, TypeOrganizationLinked, nil)
		}
		d := newDeliverer(t, db, clock, func(c *DelivererConfig) { c.Workers = 2 })
		start := time.Now()
		done := make(chan error, 1)
		go func() { _, err := d.DeliverDue(ctx); done <- err }()
		for len(fast.received()) < 4 {
			if time.Since(start) > 10*time.Second {
				t.Fatal("the fast endpoint's deliveries did not go out")
			}
			time.Sleep(5 * time.Millisecond)
		}
		fastDone := time.Since(start)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// 12 hanging requests of 300 ms take 3.6 s on one worker: the fast
		// endpoint's four were done long before.
		if all := time.Since(start); fastDone > all/2 {
			t.Errorf("the fast endpoint was served after %v of %v: it waited for the slow one", fastDone, all)
		}
	})
}
