package mail_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// A mail exists exactly when the change that caused it committed.
func TestEnqueue_ExistsIffTransactionCommits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		boom := errors.New("the user's insert failed")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := o.Enqueue(ctx, tx, testMessage(1)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want the caller's error", err)
		}
		if n := countRows(t, db); n != 0 {
			t.Fatalf("%d mails after rollback, want 0", n)
		}

		var id int64
		if err := db.InTx(ctx, func(tx *sql.Tx) error {
			id, err = o.Enqueue(ctx, tx, testMessage(2))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got := get(t, o, id)
		want := mail.Stored{ID: id, Message: testMessage(2), Status: mail.StatusPending,
			CreatedAt: clk.Now(), NextAttemptAt: clk.Now()}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("stored mail (-want +got):\n%s", diff)
		}
	})
}

func TestEnqueue_RejectsInvalidMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := mail.NewOutbox(db, newClock().Now)
		if _, err := o.Enqueue(context.Background(), nil, mail.Message{To: []string{"nope"}}); err == nil {
			t.Fatal("Enqueue accepted an invalid message")
		}
		if n := countRows(t, db); n != 0 {
			t.Fatalf("%d mails stored, want 0", n)
		}
	})
}

func TestListAndGet_NewestFirstAndNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		o := mail.NewOutbox(db, newClock().Now)
		var ids []int64
		for i := range 3 {
			ids = append(ids, enqueue(t, o, testMessage(i)))
		}
		got, err := o.List(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		gotIDs := []int64{}
		for _, s := range got {
			gotIDs = append(gotIDs, s.ID)
		}
		if diff := cmp.Diff([]int64{ids[2], ids[1]}, gotIDs); diff != "" {
			t.Fatalf("List(2) ids (-want +got):\n%s", diff)
		}
		if _, err := o.Get(ctx, ids[2]+100); !errors.Is(err, mail.ErrNotFound) {
			t.Fatalf("Get(absent) = %v, want ErrNotFound", err)
		}
	})
}

func TestMessageValidate(t *testing.T) {
	ok := mail.Message{To: []string{"Ann <ann@example.com>", "bob@example.com"}, Subject: "Hi", Text: "hello"}
	tests := []struct {
		name   string
		edit   func(m *mail.Message)
		errors []string // substrings the error must hold; none means valid
	}{
		{"valid", func(*mail.Message) {}, nil},
		{"html only", func(m *mail.Message) { m.Text, m.HTML = "", "<p>hi</p>" }, nil},
		{"no recipients", func(m *mail.Message) { m.To = nil }, []string{"at least one recipient"}},
		{"bad address", func(m *mail.Message) { m.To = []string{"ann@example.com", "not an address"} }, []string{`to[1]: "not an address"`}},
		{"empty subject", func(m *mail.Message) { m.Subject = "  " }, []string{"subject: must not be empty"}},
		{"header injection", func(m *mail.Message) { m.Subject = "Hi\r\nBcc: x@evil.example" }, []string{"subject: must be one line"}},
		{"no body", func(m *mail.Message) { m.Text, m.HTML = "", " " }, []string{"text or HTML is required"}},
		{"all at once", func(m *mail.Message) { *m = mail.Message{To: []string{"@"}} },
			[]string{"to[0]", "subject: must not be empty", "text or HTML is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			m.To = append([]string(nil), ok.To...)
			tt.edit(&m)
			err := m.Validate()
			if len(tt.errors) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			for _, want := range tt.errors {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
