package rpc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHelpList(t *testing.T) {
	reg := testRegistry(nil)
	reg.Register(Method{
		Name: "getblockcount", Category: "Blockchain", Summary: "Returns the height of the best chain.",
		Result:  "n    (numeric) The height",
		Handler: func(context.Context, *Params) (any, error) { return 0, nil },
	})
	want := `== Blockchain ==
getblockcount  Returns the height of the best chain.

== Control ==
help           Lists all commands, or gives help for the given command.

== Test ==
echo           Returns its parameters.
fail           Fails with -8.
note           Counts its calls.
panic          Panics.
plainerr       Fails with a plain error.`
	if got := reg.Help(""); got != want {
		t.Errorf("help:\n%s\nwant:\n%s", got, want)
	}
}

func TestHelpMethod(t *testing.T) {
	reg := NewRegistry()
	reg.Register(Method{
		Name: "getblock", Category: "blockchain", Summary: "Returns information about a block.",
		Params: []Param{
			{Name: "blockhash", Type: TypeHex, Required: true, Description: "The block hash"},
			{Name: "verbosity", Type: TypeNumber, Default: "1",
				Description: "0 for hex-encoded data, 1 for a JSON object,\nand 2 for a JSON object with transaction data"},
		},
		Result:  "\n{\n  \"hash\" : \"hex\",    (string) the block hash\n  ...\n}\n",
		Handler: func(context.Context, *Params) (any, error) { return nil, nil },
	})
	want := `getblock "blockhash" ( verbosity )

Returns information about a block.

Arguments:
1. blockhash  (string (hex), required) The block hash
2. verbosity  (numeric, optional, default=1) 0 for hex-encoded data, 1 for a JSON object,
              and 2 for a JSON object with transaction data

Result:
{
  "hash" : "hex",    (string) the block hash
  ...
}`
	if got := reg.Help("getblock"); got != want {
		t.Errorf("help getblock:\n%s\nwant:\n%s", got, want)
	}
	if got := reg.Help("nosuch"); got != "help: unknown command: nosuch" {
		t.Errorf("help nosuch: %q", got)
	}
}

func TestRegisterRejectsBadMethods(t *testing.T) {
	ok := func() Method {
		return Method{Name: "ok", Category: "test", Summary: "Fine.", Result: "null",
			Handler: func(context.Context, *Params) (any, error) { return nil, nil }}
	}
	for name, change := range map[string]func(*Method){
		"empty name":         func(m *Method) { m.Name = "" },
		"upper case name":    func(m *Method) { m.Name = "getBlock" },
		"no category":        func(m *Method) { m.Category = " " },
		"no summary":         func(m *Method) { m.Summary = "" },
		"two-line summary":   func(m *Method) { m.Summary = "a\nb" },
		"no result":          func(m *Method) { m.Result = "" },
		"no handler":         func(m *Method) { m.Handler = nil },
		"taken name":         func(m *Method) { m.Name = "help" },
		"param without name": func(m *Method) { m.Params = []Param{{Type: TypeString}} },
		"param without type": func(m *Method) { m.Params = []Param{{Name: "a"}} },
		"param twice":        func(m *Method) { m.Params = []Param{{Name: "a", Type: TypeString}, {Name: "a", Type: TypeString}} },
		"required after option": func(m *Method) {
			m.Params = []Param{{Name: "a", Type: TypeString}, {Name: "b", Type: TypeString, Required: true}}
		},
		"required with default": func(m *Method) { m.Params = []Param{{Name: "a", Type: TypeNumber, Required: true, Default: "1"}} },
		"default not JSON":      func(m *Method) { m.Params = []Param{{Name: "a", Type: TypeString, Default: "abc"}} },
		"default of wrong type": func(m *Method) { m.Params = []Param{{Name: "a", Type: TypeNumber, Default: `"1"`}} },
	} {
		t.Run(name, func(t *testing.T) {
			m := ok()
			change(&m)
			defer func() {
				if recover() == nil {
					t.Error("Register accepted it")
				}
			}()
			NewRegistry().Register(m)
		})
	}
	NewRegistry().Register(ok()) // the baseline is fine
}

func TestRegisterCopiesParams(t *testing.T) {
	params := []Param{{Name: "a", Type: TypeString}}
	reg := NewRegistry()
	reg.Register(Method{Name: "m", Category: "test", Summary: "M.", Result: "null", Params: params,
		Handler: func(context.Context, *Params) (any, error) { return nil, nil }})
	params[0].Name = "changed"
	if !strings.Contains(reg.Help("m"), "1. a ") {
		t.Errorf("changing the caller's slice changed the method:\n%s", reg.Help("m"))
	}
}

func TestDocs(t *testing.T) {
	reg := testRegistry(nil)
	md := DocsMarkdown(reg)
	for _, want := range []string{
		"# Quarry JSON-RPC reference\n",
		"\n## Test\n\n- [echo](#echo): Returns its parameters.\n",
		"\n### echo\n\n```text\n" + reg.Help("echo") + "\n```\n",
		"| -8 | `RPC_INVALID_PARAMETER` |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("docs lack %q", want)
		}
	}

	path := filepath.Join(t.TempDir(), "rpc.md")
	if err := CheckDocs(reg, path); err == nil {
		t.Error("CheckDocs passed without the file")
	}
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDocs(reg, path); err != nil {
		t.Errorf("CheckDocs of fresh docs: %v", err)
	}
	reg.Register(Method{Name: "newmethod", Category: "test", Summary: "New.", Result: "null",
		Handler: func(context.Context, *Params) (any, error) { return nil, nil }})
	err := CheckDocs(reg, path)
	if err == nil || !strings.Contains(err.Error(), "out of date") || !strings.Contains(err.Error(), "newmethod") {
		t.Errorf("CheckDocs after adding a method: %v", err)
	}
}

func TestRegistryCall(t *testing.T) {
	reg := testRegistry(nil)
	got, err := reg.Call(t.Context(), "echo", map[string]any{"text": "hi", "flag": true})
	if err != nil || string(got) != `{"flag":true,"n":7,"text":"hi"}` {
		t.Errorf("echo: %s, %v", got, err)
	}
	for _, c := range []struct {
		method string
		params any
		code   int
	}{
		{"echo", nil, CodeMisc},
		{"echo", []any{1}, CodeType},
		{"fail", nil, CodeInvalidParameter},
		{"nosuch", nil, CodeMethodNotFound},
	} {
		_, err := reg.Call(t.Context(), c.method, c.params)
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code {
			t.Errorf("%s %v: %v, want code %d", c.method, c.params, err, c.code)
		}
	}
}
