package rpc

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

var paramsMethod = &Method{
	Name: "m",
	Params: []Param{
		{Name: "s", Type: TypeString, Required: true},
		{Name: "i", Type: TypeNumber, Default: "5"},
		{Name: "f", Type: TypeNumber},
		{Name: "b", Type: TypeBool, Default: "true"},
		{Name: "h", Type: TypeHex},
		{Name: "a", Type: TypeAmount},
		{Name: "o", Type: TypeObject},
	},
}

func mustBind(t *testing.T, raw string) *Params {
	t.Helper()
	p, e := bindParams(paramsMethod, json.RawMessage(raw))
	if e != nil {
		t.Fatalf("bind %s: %v", raw, e)
	}
	return p
}

func TestBindParams(t *testing.T) {
	for _, c := range []struct {
		raw  string
		code int
		msg  string
	}{
		{`["x"]`, 0, ""},
		{`{"s":"x","o":{}}`, 0, ""},
		{` [ "x" , null ] `, 0, ""},
		{``, CodeMisc, `Missing required parameter 's'. Usage: m "s" ( i f b "h" a o )`},
		{`[]`, CodeMisc, `Missing required parameter 's'. Usage: m "s" ( i f b "h" a o )`},
		{`[null]`, CodeMisc, `Missing required parameter 's'. Usage: m "s" ( i f b "h" a o )`},
		{`{"i":1}`, CodeMisc, `Missing required parameter 's'. Usage: m "s" ( i f b "h" a o )`},
		{`["x",1,2,true,"00",1,{},8]`, CodeMisc, `Too many parameters for m: got 8, takes at most 7. Usage: m "s" ( i f b "h" a o )`},
		{`{"s":"x","zz":1}`, CodeInvalidParameter, `Unknown named parameter zz`},
		{`{"s":"x","s":"y"}`, CodeInvalidParameter, `Parameter s specified multiple times`},
		{`{"s":"x","s":null}`, CodeInvalidParameter, `Parameter s specified multiple times`},
	} {
		_, e := bindParams(paramsMethod, json.RawMessage(c.raw))
		switch {
		case c.code == 0 && e != nil:
			t.Errorf("%s: %v", c.raw, e)
		case c.code != 0 && (e == nil || e.Code != c.code || e.Message != c.msg):
			t.Errorf("%s: got %v, want %d %q", c.raw, e, c.code, c.msg)
		}
	}
}

func TestGetters(t *testing.T) {
	p := mustBind(t, `{"s":"x","f":2.5,"h":"00ff","a":"1.5","o":{"k":[1,2]}}`)
	var o struct{ K []int }
	p.Decode("o", &o)
	if got := p.String("s"); got != "x" {
		t.Errorf("String = %q", got)
	}
	if got := p.Int("i"); got != 5 {
		t.Errorf("Int of absent i = %d, want its default 5", got)
	}
	if got := p.Float("f"); got != 2.5 {
		t.Errorf("Float = %v", got)
	}
	if got := p.Bool("b"); !got {
		t.Error("Bool of absent b is not its default true")
	}
	if got := p.Hex("h"); string(got) != "\x00\xff" {
		t.Errorf("Hex = %x", got)
	}
	if got := p.Amount("a"); got != 150_000_000 {
		t.Errorf("Amount = %d", got)
	}
	if len(o.K) != 2 || o.K[1] != 2 {
		t.Errorf("Decode = %+v", o)
	}
	if p.Has("i") || !p.Has("s") {
		t.Error("Has does not tell given parameters from defaults")
	}
	if string(p.Raw("i")) != "5" || p.Raw("a") == nil {
		t.Errorf("Raw(i) = %s", p.Raw("i"))
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}

	empty := mustBind(t, `["x"]`)
	if empty.Float("f") != 0 || empty.Hex("h") != nil || empty.Amount("a") != 0 || empty.Raw("f") != nil {
		t.Error("absent parameters without defaults are not zero")
	}
}

