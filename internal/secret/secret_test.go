package secret

import "testing"

func TestToken_UniqueAndHashedStably(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := Token()
		if len(tok) != 43 {
			t.Fatalf("token %q has %d characters, want 43 (256 bits)", tok, len(tok))
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
	if Hash("abc") != Hash("abc") || Hash("abc") == Hash("abd") {
		t.Fatal("Hash is not a stable function of the token")
	}
	if Hash("abc") == "abc" {
		t.Fatal("Hash returned the token itself")
	}
}
