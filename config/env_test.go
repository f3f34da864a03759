package config

import (
	"fmt"
	"strings"
	"testing"
)

const envBase = zoneOK + "[overwatch.identity]\n"

func TestEnvExpansion(t *testing.T) {
	tests := []struct {
		name  string
		value string // NODE's value
		line  string // the region line, referencing ${NODE}
		want  string // decoded region
	}{
		{"plain", "overwatch-1", `region = "${NODE}"`, "overwatch-1"},
		{"inside text", "1", `region = "overwatch-${NODE}-east"`, "overwatch-1-east"},
		{"quotes", `say "hi"`, `region = "${NODE}"`, `say "hi"`},
		{"backslashes", `C:\temp\"x`, `region = "${NODE}"`, `C:\temp\"x`},
		{"newline and tab", "a\nb\tc\x01", `region = "${NODE}"`, "a\nb\tc\x01"},
		{"toml in value", "x\"\nmode = \"agent", `region = "${NODE}"`, "x\"\nmode = \"agent"},
		{"empty but set", "", `region = "${NODE}"`, ""},
		{"multi-line basic string", `q"""`, "region = \"\"\"${NODE}\"\"\"", `q"""`},
		{"escaped reference", "unused", `region = "$${NODE}"`, "${NODE}"},
		{"lone dollar", "unused", `region = "$5 and $NODE"`, "$5 and $NODE"},
		{"reference in comment", "unused", `region = "x" # ${UNSET_IN_COMMENT}`, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := envBase + tt.line + "\n"
			c, err := parse("overwatch.toml", []byte(text), mapEnv(map[string]string{"NODE": tt.value}))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := c.Overwatch.Identity.Region; got != tt.want {
				t.Errorf("region = %q, want %q", got, tt.want)
			}
			if c.Mode != ModeOverwatch {
				t.Errorf("mode = %q: the value leaked into the file", c.Mode)
			}
		})
	}
}

// TestEnvKeepsLines checks that a value with newlines does not shift the
// lines of later errors.
func TestEnvKeepsLines(t *testing.T) {
	text := "[overwatch.identity]\nregion = \"${NODE}\"\n" + zoneOK + "[logging]\nlevel = \"loud\" #!\n"
	_, err := parse("overwatch.toml", []byte(text), mapEnv(map[string]string{"NODE": "a\nb\nc"}))
	want := fmt.Sprintf("overwatch.toml:%d: logging.level: ", markedLine(t, text))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want prefix %q", err, want)
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		msg  string
	}{
		{"unset", envBase + "region = \"${GSLB_UNSET}\" #!\n", "environment variable GSLB_UNSET is not set"},
		{"unset later in file", envBase + "node_id = \"x\"\n\n\nregion = \"a-${GSLB_UNSET}\" #!\n", "environment variable GSLB_UNSET is not set"},
		{"outside a string", zoneOK + "default_ttl = ${TTL} #!\n", "${TTL}: environment references must be inside a double-quoted string"},
		{"literal string", envBase + "region = '${NODE}' #!\n", "need a double-quoted string, not a literal"},
		{"multi-line literal string", envBase + "region = '''\n${NODE}''' #!\n", "need a double-quoted string, not a literal"},
		{"bad name", envBase + "region = \"${NO-DE}\" #!\n", "${NO-DE}: invalid environment variable name"},
		{"empty name", envBase + "region = \"${}\" #!\n", "${}: invalid environment variable name"},
		{"unterminated", envBase + "region = \"${NODE\" #!\n", "unterminated ${"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "overwatch.toml", tt.text)
			t.Setenv("NODE", "n")
			_, err := Load(path)
			list := problemList(t, err)
			if len(list) != 1 {
				t.Fatalf("want one problem, got %d: %v", len(list), err)
			}
			want := fmt.Sprintf("%s:%d: ", path, markedLine(t, tt.text))
			if got := list[0].Error(); !strings.HasPrefix(got, want) || !strings.Contains(got, tt.msg) {
				t.Errorf("got  %s\nwant %s...%s", got, want, tt.msg)
			}
		})
	}
}

// TestEnvAllUnsetReported checks that every unset variable is named, and
// that the empty values standing in for them cause no further errors.
func TestEnvAllUnsetReported(t *testing.T) {
	text := zoneOK + "[api]\nlisten_address = \"${API_ADDR}\"\n[overwatch.identity]\nregion = \"${NODE_ID}\"\n"
	_, err := parse("o.toml", []byte(text), mapEnv(nil))
	want := "o.toml:4: environment variable API_ADDR is not set\no.toml:6: environment variable NODE_ID is not set"
	if err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%s", err, want)
	}
}

func TestParseUsesProcessEnvironment(t *testing.T) {
	t.Setenv("GSLB_TEST_NODE", `node "one"`)
	c, err := Parse("inline.toml", []byte(envBase+`region = "${GSLB_TEST_NODE}"`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Overwatch.Identity.Region != `node "one"` || c.Source != "inline.toml" {
		t.Errorf("got %+v", c)
	}
}

func TestEnvManyStrayReferences(t *testing.T) {
	text := zoneOK + "a = \"" + strings.Repeat("${", 200000) + "\"\n"
	_, err := parse("big.toml", []byte(text), mapEnv(nil))
	list := problemList(t, err)
	if len(list) != maxProblems+1 || !strings.Contains(list[0].Error(), "big.toml:3: unterminated ${") {
		t.Fatalf("got %d problems, first %v", len(list), list[0])
	}
	if want := fmt.Sprintf("big.toml: %d more problems not shown", 200000-maxProblems); list[maxProblems].Error() != want {
		t.Errorf("last problem %q, want %q", list[maxProblems], want)
	}
}
