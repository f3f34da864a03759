package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes text to name in a fresh temporary directory and
// returns its path.
func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad writes and loads a file that must be valid.
func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Load(writeConfig(t, "overwatch.toml", text))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// problemList flattens the joined error Load returns.
func problemList(t *testing.T, err error) []*Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var list []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not a *config.Error", err, err)
		}
		list = append(list, e)
	}
	walk(err)
	return list
}

// markedLine returns the 1-based line of text that carries the marker
// comment "#!", which is where a test expects its error.
func markedLine(t *testing.T, text string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "#!") {
			return i + 1
		}
	}
	t.Fatalf("no #! marker in\n%s", text)
	return 0
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}
