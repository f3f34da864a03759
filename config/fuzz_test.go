package config

import (
	"testing"
)

// FuzzParse checks that no input panics the env expander, the line scanner
// or the decoder, and that a file that loads compares equal to itself.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		fullConfig,
		diffBase,
		fullAgentConfig,
		agentOK + agentBE + hookOK,
		zoneOK + gossipOK + "[overwatch.agent_tokens]\nwebapp = \"${X}\"\n\"a.b\" = \"0123456789abcdef\"\n",
		zoneOK + domainOK + backend + "health_check = { type = \"tcp\" }\n",
		"a = \"\"\"x\n${X}\"\"\"\nb = '''y'''\n[[c]]\n[c.d]\ne = [1, [2, {f = 3}]]\n",
		"mode = \"${X}\" # ${Y}\n\"k\\\"ey\" = 1\n",
	} {
		f.Add(seed)
	}
	env := mapEnv(map[string]string{"X": "a\"b\\c\nd"})
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parse("fuzz.toml", []byte(text), env)
		if err != nil {
			for _, e := range problemList(t, err) {
				if e.File != "fuzz.toml" {
					t.Fatalf("problem without the file name: %v", e)
				}
			}
			return
		}
		if d := Diff(c, c); len(d) != 0 {
			t.Fatalf("Diff(c, c) = %v", d)
		}
	})
}
