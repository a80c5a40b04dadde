package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Type is the JSON type of a parameter as help shows it, in Core's words.
type Type string

// Parameter types.
const (
	TypeString Type = "string"
	TypeHex    Type = "string (hex)"
	TypeNumber Type = "numeric"
	TypeBool   Type = "boolean"
	TypeAmount Type = "numeric or string" // QRY with up to 8 decimals, read with Params.Amount
	TypeObject Type = "json object"
	TypeArray  Type = "json array"
)

// Param declares one parameter of a method. The order of a method's Params is the
// order of positional parameters.
type Param struct {
	Name        string
	Type        Type
	Description string
	Required    bool
	// Default is the JSON value an optional parameter takes when the caller leaves it
	// out or passes null (for example "1", "true" or `"all"`). The getters return it,
	// and help shows it, so code and documentation cannot disagree. Leave it empty
	// when there is no fixed default and test Params.Has instead.
	Default string
}

// Params holds the parameters of one call, bound by name to the method's declared
// Params whether the caller sent them by position or by name.
//
// The getters do not return errors: the first failure is kept and reported by Err,
// so a handler reads all its parameters and checks once. Check Err before doing
// anything with side effects; the server also reports it in place of whatever the
// handler returns, so a forgotten check cannot answer with results computed from
// zero values. Reading an undeclared parameter is a bug and panics (the server
// answers -32603 and logs it).
type Params struct {
	method *Method
	values []json.RawMessage // indexed like method.Params; nil when absent or null
	err    *Error
}

// bindParams maps raw (a JSON array, object, null or nothing, as parseRequest
// guarantees) onto m's declared parameters and checks what can be checked without
// knowing the types: count, names, duplicates and required parameters.
func bindParams(m *Method, raw json.RawMessage) (*Params, *Error) {
	p := &Params{method: m, values: make([]json.RawMessage, len(m.Params))}
	switch JSONKind(raw) {
	case "array":
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, Errorf(CodeInvalidRequest, "Params must be an array or object")
		}
		if len(list) > len(m.Params) {
			return nil, Errorf(CodeMisc, "Too many parameters for %s: got %d, takes at most %d. Usage: %s",
				m.Name, len(list), len(m.Params), usage(m))
		}
		for i, v := range list {
			p.values[i] = nonNull(v)
		}
	case "object":
		seen := make([]bool, len(m.Params))
		// A token walk rather than a map, so that a name given twice is an error
		// instead of silently keeping the last value.
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil, Errorf(CodeInvalidRequest, "Params must be an array or object")
		}
		for dec.More() {
			tok, err := dec.Token()
			name, ok := tok.(string)
			if err != nil || !ok {
				return nil, Errorf(CodeInvalidRequest, "Params must be an array or object")
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, Errorf(CodeInvalidRequest, "Params must be an array or object")
			}
			i := m.paramIndex(name)
			if i < 0 {
				return nil, Errorf(CodeInvalidParameter, "Unknown named parameter %s", name)
			}
			if seen[i] {
				return nil, Errorf(CodeInvalidParameter, "Parameter %s specified multiple times", name)
			}
			seen[i] = true
			p.values[i] = nonNull(v)
		}
	}
	for i, d := range m.Params {
		if d.Required && p.values[i] == nil {
			return nil, Errorf(CodeMisc, "Missing required parameter '%s'. Usage: %s", d.Name, usage(m))
		}
	}
	return p, nil
}

// nonNull treats an explicit null as an absent parameter, as Core does for optional
// parameters, so callers can skip a positional parameter to reach a later one.
func nonNull(v json.RawMessage) json.RawMessage {
	if JSONKind(v) == "null" {
		return nil
	}
	return v
}

