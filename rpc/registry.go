package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Method declares an RPC method. Everything a caller learns about the method (help,
// docs/rpc.md, parameter errors) comes from this declaration.
type Method struct {
	Name     string // lower case letters and digits, as Core's names
	Category string // the help section, e.g. "blockchain", "mining", "network"
	Summary  string // one line, shown by help and as the start of help METHOD
	Params   []Param
	// Result describes the result and its fields in Core's help style, e.g.
	//
	//	{
	//	  "blocks": n,    (numeric) the height of the most-work fully-validated chain
	//	  ...
	//	}
	Result string
	// Handler runs the call. It may return any value encoding/json can encode. An
	// error that is (or wraps) an *Error reaches the caller as it is; any other
	// error becomes CodeMisc with its message. ctx is cancelled when the caller
	// disconnects, or when the server stops and the deadline given to Stop passes.
	Handler func(ctx context.Context, p *Params) (any, error)
}

func (m *Method) paramIndex(name string) int {
	for i := range m.Params {
		if m.Params[i].Name == name {
			return i
		}
	}
	return -1
}

// Registry holds the methods a server offers. It is safe for concurrent use, so
// methods may be registered after the server has started.
type Registry struct {
	mu      sync.RWMutex
	methods map[string]*Method
}

// NewRegistry returns a registry that holds the built-in help method.
func NewRegistry() *Registry {
	r := &Registry{methods: make(map[string]*Method)}
	r.Register(Method{
		Name:     "help",
		Category: "control",
		Summary:  "Lists all commands, or gives help for the given command.",
		Params: []Param{
			{Name: "command", Type: TypeString, Description: "The command to get help on"},
		},
		Result: `"text"    (string) The help text`,
		Handler: func(_ context.Context, p *Params) (any, error) {
			command := p.String("command")
			if err := p.Err(); err != nil {
				return nil, err
			}
			return r.Help(command), nil
		},
	})
	return r
}

// Register adds methods to the registry. A malformed declaration or a name taken
// twice is a programming error, so it panics (as http.ServeMux.Handle does) and
// any test that builds the registry finds it.
func (r *Registry) Register(methods ...Method) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range methods {
		if err := m.check(); err != nil {
			panic(fmt.Sprintf("rpc: register %q: %v", m.Name, err))
		}
		if _, dup := r.methods[m.Name]; dup {
			panic(fmt.Sprintf("rpc: register %q: method already registered", m.Name))
		}
		m.Params = slices.Clone(m.Params) // so the caller cannot change it under us
		r.methods[m.Name] = &m
	}
}

func (m *Method) check() error {
	if m.Name == "" || strings.TrimLeft(m.Name, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return errors.New("name must be lower case letters and digits")
	}
	switch {
	case strings.TrimSpace(m.Category) == "":
		return errors.New("no category")
	case m.Summary == "" || strings.Contains(m.Summary, "\n"):
		return errors.New("summary must be one non-empty line")
	case strings.TrimSpace(m.Result) == "":
		return errors.New("no result description")
	case m.Handler == nil:
		return errors.New("no handler")
	}
	optional := false
	for i, p := range m.Params {
		switch {
		case p.Name == "" || strings.ContainsAny(p.Name, " \t\n\"'"):
			return fmt.Errorf("parameter %d: bad name %q", i+1, p.Name)
		case m.paramIndex(p.Name) != i:
			return fmt.Errorf("parameter %s declared twice", p.Name)
		case p.Type == "":
			return fmt.Errorf("parameter %s: no type", p.Name)
		case p.Required && optional:
			// Positional callers could not give it without the optional ones before it.
			return fmt.Errorf("required parameter %s after an optional one", p.Name)
		case p.Required && p.Default != "":
			return fmt.Errorf("required parameter %s has a default", p.Name)
		case p.Default != "" && !json.Valid([]byte(p.Default)):
			return fmt.Errorf("parameter %s: default %q is not JSON", p.Name, p.Default)
		case p.Default != "" && !defaultFits(p.Type, JSONKind(json.RawMessage(p.Default))):
			return fmt.Errorf("parameter %s: default %s is not of type %s", p.Name, p.Default, p.Type)
		}
		optional = optional || !p.Required
	}
	return nil
}