func TestGetterErrors(t *testing.T) {
	for _, c := range []struct {
		raw  string
		read func(p *Params)
		code int
		msg  string
	}{
		{`[5]`, func(p *Params) { p.String("s") }, CodeType,
			"Wrong type for parameter 's': JSON value of type number is not of expected type string"},
		{`["x","5"]`, func(p *Params) { p.Int("i") }, CodeType,
			"Wrong type for parameter 'i': JSON value of type string is not of expected type number"},
		{`["x",1.5]`, func(p *Params) { p.Int("i") }, CodeInvalidParameter,
			"Invalid parameter 'i': 1.5 is not an integer in the 64-bit range"},
		{`["x",99999999999999999999]`, func(p *Params) { p.Int("i") }, CodeInvalidParameter,
			"Invalid parameter 'i': 99999999999999999999 is not an integer in the 64-bit range"},
		{`["x",1,1e999]`, func(p *Params) { p.Float("f") }, CodeInvalidParameter,
			"Invalid parameter 'f': 1e999 is out of range"},
		{`["x",1,1,1]`, func(p *Params) { p.Bool("b") }, CodeType,
			"Wrong type for parameter 'b': JSON value of type number is not of expected type bool"},
		{`{"s":"x","h":"zz"}`, func(p *Params) { p.Hex("h") }, CodeInvalidParameter,
			"h must be hexadecimal string (not 'zz')"},
		{`{"s":"x","h":"abc"}`, func(p *Params) { p.Hex("h") }, CodeInvalidParameter,
			"h must be hexadecimal string (not 'abc')"},
		{`{"s":"x","a":true}`, func(p *Params) { p.Amount("a") }, CodeType,
			"Amount for parameter 'a' is not a number or string"},
		{`{"s":"x","a":0.000000001}`, func(p *Params) { p.Amount("a") }, CodeType,
			"Invalid amount for parameter 'a'"},
		{`{"s":"x","a":-1}`, func(p *Params) { p.Amount("a") }, CodeType,
			"Amount out of range for parameter 'a'"},
		{`{"s":"x","o":[1]}`, func(p *Params) { var o struct{}; p.Decode("o", &o) }, CodeType,
			"Wrong type for parameter 'o': JSON value of type array is not of expected type struct {}"},
		// The first failure is the one reported.
		{`[5,"x"]`, func(p *Params) { p.String("s"); p.Int("i") }, CodeType,
			"Wrong type for parameter 's': JSON value of type number is not of expected type string"},
	} {
		p := mustBind(t, c.raw)
		c.read(p)
		var e *Error
		if !errors.As(p.Err(), &e) || e.Code != c.code || e.Message != c.msg {
			t.Errorf("%s: got %v, want %d %q", c.raw, p.Err(), c.code, c.msg)
		}
	}
}

func TestUndeclaredParameterPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("reading an undeclared parameter did not panic")
		}
	}()
	mustBind(t, `["x"]`).String("nosuch")
}

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"1", 100_000_000, nil},
		{"0.00000001", 1, nil},
		{"1e-8", 1, nil},
		{"1E+2", 10_000_000_000, nil},
		{"12.345", 1_234_500_000, nil},
		{"0.100000000000", 10_000_000, nil},
		{"21000000", maxAmount, nil},
		{"0e99999", 0, errInvalidAmount},
		{"0.0e-50", 0, nil},
		{"21000000.00000001", 0, errAmountOutOfRange},
		{"1e20", 0, errAmountOutOfRange},
		{"-0.1", 0, errAmountOutOfRange},
		{"0.000000001", 0, errInvalidAmount},
		{"1e-9", 0, errInvalidAmount},
		{"1e999999999", 0, errInvalidAmount},
		{"", 0, errInvalidAmount},
		{".5", 0, errInvalidAmount},
		{"1.", 0, errInvalidAmount},
		{"01", 0, errInvalidAmount},
		{"1e", 0, errInvalidAmount},
		{"0x10", 0, errInvalidAmount},
		{"1 ", 0, errInvalidAmount},
	} {
		got, err := parseAmount(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("parseAmount(%q) = %d, %v; want %d, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	for _, c := range []struct {
		in   Amount
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{5_000_000_000, "50.00000000"},
		{-150_000_000, "-1.50000000"},
		{math.MinInt64, "-92233720368.54775808"},
	} {
		got, err := json.Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("%d: %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}
