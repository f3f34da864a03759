package config

import (
	"os"
	"testing"
	"time"
	"fmt"
)

func FuzzZZ(f *testing.F) {
	for _, seed := range []string{
		fullConfig,
		diffBase,
		zoneOK + domainOK + backend + "health_check = { type = \"tcp\" }\n",
		"a = \"\"\"x\n${X}\"\"\"\nb = '''y'''\n[[c]]\n[c.d]\ne = [1, [2, {f = 3}]]\n",
		"mode = \"${X}\" # ${Y}\n\"k\\\"ey\" = 1\n",
	} {
		f.Add(seed)
	}
	env := mapEnv(map[string]string{"X": "a\"b\\c\nd"})
	f.Fuzz(func(t *testing.T, text string) {
		tm := time.AfterFunc(3*time.Second, func() {
			os.WriteFile(fmt.Sprintf("/tmp/hang-%d.toml", os.Getpid()), []byte(text), 0o644)
			panic("hang")
		})
		defer tm.Stop()
		c, err := parse("fuzz.toml", []byte(text), env)
		if err == nil { Diff(c, c) } else { problemList(t, err) }
	})
}
