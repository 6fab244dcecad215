package marketplace_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// withAgreements makes the world's seller read agreements through the
// Agreement API of its emulator, through reader when one is given.
func (w *world) withAgreements(wrap func(marketplace.AgreementReader) marketplace.AgreementReader) {
	w.t.Helper()
	sdk := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	var r marketplace.AgreementReader = awsmp.New(sdk, awsmp.Endpoints{Agreement: w.emuURL})
	if wrap != nil {
		r = wrap(r)
	}
	w.cfg.Agreements = r
	svc, err := marketplace.New(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.svc = svc
}

// flakyAgreements fails its first n calls as an outage would.
type flakyAgreements struct {
	marketplace.AgreementReader
	failures atomic.Int32
	calls    atomic.Int32
	// denied fails as credentials without the IAM actions do.
	denied bool
}

var errOutage = errors.New("AWS Marketplace Agreement API: connection refused")

func (f *flakyAgreements) Agreement(ctx context.Context, id string) (marketplace.Agreement, error) {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
		if f.denied {
			return marketplace.Agreement{}, fmt.Errorf("%w: AccessDeniedException", marketplace.ErrAgreementNotPermitted)
		}
		return marketplace.Agreement{}, errOutage
	}
	return f.AgreementReader.Agreement(ctx, id)
}

func (f *flakyAgreements) ActiveAgreements(ctx context.Context, q marketplace.AgreementQuery) ([]marketplace.Agreement, error) {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
		if f.denied {
			return nil, fmt.Errorf("%w: AccessDeniedException", marketplace.ErrAgreementNotPermitted)
		}
		return nil, errOutage
	}
	return f.AgreementReader.ActiveAgreements(ctx, q)
}

// The demo buyer's private offer, 10,000 committed credits of $1 for 12
// months, set up with the Agreement API on: the billing page's agreement is
// the one the buyer accepted, found at set-up by its license, with the
// committed amount, the dimension's description and the renewal term as
// the Agreement API gives them (#13).
func TestAgreements_Issue13_PrivateOfferTermsReadAtSetUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withAgreements(nil)
		agreement, p, _ := w.linkedContract("terms@example.com", "Terms Org")
		v, err := w.svc.AgreementOf(context.Background(), p.Subscription.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			t.Fatal("no agreement read at set-up")
		}
		if v.ID != agreement.ID || v.Status != "ACTIVE" || v.OfferID != w.demo.PrivateOffer.ID {
			t.Errorf("agreement %s %s offer %s, want %s ACTIVE offer %s", v.ID, v.Status, v.OfferID, agreement.ID, w.demo.PrivateOffer.ID)
		}
		if len(v.Commitments) != 1 {
			t.Fatalf("commitments %+v, want committed_credits only", v.Commitments)
		}
		c := v.Commitments[0]
		if c.Dimension != "committed_credits" || c.Quantity != 10_000 || c.Description != "committed credits of $1" ||
			c.UnitPrice != "$1.00" || c.Total != "$10,000.00" || v.CommittedTotal != "$10,000.00" {
			t.Errorf("commitment %+v, total %q; want 10,000 committed credits of $1 at $1.00, $10,000.00", c, v.CommittedTotal)
		}
		if v.StartsAt.IsZero() || !v.EndsAt.After(v.StartsAt.AddDate(0, 11, 0)) {
			t.Errorf("term %s to %s, want about 12 months", v.StartsAt, v.EndsAt)
		}
		if len(v.Usage) == 0 || v.Usage[0].Decimal == "" || v.Usage[0].Price == "" {
			t.Errorf("usage prices %+v, want the contract's overage price as written and in dollars", v.Usage)
		}
		if v.Renewal != "manual" {
			t.Errorf("renewal %q, want manual: the demo offer does not renew itself", v.Renewal)
		}
	})
}

