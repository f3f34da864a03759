package config

import (
	"os"
	"testing"
	"time"
	"fmt"
)

func FuzzZZ(f *testing.F) {
	f.Add(fullConfig)
	f.Add("a = \"\"\"x\n${X}\"\"\"\nb = '''y'''\n[[c]]\n[c.d]\ne = [1, [2, {f = 3}]]\n")
	env := mapEnv(map[string]string{"X": "a\"b\\c\nd"})
	f.Fuzz(func(t *testing.T, text string) {
		done := make(chan struct{})
		tm := time.AfterFunc(3*time.Second, func() {
			os.WriteFile(fmt.Sprintf("/tmp/hang-%d.toml", os.Getpid()), []byte(text), 0o644)
			panic("hang")
		})
		defer tm.Stop()
		parse("fuzz.toml", []byte(text), env)
		close(done)
	})
}
