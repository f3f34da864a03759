package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullConfig uses every key of the public contract.
const fullConfig = `# OpenGSLB overwatch
mode = "overwatch"
data_dir = "/srv/gslb"

[logging]
level = "debug"
format = "console"

[dns]
listen_address = "0.0.0.0:5353"
zones = ["GSLB.Example.com", "other.example.org."]
default_ttl = 45
nameservers = ["NS1.gslb.example.com", "ns2.gslb.example.com."]
hostmaster = "ops@example.com"
negative_ttl = 120

[metrics]
listen_address = "127.0.0.1:0"

[api]
listen_address = "[::1]:9090"

[overwatch.identity]
node_id = "overwatch-us-east-1"
region = "us-east"

[[domains]]
name = "webapp.gslb.example.com"
service = "web"
routing = "weighted"
ttl = 0
fallback = "servfail"

[[domains]]
name = "API.other.example.org."

[[backends]]
service = "web"
address = "10.0.1.10"
port = 80
weight = 0
priority = 0
region = "us-east"
[backends.health_check]
type = "https"
path = "/healthz"
host = "web.internal"
interval = "1d"
timeout = "3s"
failure_threshold = 5
success_threshold = 1
expected_status = [200, 204]
insecure_skip_verify = true

[[backends]]
service = "api"
address = "2001:DB8:0:0::1"
port = 8443
health_check = { type = "tcp", interval = "5s" }
`

