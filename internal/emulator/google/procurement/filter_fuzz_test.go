package procurement

import "testing"

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"account=a1 state=active", "product_external_name=\"p:q\" AND plan!=x", "(a OR b)", "state=\"", "!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFilter(s)
		if err != nil {
			return
		}
		for _, term := range fl {
			if _, ok := attributes[term.Attr]; !ok {
				t.Fatalf("unknown attribute %q accepted", term.Attr)
			}
		}
	})
}
