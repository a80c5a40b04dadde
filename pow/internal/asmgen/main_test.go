package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedUpToDate checks that the committed assembly is this program's
// output, so that nobody edits one without the other.
func TestGeneratedUpToDate(t *testing.T) {
	for file, gen := range map[string]func() []byte{"sha256d_amd64.s": generate, "sha256d_vec_amd64.s": generateVector} {
		committed, err := os.ReadFile("../../" + file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, gen()) {
			t.Errorf("pow/%s differs from the generator's output: run go generate in pow", file)
		}
	}
}

// TestGenerateDeterministic guards the golden comparison above against output that
// depends on map order or the like.
func TestGenerateDeterministic(t *testing.T) {
	if !bytes.Equal(generate(), generate()) || !bytes.Equal(generateVector(), generateVector()) {
		t.Fatal("two runs of a generator differ")
	}
}

func TestABEF(t *testing.T) {
	x, y := abef([8]uint32{0, 1, 2, 3, 4, 5, 6, 7})
	if x != [4]uint32{5, 4, 1, 0} || y != [4]uint32{7, 6, 3, 2} {
		t.Fatalf("abef: %v %v", x, y)
	}
}
