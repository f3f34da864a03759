package config

import (
	"testing"
)

func TestScanLines(t *testing.T) {
	text := `# comment = 1
mode = "overwatch" # trailing [table]
"quoted key" = 'a # not a comment'
dotted.key.path = 1

[dns]
zones = [
  "a.example.com",   # first
  "b.example.com",
]
multi = """
not = "a key"
[nor.a.table]
"""
literal = '''
x = 1'''

[ "overwatch" . identity ]
node_id = "x"

[[domains]]
name = "a"

[[domains]]
name = "b"
extra = { ttl = 5, nested = { deep = true } }

[[backends]]
service = "a"
[backends.health_check]
interval = "10s"

[[backends]]
[backends.health_check]
timeout = "2s"

inline = [{ a = 1 }, { a = 2,
  b = 3 }]
when = 1979-05-27 07:32:00Z
after = 1
`
	want := map[string]int{
		"mode":                               2,
		"quoted key":                         3,
		"dotted":                             4,
		"dotted.key":                         4,
		"dotted.key.path":                    4,
		"dns":                                6,
		"dns.zones":                          7,
		"dns.zones.0":                        8,
		"dns.zones.1":                        9,
		"dns.multi":                          11,
		"dns.literal":                        15,
		"overwatch":                          18,
		"overwatch.identity":                 18,
		"overwatch.identity.node_id":         19,
		"domains":                            21,
		"domains.0":                          21,
		"domains.0.name":                     22,
		"domains.1":                          24,
		"domains.1.name":                     25,
		"domains.1.extra":                    26,
		"domains.1.extra.ttl":                26,
		"domains.1.extra.nested.deep":        26,
		"backends.0":                         28,
		"backends.0.service":                 29,
		"backends.0.health_check":            30,
		"backends.0.health_check.interval":   31,
		"backends.1":                         33,
		"backends.1.health_check":            34,
		"backends.1.health_check.timeout":    35,
		"backends.1.health_check.inline.0":   37,
		"backends.1.health_check.inline.0.a": 37,
		"backends.1.health_check.inline.1.a": 37,
		"backends.1.health_check.inline.1.b": 38,
		"backends.1.health_check.when":       39,
		"backends.1.health_check.after":      40,
	}
	got := scanLines(text)
	for k, line := range want {
		if got[k] != line {
			t.Errorf("line of %q = %d, want %d", k, got[k], line)
		}
	}
	for _, k := range []string{"not", "nor", "nor.a.table", "x", "comment", "first"} {
		if _, ok := got[k]; ok {
			t.Errorf("%q recorded from inside a string or comment", k)
		}
	}
}

func TestDisplayKey(t *testing.T) {
	for in, want := range map[string]string{
		"mode":                             "mode",
		"domains.0.ttl":                    "domains[0].ttl",
		"backends.12.health_check.timeout": "backends[12].health_check.timeout",
		"dns.zones.1":                      "dns.zones[1]",
	} {
		if got := displayKey(in); got != want {
			t.Errorf("displayKey(%q) = %q, want %q", in, got, want)
		}
		if got := dottedKey(want); got != in {
			t.Errorf("dottedKey(%q) = %q, want %q", want, got, in)
		}
	}
}

func TestLineOfNil(t *testing.T) {
	var c *Config
	if c.LineOf("mode") != 0 {
		t.Error("LineOf on nil Config")
	}
}