// defaultFits reports whether a default of JSON kind fits a parameter of type t,
// so that a getter never blames the caller for a wrong default. Types other than
// the package's constants are not checked.
func defaultFits(t Type, kind string) bool {
	switch t {
	case TypeString, TypeHex:
		return kind == "string"
	case TypeNumber:
		return kind == "number"
	case TypeBool:
		return kind == "bool"
	case TypeAmount:
		return kind == "number" || kind == "string"
	case TypeObject:
		return kind == "object"
	case TypeArray:
		return kind == "array"
	}
	return true
}

func (r *Registry) lookup(name string) *Method {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.methods[name]
}

// Call runs a method in process, exactly as the server would for a request with
// these params (nil, a slice for positional ones, a map or struct for named ones),
// and returns its JSON result or an *Error. It is meant for testing handlers
// without HTTP.
func (r *Registry) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := EncodeParams(method, params)
	if err != nil {
		return nil, err
	}
	m := r.lookup(method)
	if m == nil {
		return nil, Errorf(CodeMethodNotFound, "Method not found")
	}
	result, e := invoke(ctx, slog.Default(), m, raw)
	if e != nil {
		return nil, e
	}
	return result, nil
}

// Methods returns copies of the registered methods, sorted by category and name as
// help lists them.
func (r *Registry) Methods() []Method {
	r.mu.RLock()
	out := make([]Method, 0, len(r.methods))
	for _, m := range r.methods {
		out = append(out, *m)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Method) int {
		if c := strings.Compare(categoryTitle(a.Category), categoryTitle(b.Category)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// categoryTitle is how help heads a category: "blockchain" and "Blockchain" are the
// same section, "Blockchain".
func categoryTitle(c string) string {
	c = strings.ToLower(strings.TrimSpace(c))
	return strings.ToUpper(c[:1]) + c[1:]
}

// Help returns what the help method answers: with an empty command, every method by
// category with its summary; otherwise the usage, arguments and result of command,
// or Core's "help: unknown command: NAME".
func (r *Registry) Help(command string) string {
	if command == "" {
		return r.helpList()
	}
	m := r.lookup(command)
	if m == nil {
		return "help: unknown command: " + command
	}
	return methodHelp(m)
}

func (r *Registry) helpList() string {
	methods := r.Methods()
	width := 0
	for _, m := range methods {
		width = max(width, len(m.Name))
	}
	var b strings.Builder
	category := ""
	for _, m := range methods {
		if t := categoryTitle(m.Category); t != category {
			if category != "" {
				b.WriteString("\n")
			}
			category = t
			fmt.Fprintf(&b, "== %s ==\n", t)
		}
		fmt.Fprintf(&b, "%-*s  %s\n", width, m.Name, m.Summary)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// usage is the one-line synopsis Core puts first in help: string arguments quoted,
// optional ones in parentheses.
func usage(m *Method) string {
	var required, optional []string
	for _, p := range m.Params {
		arg := p.Name
		if p.Type == TypeString || p.Type == TypeHex {
			arg = `"` + arg + `"`
		}
		if p.Required {
			required = append(required, arg)
		} else {
			optional = append(optional, arg)
		}
	}
	parts := append([]string{m.Name}, required...)
	if len(optional) > 0 {
		parts = append(parts, "( "+strings.Join(optional, " ")+" )")
	}
	return strings.Join(parts, " ")
}

func methodHelp(m *Method) string {
	var b strings.Builder
	b.WriteString(usage(m))
	b.WriteString("\n\n")
	b.WriteString(m.Summary)
	b.WriteString("\n")
	if len(m.Params) > 0 {
		b.WriteString("\nArguments:\n")
		width := 0
		for _, p := range m.Params {
			width = max(width, len(p.Name))
		}
		for i, p := range m.Params {
			attrs := []string{string(p.Type)}
			switch {
			case p.Required:
				attrs = append(attrs, "required")
			case p.Default != "":
				attrs = append(attrs, "optional", "default="+p.Default)
			default:
				attrs = append(attrs, "optional")
			}
			prefix := fmt.Sprintf("%d. %-*s  ", i+1, width, p.Name)
			desc := fmt.Sprintf("(%s) %s", strings.Join(attrs, ", "), p.Description)
			// Continuation lines of a long description line up under its first line.
			indent := "\n" + strings.Repeat(" ", len(prefix))
			b.WriteString(strings.TrimRight(prefix+strings.ReplaceAll(desc, "\n", indent), " "))
			b.WriteString("\n")
		}
	}
	b.WriteString("\nResult:\n")
	b.WriteString(strings.Trim(m.Result, "\n"))
	return b.String()
}
