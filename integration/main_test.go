// Package integration runs the opengslb binary as operators do: built once,
// started with a configuration file on loopback ports, queried over real
// UDP and TCP, probed over HTTP, signalled and stopped. Nothing here reaches
// into the product's packages; every assertion is about what a client, a
// scraper or an operator's shell can observe.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binaryPath is the path of the opengslb executable under test, built by
// TestMain into a temporary directory.
var binaryPath string

// prebuiltBinaryEnv names a binary already built by the parent of a test
// process re-run inside a network namespace (netns_test.go).
const prebuiltBinaryEnv = "OPENGSLB_TEST_BINARY"

func TestMain(m *testing.M) {
	if bin := os.Getenv(prebuiltBinaryEnv); bin != "" {
		binaryPath = bin
		goleak.VerifyTestMain(m)
		return
	}
	dir, err := os.MkdirTemp("", "opengslb-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: temp dir:", err)
		os.Exit(1)
	}
	binaryPath = filepath.Join(dir, "opengslb")
	if err := buildBinary(binaryPath); err != nil {
		fmt.Fprintln(os.Stderr, "integration: cannot build the opengslb binary; no test ran:")
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	// goleak checks the test process (HTTP backends, DNS clients, the
	// goroutines exec starts per child), after every test's cleanup ran.
	goleak.VerifyTestMain(removeAfter{m: m, dir: dir})
}

// removeAfter deletes the binary's directory once the tests have run;
// VerifyTestMain exits the process, so a defer in TestMain would not run.
type removeAfter struct {
	m   *testing.M
	dir string
}

func (r removeAfter) Run() int {
	defer os.RemoveAll(r.dir)
	return r.m.Run()
}

// buildBinary compiles ./cmd/opengslb. When the tests themselves run with
// -race the binary is built with -race too, so a data race in the product
// makes it exit non-zero (66) and the harness's exit-code check fails.
func buildBinary(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/opengslb")
	cmd := exec.Command(goTool, args...)
	cmd.Dir = ".." // the module root; go test runs in the package directory
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, output)
	}
	return nil
}

// childEnv is the environment of every process the tests start. A race
// build sleeps a second at exit by default (so late reports can print);
// with dozens of short runs that is most of the suite's time, and the
// overwatch has stopped every goroutine by then anyway.
func childEnv() []string {
	env := os.Environ()
	if _, set := os.LookupEnv("GORACE"); raceEnabled && !set {
		env = append(env, "GORACE=atexit_sleep_ms=100")
	}
	return env
}
