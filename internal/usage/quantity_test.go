package usage

import "testing"

func TestParseQuantity_ExactDecimalsNeverFloats(t *testing.T) {
	cases := []struct {
		in   string
		want Quantity
		err  error
	}{
		{"0", 0, nil},
		{"-0", 0, nil},
		{"3", 3_000_000, nil},
		{"12.5", 12_500_000, nil},
		{"0.000001", 1, nil},
		{"0.1", 100_000, nil},        // 0.1 is not exact in binary; here it is
		{"0.30000000", 300_000, nil}, // trailing zeros beyond six places are fine
		{"1e3", 1_000_000_000, nil},  // exponents
		{"2.5E-2", 25_000, nil},      // 0.025
		{"1E+2", 100_000_000, nil},   //
		{"123456789.123456", 123456789123456, nil},
		{"1000000000", MaxQuantity, nil},
		{"1000000000.000001", 0, errTooLarge},
		{"1e10", 0, errTooLarge},
		{"99999999999999999999999", 0, errTooLarge},
		{"0.0000001", 0, errTooPrecise},
		{"1e-7", 0, errTooPrecise},
		{"-1", 0, errNegative},
		{"-0.5", 0, errNegative},
		{"", 0, errEmptyQuantity},
		{"01", 0, errNotNumber},
		{"1.", 0, errNotNumber},
		{".5", 0, errNotNumber},
		{"1e", 0, errNotNumber},
		{"+1", 0, errNotNumber},
		{`"12"`, 0, errNotNumber},
		{"true", 0, errNotNumber},
		{"1 ", 0, errNotNumber},
	}
	for _, c := range cases {
		got, err := ParseQuantity(c.in)
		if err != c.err || got != c.want {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestQuantity_String(t *testing.T) {
	for q, want := range map[Quantity]string{0: "0", 1: "0.000001", 12_500_000: "12.5", 3_000_000: "3", -1_500_000: "-1.5"} {
		if got := q.String(); got != want {
			t.Errorf("Quantity(%d).String() = %q, want %q", int64(q), got, want)
		}
	}
}

func TestParseData_FastAndGeneralPathsAgree(t *testing.T) {
	cases := map[string]struct {
		want Quantity
		ok   bool
	}{
		`{"quantity":12.5}`:                 {12_500_000, true},
		`{ "quantity" : 12.5 }`:             {12_500_000, true},
		`{"quantity":1e3}`:                  {1_000_000_000, true},
		`{"unit":"GB","quantity":2}`:        {2_000_000, true}, // other members: general path
		`{"quantity":2,"unit":"GB"}`:        {2_000_000, true},
		`{"quantity":"2"}`:                  {0, false},
		`{"quantity":-2}`:                   {0, false},
		`{"quantity":1.2.3}`:                {0, false},
		`{"quantity":null}`:                 {0, false},
		`{"quantity":2`:                     {0, false},
		`{"qu\u0061ntity":2}`:               {2_000_000, true}, // escapes: general path
		`{"quantity":0.0000001}`:            {0, false},
		`{"quantity":{"value":1}}`:          {0, false},
		`[{"quantity":1}]`:                  {0, false},
		`{"quantity":1}` + "\n":             {1_000_000, true},
		`{"quantity":3,"quantity":4}`:       {4_000_000, true}, // as encoding/json: last wins
		`{"quantity":99999999999999999999}`: {0, false},
		`{"quantity":1000000000.000001}`:    {0, false},
		`{"quantity": 7 , "note": "a}"}`:    {7_000_000, true},
		`{"quantity":0}`:                    {0, true},
	}
	for in, c := range cases {
		got, err := parseData([]byte(in))
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("parseData(%s) = %d, %v; want %d, ok %v", in, got, err, c.want, c.ok)
		}
	}
}
