package chain

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// declaredKinds reads every ErrorKind constant declared in errors.go, so that a
// kind added without its row in the rule table fails the test below.
func declaredKinds(t *testing.T) []ErrorKind {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []ErrorKind
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		fun, isIdent := call.Fun.(*ast.Ident)
		lit, isLit := call.Args[0].(*ast.BasicLit)
		if isIdent && fun.Name == "ErrorKind" && isLit && lit.Kind == token.STRING {
			kinds = append(kinds, ErrorKind(strings.Trim(lit.Value, `"`)))
		}
		return true
	})
	if len(kinds) < 40 {
		t.Fatalf("found only %d ErrorKind declarations in errors.go", len(kinds))
	}
	return kinds
}

// TestEveryKindHasARule walks every declared kind: each has one row with a
// reason and a fault for a loose transaction and for a block, and the table
// holds no row for a kind that is not declared.
func TestEveryKindHasARule(t *testing.T) {
	kinds := declaredKinds(t)
	for _, k := range kinds {
		r, ok := rules[k]
		switch {
		case !ok:
			t.Errorf("%s has no row in the rule table", k)
			continue
		case r.Reason == "" || strings.HasPrefix(r.Reason, "Err"):
			t.Errorf("%s: reason %q is not Core's", k, r.Reason)
		case r.Fault < FaultSender || r.Fault > FaultPolicy || r.InBlock < FaultSender || r.InBlock > FaultPolicy:
			t.Errorf("%s: faults %v and %v", k, r.Fault, r.InBlock)
		case r.Fault == FaultSender && r.InBlock != FaultSender:
			// What is wrong in a transaction by itself is wrong in any block.
			t.Errorf("%s: the sender's fault in a transaction but %v in a block", k, r.InBlock)
		}
		if k.Reason() != r.Reason {
			t.Errorf("%s: Reason() = %q, want %q", k, k.Reason(), r.Reason)
		}
	}
	if len(rules) != len(kinds) {
		t.Errorf("the table has %d rows for %d declared kinds", len(rules), len(kinds))
	}
}

func TestFaults(t *testing.T) {
	wrapped := func(k ErrorKind) error { return fmt.Errorf("process block: %w", NewRuleError(k, "details")) }
	for _, c := range []struct {
		err          error
		tx, block    Fault
		isRuleFailed bool
	}{
		{wrapped(ErrBadSignature), FaultSender, FaultSender, true},
		{wrapped(ErrMissingTxOut), FaultTime, FaultSender, true},
		{wrapped(ErrImmatureSpend), FaultTime, FaultSender, true},
		{wrapped(ErrUnfinalizedTx), FaultTime, FaultSender, true},
		{wrapped(ErrTimeTooNew), FaultTime, FaultTime, true},
		{wrapped(ErrDuplicateBlock), FaultPolicy, FaultPolicy, true},
		{errors.New("disk full"), 0, 0, false},
		{ErrHighS, 0, 0, false}, // a bare kind names a rule but reports no failure of it
	} {
		tx, ok := TxFault(c.err)
		block, okBlock := BlockFault(c.err)
		if tx != c.tx || block != c.block || ok != c.isRuleFailed || okBlock != c.isRuleFailed {
			t.Errorf("%v: TxFault %v %v, BlockFault %v %v; want %v, %v, %v", c.err, tx, ok, block, okBlock, c.tx, c.block, c.isRuleFailed)
		}
	}
	if got := ErrorKind("ErrNew").Rule(); got.Reason != "ErrNew" || got.Fault != FaultSender {
		t.Errorf("a kind without a row reads as %+v", got)
	}
}