// JSONKind names the type of a JSON value in Core's words (uvTypeName); raw must be
// valid JSON or empty.
func JSONKind(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// Err returns the first error met by a getter, as an *Error, or nil.
func (p *Params) Err() error {
	if p.err == nil {
		return nil
	}
	return p.err
}

// Has reports whether the caller passed the parameter (null counts as not passed).
func (p *Params) Has(name string) bool {
	_, given := p.lookup(name)
	return given
}

// Raw returns the parameter's JSON, its declared Default when it was not passed, or
// nil when it has neither.
func (p *Params) Raw(name string) json.RawMessage {
	v, _ := p.lookup(name)
	return v
}

func (p *Params) lookup(name string) (v json.RawMessage, given bool) {
	i := p.method.paramIndex(name)
	if i < 0 {
		panic(fmt.Sprintf("rpc: method %s reads undeclared parameter %q", p.method.Name, name))
	}
	if p.values[i] != nil {
		return p.values[i], true
	}
	if d := p.method.Params[i].Default; d != "" {
		return json.RawMessage(d), false
	}
	return nil, false
}

// Fail records e as the call's error unless a getter has already recorded one,
// for checks a getter cannot make (a value out of range, a malformed hash), so
// that a handler reports the first bad parameter as Core does.
func (p *Params) Fail(e *Error) {
	if p.err == nil {
		p.err = e
	}
}

// typed returns the parameter's JSON if it has kind want; it records a type error
// and returns nil otherwise, and returns nil without error when the parameter has
// no value.
func (p *Params) typed(name, want string) json.RawMessage {
	v := p.Raw(name)
	if v == nil {
		return nil
	}
	if got := JSONKind(v); got != want {
		p.Fail(Errorf(CodeType, "Wrong type for parameter '%s': JSON value of type %s is not of expected type %s",
			name, got, want))
		return nil
	}
	return v
}

// String returns a string parameter, or "" when it is absent.
func (p *Params) String(name string) string {
	var s string
	if v := p.typed(name, "string"); v != nil {
		if err := json.Unmarshal(v, &s); err != nil {
			p.Fail(Errorf(CodeType, "Wrong type for parameter '%s': %v", name, err))
		}
	}
	return s
}

// Int returns an integer parameter, or 0 when it is absent. Range checks are the
// handler's (answer CodeInvalidParameter).
func (p *Params) Int(name string) int64 {
	v := p.typed(name, "number")
	if v == nil {
		return 0
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil {
		p.Fail(Errorf(CodeInvalidParameter, "Invalid parameter '%s': %s is not an integer in the 64-bit range",
			name, Clip(string(v))))
		return 0
	}
	return n
}

// Float returns a numeric parameter, or 0 when it is absent. Use Amount for amounts:
// a float64 cannot hold every amount exactly.
func (p *Params) Float(name string) float64 {
	v := p.typed(name, "number")
	if v == nil {
		return 0
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
	if err != nil {
		p.Fail(Errorf(CodeInvalidParameter, "Invalid parameter '%s': %s is out of range", name, Clip(string(v))))
		return 0
	}
	return f
}

// Bool returns a boolean parameter, or false when it is absent.
func (p *Params) Bool(name string) bool {
	v := p.typed(name, "bool")
	return v != nil && bytes.Equal(bytes.TrimSpace(v), []byte("true"))
}

// Hex returns the bytes of a hex string parameter, or nil when it is absent.
func (p *Params) Hex(name string) []byte {
	s := p.String(name)
	if s == "" {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		p.Fail(Errorf(CodeInvalidParameter, "%s must be hexadecimal string (not '%s')", name, Clip(s)))
		return nil
	}
	return b
}

// Amount returns an amount parameter in base units, or 0 when it is absent. As in
// Core, the amount is in QRY, given as a JSON number or a string, with at most 8
// decimals, and must lie between 0 and the 21,000,000 QRY money supply.
func (p *Params) Amount(name string) int64 {
	v := p.Raw(name)
	if v == nil {
		return 0
	}
	var text string
	switch JSONKind(v) {
	case "number":
		text = string(bytes.TrimSpace(v))
	case "string":
		if err := json.Unmarshal(v, &text); err != nil {
			p.Fail(Errorf(CodeType, "Invalid amount for parameter '%s'", name))
			return 0
		}
	default:
		p.Fail(Errorf(CodeType, "Amount for parameter '%s' is not a number or string", name))
		return 0
	}
	units, err := parseAmount(text)
	switch {
	case errors.Is(err, errAmountOutOfRange):
		p.Fail(Errorf(CodeType, "Amount out of range for parameter '%s'", name))
	case err != nil:
		p.Fail(Errorf(CodeType, "Invalid amount for parameter '%s'", name))
	}
	return units
}

// Decode unmarshals an object or array parameter (or any other) into dst with
// encoding/json, and leaves dst alone when the parameter is absent.
func (p *Params) Decode(name string, dst any) {
	v := p.Raw(name)
	if v == nil {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			p.Fail(Errorf(CodeType, "Wrong type for parameter '%s': JSON value of type %s is not of expected type %s",
				name, typeErr.Value, typeErr.Type))
			return
		}
		p.Fail(Errorf(CodeInvalidParameter, "Invalid parameter '%s': %v", name, err))
	}
}

// Clip shortens a caller's value quoted in an error message: a bad 4 MB hex block
// should not come back whole.
func Clip(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

const (
	unitsPerCoin = 100_000_000
	// maxAmount is the 21,000,000 QRY money supply (DESIGN.md). It bounds what an
	// amount parameter may say; consensus checks stay in package chain.
	maxAmount = 21_000_000 * unitsPerCoin
)

var (
	errInvalidAmount    = errors.New("invalid amount")
	errAmountOutOfRange = errors.New("amount out of range")
)

// parseAmount reads a decimal QRY amount (JSON number syntax: optional fraction and
// exponent) exactly into base units, as Core's ParseFixedPoint does, without going
// through a float.
func parseAmount(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	intPart, frac, hasFrac := strings.Cut(mant, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) || (hasFrac && frac == "") ||
		(len(intPart) > 1 && intPart[0] == '0') {
		return 0, errInvalidAmount
	}
	shift := 8 - len(frac) // decimal places to move left to get base units
	if hasExp {
		e, err := strconv.Atoi(exp)
		// Limit the exponent so that a hostile "1e999999999" costs nothing; no amount
		// needs more than a few dozen places either way.
		if err != nil || exp == "" || e < -100 || e > 100 {
			return 0, errInvalidAmount
		}
		shift += e
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	for shift < 0 && strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		shift++
	}
	if digits == "" {
		return 0, nil
	}
	if shift < 0 {
		return 0, errInvalidAmount // more than 8 decimals
	}
	if neg || len(digits)+shift > 16 {
		return 0, errAmountOutOfRange
	}
	units, err := strconv.ParseInt(digits+strings.Repeat("0", shift), 10, 64)
	if err != nil || units > maxAmount {
		return 0, errAmountOutOfRange
	}
	return units, nil
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Amount is an amount in base units that encodes to JSON as QRY with 8 decimals
// (50.00000000), as Core shows amounts. Use it for amount fields of results.
type Amount int64

// MarshalJSON writes the amount as a JSON number of QRY with exactly 8 decimals.
func (a Amount) MarshalJSON() ([]byte, error) {
	u, sign := uint64(a), ""
	if a < 0 {
		u, sign = -u, "-" // two's complement negation, right even for math.MinInt64
	}
	return fmt.Appendf(nil, "%s%d.%08d", sign, u/unitsPerCoin, u%unitsPerCoin), nil
}

// UnmarshalJSON reads an amount written as a JSON number of QRY, so that results
// decode into the types above without the rounding of a float64.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	neg := strings.HasPrefix(s, "-")
	units, err := parseAmount(strings.TrimPrefix(s, "-"))
	if err != nil {
		return fmt.Errorf("amount %s: %w", Clip(s), err)
	}
	if neg {
		units = -units
	}
	*a = Amount(units)
	return nil
}
