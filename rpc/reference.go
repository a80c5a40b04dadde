package rpc

import (
	"fmt"
	"os"
	"strings"
)

// DocsMarkdown renders the reference of every registered method (the text help
// gives for it, under a heading per category and method) and of the error codes, as
// Markdown for docs/rpc.md. Because it is made from the same declarations as help,
// the document cannot describe a method differently from the node; CheckDocs tells
// when the file on disk is out of date.
func DocsMarkdown(r *Registry) string {
	methods := r.Methods()
	var b strings.Builder
	b.WriteString("# Quarry JSON-RPC reference\n\n")
	b.WriteString("<!-- Generated from the method registry by rpc.DocsMarkdown; do not edit by hand. -->\n\n")
	b.WriteString("The node answers JSON-RPC 1.0 and 2.0 requests and batches by HTTP POST on its RPC\n")
	b.WriteString("address, with HTTP Basic auth (the `.cookie` file in the network's data directory, or\n")
	b.WriteString("`--rpc-user`/`--rpc-password`). Parameters may be given by position or by name. Each\n")
	b.WriteString("method below shows what `help METHOD` prints.\n")

	category := ""
	for _, m := range methods {
		if t := categoryTitle(m.Category); t != category {
			category = t
			fmt.Fprintf(&b, "\n## %s\n\n", t)
			for _, n := range methods {
				if categoryTitle(n.Category) == t {
					fmt.Fprintf(&b, "- [%s](#%s): %s\n", n.Name, n.Name, n.Summary)
				}
			}
		}
		fmt.Fprintf(&b, "\n### %s\n\n```text\n%s\n```\n", m.Name, methodHelp(&m))
	}

	b.WriteString("\n## Error codes\n\n")
	b.WriteString("Errors come as `{\"code\": N, \"message\": \"...\"}` with Bitcoin Core's codes:\n\n")
	b.WriteString("| Code | Name | Meaning |\n|---:|---|---|\n")
	for _, c := range codeNames {
		fmt.Fprintf(&b, "| %d | `%s` | %s |\n", c.code, c.name, c.desc)
	}
	return b.String()
}

// CheckDocs returns an error naming the first differing line when the file at path
// is not DocsMarkdown(r), so that a test fails as soon as a method changes without
// its documentation. The fix is to write DocsMarkdown(r) to path.
func CheckDocs(r *Registry, path string) error {
	have, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read RPC docs: %w", err)
	}
	want := DocsMarkdown(r)
	if string(have) == want {
		return nil
	}
	haveLines := strings.Split(string(have), "\n")
	wantLines := strings.Split(want, "\n")
	line := 0
	for line < len(haveLines) && line < len(wantLines) && haveLines[line] == wantLines[line] {
		line++
	}
	at := func(lines []string) string {
		if line < len(lines) {
			return fmt.Sprintf("%q", lines[line])
		}
		return "end of file"
	}
	return fmt.Errorf("%s is out of date with the RPC method registry: line %d is %s, want %s; regenerate it from rpc.DocsMarkdown",
		path, line+1, at(haveLines), at(wantLines))
}
