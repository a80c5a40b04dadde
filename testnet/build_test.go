package testnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestNodeBinaryBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the node")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	t.Setenv(NodeBinEnv, "")
	bin, err := NodeBinary()
	if err != nil {
		t.Fatal(err)
	}
	again, err := NodeBinary()
	if err != nil || again != bin {
		t.Errorf("second call gave %q, %v; want the same binary %q", again, err, bin)
	}
	if out, err := exec.Command(bin, "--help").CombinedOutput(); err != nil {
		t.Errorf("%s --help: %v\n%s", bin, err, out)
	}
}

func TestNodeBinaryEnvOverride(t *testing.T) {
	t.Setenv(NodeBinEnv, "/opt/quarry/node")
	if bin, err := NodeBinary(); err != nil || bin != "/opt/quarry/node" {
		t.Errorf("NodeBinary() = %q, %v; want $%s", bin, err, NodeBinEnv)
	}
}

func TestRemoveStaleBinDirs(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// A child that has exited gives a pid that no process has (until reused).
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(tmp, binDirPrefix+strconv.Itoa(cmd.Process.Pid)+"-1")
	alive := filepath.Join(tmp, binDirPrefix+strconv.Itoa(os.Getpid())+"-2")
	other := filepath.Join(tmp, binDirPrefix+"junk")
	for _, d := range []string{dead, alive, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	reused := processAlive(cmd.Process.Pid)
	removeStaleBinDirs()
	if _, err := os.Stat(dead); !os.IsNotExist(err) && !reused {
		t.Errorf("%s of an exited process was kept", dead)
	}
	for _, d := range []string{alive, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}