// An agreement event makes the seller read the agreement again: the
// cancellation shows as the agreement's status. An outage of the Agreement
// API neither stops the set-up nor the cancellation; the reads are tried
// again until they answer (#13).
func TestAgreements_Issue13_ReadAgainAfterEventsAndOutages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		flaky := &flakyAgreements{}
		flaky.failures.Store(1)
		w.withAgreements(func(r marketplace.AgreementReader) marketplace.AgreementReader {
			flaky.AgreementReader = r
			return flaky
		})
		ctx := context.Background()
		agreement, p, _ := w.linkedContract("outage@example.com", "Outage Org")
		if v, err := w.svc.AgreementOf(ctx, p.Subscription.ID); err != nil || v != nil {
			t.Fatalf("agreement read while the API was down: %+v, %v", v, err)
		}
		// The agreements loop looks again after a pause, not at once,
		// then finds and reads it.
		if n, err := w.svc.ReadAgreements(ctx, 20); err != nil || n != 0 {
			t.Fatalf("ReadAgreements at once after the failed search = %d, %v; want a pause first", n, err)
		}
		w.set(w.Now().Add(5 * time.Minute))
		if n, err := w.svc.ReadAgreements(ctx, 20); err != nil || n != 1 {
			t.Fatalf("ReadAgreements = %d, %v; want 1 read", n, err)
		}
		if v, err := w.svc.AgreementOf(ctx, p.Subscription.ID); err != nil || v == nil || v.Status != "ACTIVE" {
			t.Fatalf("agreement after the outage: %+v, %v", v, err)
		}
		// Nothing to read until an event of the agreement.
		calls := flaky.calls.Load()
		if n, err := w.svc.ReadAgreements(ctx, 20); err != nil || n != 0 || flaky.calls.Load() != calls {
			t.Fatalf("ReadAgreements with nothing new = %d, %v, %d calls; want none", n, err, flaky.calls.Load()-calls)
		}

		if _, err := w.emu.Market().Cancel(ctx, agreement.ID); err != nil {
			t.Fatal(err)
		}
		c := p.Subscription.Customer
		w.apply(marketplace.Notification{Source: "eventbridge", MessageID: "terms-ended", Action: marketplace.ActionUnsubscribePending,
			AgreementID: agreement.ID, Customer: marketplace.Customer{AccountID: c.AccountID}, SentAt: w.Now(), Payload: "{}"})
		var status string
		if err := db.Read().QueryRow(`SELECT status FROM subscriptions WHERE id = $1`, p.Subscription.ID).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != marketplace.StatusUnsubscribePending {
			t.Fatalf("subscription %s after the agreement ended, want unsubscribe-pending", status)
		}
		flaky.failures.Store(1)
		if _, err := w.svc.ReadAgreements(ctx, 20); !errors.Is(err, errOutage) {
			t.Fatalf("ReadAgreements during an outage: %v, want the outage", err)
		}
		// Tried again after a backoff, not at once.
		if n, _ := w.svc.ReadAgreements(ctx, 20); n != 0 {
			t.Fatalf("read again at once after a failure: %d", n)
		}
		w.set(w.Now().Add(time.Minute))
		if n, err := w.svc.ReadAgreements(ctx, 20); err != nil || n != 1 {
			t.Fatalf("ReadAgreements after the backoff = %d, %v", n, err)
		}
		if v, err := w.svc.AgreementOf(ctx, p.Subscription.ID); err != nil || v == nil || v.Status != "CANCELLED" {
			t.Fatalf("agreement after its cancellation: %+v, %v; want CANCELLED", v, err)
		}
	})
}

// An agreement the Agreement API says is not the seller's, or does not
// exist, is not asked for again and again: only another event of it asks
// again (#13).
func TestAgreements_Issue13_UnreadableAgreementIsNotRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withAgreements(nil)
		ctx := context.Background()
		p, _ := w.linkedPAYG("unreadable@example.com")
		c := p.Subscription.Customer
		license := func(id string) marketplace.Notification {
			return marketplace.Notification{Source: "eventbridge", MessageID: id, Action: marketplace.ActionLicenseUpdated,
				ProductCode: p.Subscription.ProductCode, AgreementID: "agmt-nosuchagreement0000000000",
				Customer: marketplace.Customer{AccountID: c.AccountID, LicenseArn: c.LicenseArn}, SentAt: w.Now(), Payload: "{}"}
		}
		w.apply(license("unreadable-1"))
		if _, err := w.svc.ReadAgreements(ctx, 20); !errors.Is(err, marketplace.ErrAgreementUnreadable) {
			t.Fatalf("ReadAgreements of an unknown agreement: %v, want ErrAgreementUnreadable", err)
		}
		w.set(w.Now().Add(2 * time.Hour))
		if n, err := w.svc.ReadAgreements(ctx, 20); n != 0 || err != nil {
			t.Fatalf("an unreadable agreement was read again: %d, %v", n, err)
		}
		var readError string
		if err := db.Read().QueryRow(`SELECT read_error FROM subscription_agreements WHERE agreement_id = 'agmt-nosuchagreement0000000000'`).
			Scan(&readError); err != nil || readError == "" {
			t.Fatalf("read error %q, %v; want the API's refusal kept", readError, err)
		}
		w.apply(license("unreadable-2"))
		if _, err := w.svc.ReadAgreements(ctx, 20); !errors.Is(err, marketplace.ErrAgreementUnreadable) {
			t.Fatalf("after another event: %v, want it asked again", err)
		}
	})
}

// Credentials without the Agreement API's IAM actions are refused; the
// seller neither gives up on the agreement (the vendor may add the actions
// later) nor asks every few seconds: an hour later it looks again, and
// finds it (#13).
func TestAgreements_Issue13_NotPermittedIsTriedHourly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		flaky := &flakyAgreements{denied: true}
		flaky.failures.Store(1)
		w.withAgreements(func(r marketplace.AgreementReader) marketplace.AgreementReader {
			flaky.AgreementReader = r
			return flaky
		})
		ctx := context.Background()
		_, p, _ := w.linkedContract("denied@example.com", "Denied Org")
		calls := flaky.calls.Load()
		w.set(w.Now().Add(59 * time.Minute))
		if n, err := w.svc.ReadAgreements(ctx, 20); n != 0 || err != nil || flaky.calls.Load() != calls {
			t.Fatalf("asked again within the hour: %d read, %v, %d calls", n, err, flaky.calls.Load()-calls)
		}
		w.set(w.Now().Add(2 * time.Minute))
		if n, err := w.svc.ReadAgreements(ctx, 20); n != 1 || err != nil {
			t.Fatalf("after the hour: %d read, %v; want the agreement found and read", n, err)
		}
		if v, err := w.svc.AgreementOf(ctx, p.Subscription.ID); err != nil || v == nil || v.Status != "ACTIVE" {
			t.Fatalf("agreement after the policy was mended: %+v, %v", v, err)
		}
	})
}
