package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindAndMessage(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		kind    Kind
		message string
	}{
		{"plain error is internal and hidden", errors.New("pq: secret detail"), KindInternal, Message(errors.New("x"))},
		{"wrapped kind survives %w", fmt.Errorf("link: %w", New(KindConflict, "already linked")), KindConflict, "already linked"},
		{"validation", Validation(Field("email", "enter an e-mail address")), KindInvalid, "Please correct the highlighted fields."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			if got := Message(tt.err); got != tt.message {
				t.Errorf("Message = %q, want %q", got, tt.message)
			}
		})
	}
}

func TestFields_CollectsEveryFieldOnce(t *testing.T) {
	err := fmt.Errorf("register: %w", Validation(
		Field("email", "enter an e-mail address"),
		Field("password", "use at least 10 characters"),
		Field("email", "second message is dropped"),
	))
	got := Fields(err)
	want := map[string]string{"email": "enter an e-mail address", "password": "use at least 10 characters"}
	if len(got) != len(want) {
		t.Fatalf("Fields = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Fields[%q] = %q, want %q", k, got[k], v)
		}
	}
	if Validation() != nil {
		t.Error("Validation() with no errors is not nil")
	}
}