func TestLoadFull(t *testing.T) {
	c := mustLoad(t, fullConfig)
	want := &Config{
		Mode:    "overwatch",
		DataDir: "/srv/gslb",
		Logging: Logging{Level: "debug", Format: "console"},
		DNS: DNS{
			ListenAddress: "0.0.0.0:5353",
			Zones:         []string{"gslb.example.com.", "other.example.org."},
			DefaultTTL:    45,
			Nameservers:   []string{"ns1.gslb.example.com.", "ns2.gslb.example.com."},
			Hostmaster:    "ops.example.com.",
			NegativeTTL:   120,
		},
		Metrics:   Listener{ListenAddress: "127.0.0.1:0"},
		API:       Listener{ListenAddress: "[::1]:9090"},
		Overwatch: &Overwatch{Identity: Identity{NodeID: "overwatch-us-east-1", Region: "us-east"}},
		Domains: []Domain{
			{Name: "webapp.gslb.example.com.", Service: "web", Routing: RoutingWeighted, TTL: 0, Fallback: FallbackServfail},
			{Name: "api.other.example.org.", Service: "api", Routing: RoutingRoundRobin, TTL: 45, Fallback: FallbackAll},
		},
		Backends: []Backend{
			{
				Service: "web", Address: "10.0.1.10", Port: 80, Weight: 0, Priority: 0, Region: "us-east",
				HealthCheck: HealthCheck{
					Type: CheckHTTPS, Path: "/healthz", Host: "web.internal",
					Interval: Duration{24 * time.Hour}, Timeout: Duration{3 * time.Second},
					FailureThreshold: 5, SuccessThreshold: 1, ExpectedStatus: []int{200, 204},
					InsecureSkipVerify: true,
				},
			},
			{
				Service: "api", Address: "2001:db8::1", Port: 8443, Weight: 100, Priority: 1,
				HealthCheck: HealthCheck{
					Type: CheckTCP, Interval: Duration{5 * time.Second}, Timeout: Duration{2 * time.Second},
					FailureThreshold: 3, SuccessThreshold: 2,
				},
			},
		},
	}
	want.Source, want.Lines = c.Source, c.Lines
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
	if !strings.HasSuffix(c.Source, "overwatch.toml") {
		t.Errorf("Source = %q", c.Source)
	}
	for key, line := range map[string]int{
		"mode":                             2,
		"dns.zones":                        11,
		"domains.1":                        34,
		"domains.1.name":                   35,
		"domains[1].name":                  35,
		"domains[1].ttl":                   34, // not written: its table
		"backends.0.health_check":          44,
		"backends[0].health_check.timeout": 49,
		"backends.1.health_check.interval": 59,
		"nope":                             0,
	} {
		if got := c.LineOf(key); got != line {
			t.Errorf("LineOf(%q) = %d, want %d", key, got, line)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t, `
[dns]
zones = ["gslb.example.com"]
[[domains]]
name = "webapp.gslb.example.com"
[[backends]]
service = "webapp"
address = "10.0.1.10"
port = 80
`)
	want := &Config{
		Mode:    ModeOverwatch,
		DataDir: "/var/lib/opengslb",
		Logging: Logging{Level: "info", Format: "json"},
		DNS: DNS{
			ListenAddress: "0.0.0.0:53",
			Zones:         []string{"gslb.example.com."},
			DefaultTTL:    30,
			NegativeTTL:   60,
		},
		Metrics: Listener{ListenAddress: "0.0.0.0:9091"},
		API:     Listener{ListenAddress: "127.0.0.1:9090"},
		Domains: []Domain{{Name: "webapp.gslb.example.com.", Service: "webapp", Routing: RoutingRoundRobin, TTL: 30, Fallback: FallbackAll}},
		Backends: []Backend{{
			Service: "webapp", Address: "10.0.1.10", Port: 80, Weight: 100, Priority: 1,
			HealthCheck: HealthCheck{
				Type: CheckHTTP, Path: "/health",
				Interval: Duration{10 * time.Second}, Timeout: Duration{2 * time.Second},
				FailureThreshold: 3, SuccessThreshold: 2, ExpectedStatus: []int{200},
			},
		}},
	}
	want.Source, want.Lines = c.Source, c.Lines
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
	if got := c.DNS.NameserversFor("gslb.example.com."); !reflect.DeepEqual(got, []string{"ns1.gslb.example.com."}) {
		t.Errorf("NameserversFor = %v", got)
	}
	if got := c.DNS.HostmasterFor("gslb.example.com"); got != "hostmaster.gslb.example.com." {
		t.Errorf("HostmasterFor = %q", got)
	}
}

func TestDomainTTLDefaultsToDefaultTTL(t *testing.T) {
	c := mustLoad(t, `
[dns]
zones = ["gslb.example.com"]
default_ttl = 7
[[domains]]
name = "a.gslb.example.com"
[[domains]]
name = "b.gslb.example.com"
ttl = 0
`)
	if c.Domains[0].TTL != 7 || c.Domains[1].TTL != 0 {
		t.Errorf("ttls = %d, %d; want 7 (default_ttl), 0 (explicit)", c.Domains[0].TTL, c.Domains[1].TTL)
	}
}

func TestAgentModeNeedsNoZones(t *testing.T) {
	c := mustLoad(t, `
mode = "agent"
[agent.identity]
node_id = "agent-1"
`)
	if c.Mode != ModeAgent || c.Agent == nil || c.Agent.Identity.NodeID != "agent-1" {
		t.Errorf("got %+v", c)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want one wrapping os.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("err = %q, want the component prefix", err)
	}
}

func TestBackendAddresses(t *testing.T) {
	tests := []struct {
		in, want string
		v6       bool
	}{
		{"10.0.1.10", "10.0.1.10", false},
		{"2001:DB8:0:0:0:0:0:1", "2001:db8::1", true},
		{"2001:0db8::0001", "2001:db8::1", true},
		{"::ffff:192.0.2.1", "192.0.2.1", false},
		{"::1", "::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := mustLoad(t, `
[dns]
zones = ["gslb.example.com"]
[[domains]]
name = "webapp.gslb.example.com"
[[backends]]
service = "webapp"
address = "`+tt.in+`"
port = 80
`)
			b := c.Backends[0]
			if b.Address != tt.want {
				t.Errorf("Address = %q, want %q", b.Address, tt.want)
			}
			if a := b.Addr(); a.String() != tt.want || a.Is6() != tt.v6 {
				t.Errorf("Addr() = %v (Is6 %v)", a, a.Is6())
			}
			if ap := b.AddrPort(); ap.Port() != 80 || ap.Addr() != b.Addr() {
				t.Errorf("AddrPort() = %v", ap)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	path := writeConfig(t, "broken.toml", "mode = \"overwatch\"\n\n[dns\nzones = []\n")
	_, err := Load(path)
	list := problemList(t, err)
	if len(list) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	if want := path + ":3: "; !strings.HasPrefix(list[0].Error(), want) {
		t.Errorf("got %q, want prefix %q", list[0], want)
	}
}

// TestAllProblemsAtOnce checks that one load reports every problem, in
// file order, and that a value that failed to decode is not reported a
// second time by validation.
func TestAllProblemsAtOnce(t *testing.T) {
	path := writeConfig(t, "overwatch.toml", `mode = "primary"
[dns]
zones = ["gslb.example.com"]
[[domains]]
name = "webapp.gslb.example.com"
routing = "rr"
[[backends]]
service = "webapp"
address = "10.0.0.1"
port = 70000
`)
	_, err := Load(path)
	got := problemList(t, err)
	want := []string{
		path + `:1: mode: must be "overwatch" or "agent", not "primary"`,
		path + `:6: domains[0].routing: must be one of "round-robin", "weighted", "failover", not "rr"`,
		path + `:10: backends[0].port: must be between 1 and 65535`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d", len(got), err, len(want))
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
