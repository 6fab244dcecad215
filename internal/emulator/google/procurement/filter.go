package procurement

import (
	"fmt"
	"strings"
)

// Filter is a parsed entitlements.list filter (§2.3): terms joined by AND.
type Filter []Term

// Term is one "attribute op value" comparison.
type Term struct {
	Attr  string // normalised attribute name
	Neg   bool   // != instead of =
	Value string
}

// attributes maps the accepted spellings to the normalised name.
var attributes = map[string]string{
	"account":                  "account",
	"customer_billing_account": "customer_billing_account",
	"product_external_name":    "product_external_name",
	"plan":                     "plan",
	"state":                    "state",
	"offer":                    "offer",
	"new_pending_plan":         "new_pending_plan",
	"newpendingplan":           "new_pending_plan",
	"new_pending_offer":        "new_pending_offer",
}

// ParseFilter reads the subset of the grammar the emulator supports:
// comparisons with = or != joined by AND (explicit or implicit). OR, NOT,
// parentheses, ':' membership and other attributes are refused with an
// error naming them, so a seller learns it leans on more than the contract
// promises.
func ParseFilter(s string) (Filter, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	var f Filter
	for i := 0; i < len(toks); {
		t := toks[i]
		if t.kind == tokWord && strings.EqualFold(t.text, "AND") && !t.quoted {
			if len(f) == 0 || i+1 == len(toks) {
				return nil, fmt.Errorf("filter: AND needs a comparison on both sides")
			}
			i++
			continue
		}
		if t.kind != tokWord || t.quoted {
			return nil, fmt.Errorf("filter: expected an attribute at %q", t.text)
		}
		switch strings.ToUpper(t.text) {
		case "OR", "NOT":
			return nil, fmt.Errorf("filter: %s is not supported by the emulator (use AND of = and != comparisons)", strings.ToUpper(t.text))
		}
		attr, ok := attributes[strings.ToLower(t.text)]
		if !ok {
			return nil, fmt.Errorf("filter: unsupported attribute %q (supported: account, customer_billing_account, product_external_name, plan, state, offer, new_pending_plan, new_pending_offer)", t.text)
		}
		if i+2 >= len(toks) || toks[i+1].kind != tokOp || toks[i+2].kind != tokWord {
			return nil, fmt.Errorf("filter: %s needs \"= value\" or \"!= value\"", t.text)
		}
		op := toks[i+1].text
		if op == ":" {
			return nil, fmt.Errorf("filter: ':' membership is not supported on %s", t.text)
		}
		f = append(f, Term{Attr: attr, Neg: op == "!=", Value: toks[i+2].text})
		i += 3
	}
	return f, nil
}

const (
	tokWord = iota
	tokOp
)

type token struct {
	kind   int
	text   string
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			return nil, fmt.Errorf("filter: parentheses are not supported by the emulator")
		case c == '=' || c == ':':
			out = append(out, token{kind: tokOp, text: string(c)})
			i++
		case c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, token{kind: tokOp, text: "!="})
				i += 2
				continue
			}
			return nil, fmt.Errorf("filter: stray '!' at offset %d", i)
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("filter: unterminated quoted value at offset %d", i)
			}
			out = append(out, token{kind: tokWord, text: b.String(), quoted: true})
			i = j + 1
		case isWord(c):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			out = append(out, token{kind: tokWord, text: s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("filter: unexpected %q at offset %d (quote values with characters other than letters, digits and _)", c, i)
		}
	}
	return out, nil
}

// isWord: letters, digits and _ (§2.3); '.', '-' and '/' too, because
// sellers write account=E-1234-... and plan names unquoted and Google's own
// samples do so.
func isWord(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// normState reads state values case-insensitively with optional prefix.
func normState(v string) string {
	v = strings.ToUpper(v)
	if !strings.HasPrefix(v, "ENTITLEMENT_") {
		v = "ENTITLEMENT_" + v
	}
	return v
}
