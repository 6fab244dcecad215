package azuremp

import (
	"encoding/json"
	"testing"
	"time"
)

// TestSeats: every form the docs show, and nothing else.
func TestSeats(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Seats
		bad  bool
	}{
		{`20`, SeatCount(20), false}, {`"20"`, SeatCount(20), false}, {`" 20 "`, SeatCount(20), false}, {`20.0`, SeatCount(20), false},
		{`null`, Seats{}, false}, {`""`, Seats{}, false}, {`0`, SeatCount(0), false},
		{`-1`, Seats{}, true}, {`1.5`, Seats{}, true}, {`"twenty"`, Seats{}, true}, {`true`, Seats{}, true}, {`[1]`, Seats{}, true},
	} {
		var s Seats
		err := json.Unmarshal([]byte(tc.in), &s)
		if (err != nil) != tc.bad || !tc.bad && s != tc.want {
			t.Errorf("%s: %+v %v, want %+v (error %v)", tc.in, s, err, tc.want, tc.bad)
		}
	}
	var sub struct{ Quantity Seats }
	if err := json.Unmarshal([]byte(`{}`), &sub); err != nil || sub.Quantity.Valid {
		t.Errorf("absent: %+v %v", sub, err)
	}
}

// TestTime: seven fraction digits, no zone, a date alone, and the
// 0001-01-01 that means unset.
func TestTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{`"2022-03-04T00:00:00Z"`, time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC), false},
		{`"2021-12-04T19:48:06.7054737Z"`, time.Date(2021, 12, 4, 19, 48, 6, 705473700, time.UTC), false},
		{`"2018-12-01T08:30:14"`, time.Date(2018, 12, 1, 8, 30, 14, 0, time.UTC), false},
		{`"2020-01-12T11:03:28.14+01:00"`, time.Date(2020, 1, 12, 10, 3, 28, 140000000, time.UTC), false},
		{`"2019-05-31"`, time.Date(2019, 5, 31, 0, 0, 0, 0, time.UTC), false},
		{`"2020-12-03T15:00"`, time.Date(2020, 12, 3, 15, 0, 0, 0, time.UTC), false},
		{`"0001-01-01T00:00:00"`, time.Time{}, false}, {`null`, time.Time{}, false}, {`""`, time.Time{}, false},
		{`"yesterday"`, time.Time{}, true}, {`1700000000`, time.Time{}, true},
	} {
		var v Time
		err := json.Unmarshal([]byte(tc.in), &v)
		if (err != nil) != tc.bad || !v.Equal(tc.want) || !v.IsZero() && v.Location() != time.UTC {
			t.Errorf("%s: %v %v, want %v (error %v)", tc.in, v, err, tc.want, tc.bad)
		}
	}
}

// TestMicros: prices, JSON floats, read exactly without float arithmetic.
func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Micros
		bad  bool
	}{
		{`100.0`, 100_000_000, false}, {`0.01`, 10_000, false}, {`0.1`, 100_000, false}, {`1.5E-5`, 15, false},
		{`12000.5`, 12_000_500_000, false}, {`"9.99"`, 9_990_000, false}, {`0`, 0, false}, {`1e3`, 1_000_000_000, false},
		{`0.30000000000000004`, 0, true}, // a float's artefact is finer than a micro: refused, not rounded
		{`0.0000001`, 0, true}, {`1e30`, 0, true}, {`"cheap"`, 0, true}, {`1.`, 0, true}, {`.5`, 0, true}, {`--1`, 0, true},
	} {
		var m Micros
		err := json.Unmarshal([]byte(tc.in), &m)
		if (err != nil) != tc.bad || !tc.bad && m != tc.want {
			t.Errorf("%s: %d %v, want %d (error %v)", tc.in, m, err, tc.want, tc.bad)
		}
	}
	if s := Micros(10_000).String(); s != "0.010000" {
		t.Errorf("String %s", s)
	}
}

// TestParseDecimal: JSON number text to an exact decimal.
func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Decimal
		bad  bool
	}{
		{"5", Int(5), false}, {"5.0", Int(5), false}, {"-0.25", Decimal{Units: -25, Scale: 2}, false},
		{"1e3", Int(1000), false}, {"1.5E-2", Decimal{Units: 15, Scale: 3}, false}, {"1E+2", Int(100), false},
		{"-0", Decimal{}, false}, {"0.000", Decimal{}, false}, {"9223372036854775807", Int(9223372036854775807), false},
		{"1.000000000000000000000000000000", Int(1), false},
		{"9223372036854775808", Decimal{}, true}, {"1e-19", Decimal{}, true}, {"1e41", Decimal{}, true},
		{"", Decimal{}, true}, {"-", Decimal{}, true}, {"1e", Decimal{}, true}, {"1e+-2", Decimal{}, true},
		{"0x10", Decimal{}, true}, {"NaN", Decimal{}, true}, {"1.2.3", Decimal{}, true}, {" 1", Decimal{}, true},
	} {
		got, err := ParseDecimal(tc.in)
		if (err != nil) != tc.bad || !tc.bad && got != tc.want {
			t.Errorf("%q: %#v %v, want %#v (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
