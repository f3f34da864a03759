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

[overwatch.agent_tokens]
web = "web-token-0123456789"
"api" = "api-token-0123456789"

[overwatch.gossip]
bind_address = "10.0.0.1:7947"
advertise_address = "203.0.113.7"
encryption_key = "` + testKey32 + `"
join = ["overwatch-us-west-1.internal:7946", "[2001:db8::2]:7946"]

[overwatch.validation]
enabled = false
check_interval = "1m"
check_timeout = "10s"

[overwatch.stale]
threshold = "45s"
remove_after = "1d"

[[hooks]]
event = "member-failed"
command = "/usr/local/bin/notify.sh"
timeout = "5s"

[[hooks]]
event = "user:deploy"
command = "logger deploy"

[overwatch.dnssec]
enabled = false
algorithm = "ED25519"
denial = "nsec"
signature_validity = "30d"

[overwatch.dnssec.key_sync]
peers = ["https://overwatch-us-west-1.internal:9090", "https://[2001:db8::2]:9090"]
poll_interval = "10m"
timeout = "5s"
token = "sync-token-0123456789"
`

// testKey32 and testKey16 are gossip keys (base64 of 32 and 16 bytes).
const (
	testKey32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	testKey16 = "MDEyMzQ1Njc4OWFiY2RlZg=="
)

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
		Metrics: Listener{ListenAddress: "127.0.0.1:0"},
		API:     API{ListenAddress: "[::1]:9090", AllowedNetworks: []string{"127.0.0.0/8", "::1/128"}},
		Overwatch: &Overwatch{
			Identity:    Identity{NodeID: "overwatch-us-east-1", Region: "us-east"},
			AgentTokens: map[string]string{"web": "web-token-0123456789", "api": "api-token-0123456789"},
			Gossip: &OverwatchGossip{
				BindAddress:      "10.0.0.1:7947",
				AdvertiseAddress: "203.0.113.7",
				EncryptionKey:    testKey32,
				Join:             []string{"overwatch-us-west-1.internal:7946", "[2001:db8::2]:7946"},
			},
			Validation: Validation{Enabled: false, CheckInterval: Duration{time.Minute}, CheckTimeout: Duration{10 * time.Second}},
			Stale:      Stale{Threshold: Duration{45 * time.Second}, RemoveAfter: Duration{24 * time.Hour}},
			DNSSEC: DNSSEC{Enabled: false, Algorithm: AlgorithmED25519, Denial: DenialNSEC, SignatureValidity: Duration{30 * 24 * time.Hour},
				KeySync: KeySync{
					Peers:        []string{"https://overwatch-us-west-1.internal:9090", "https://[2001:db8::2]:9090"},
					PollInterval: Duration{10 * time.Minute}, Timeout: Duration{5 * time.Second}, Token: "sync-token-0123456789",
				}},
		},
		Hooks: []Hook{
			{Event: HookMemberFailed, Command: "/usr/local/bin/notify.sh", Timeout: Duration{5 * time.Second}},
			{Event: "user:deploy", Command: "logger deploy", Timeout: Duration{30 * time.Second}},
		},
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
		"overwatch.agent_tokens.api":       63,
		"overwatch.gossip.encryption_key":  68,
		"hooks[1].event":                   86,
		"hooks[1].timeout":                 85,
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
		API:     API{ListenAddress: "127.0.0.1:9090", AllowedNetworks: []string{"127.0.0.0/8", "::1/128"}},
		Domains: []Domain{{Name: "webapp.gslb.example.com.", Service: "webapp", Routing: RoutingRoundRobin, TTL: 30, Fallback: FallbackAll}},
		Backends: []Backend{{
			Service: "webapp", Address: "10.0.1.10", Port: 80, Weight: 100, Priority: 1,
			HealthCheck: HealthCheck{
				Type: CheckHTTP, Path: "/health",
				Interval: Duration{10 * time.Second}, Timeout: Duration{2 * time.Second},
				FailureThreshold: 3, SuccessThreshold: 2, ExpectedStatus: []int{200},
			},
		}},
		// Allocated in overwatch mode with its defaults; no gossip.
		Overwatch: &Overwatch{
			Identity:   Identity{NodeID: testHostname(t)},
			Validation: Validation{Enabled: true, CheckInterval: Duration{30 * time.Second}, CheckTimeout: Duration{5 * time.Second}},
			Stale:      Stale{Threshold: Duration{30 * time.Second}, RemoveAfter: Duration{5 * time.Minute}},
			// DNSSEC is on unless the file turns it off (the HA guide's default).
			DNSSEC: DNSSEC{Enabled: true, Algorithm: AlgorithmECDSAP256, Denial: DenialNSEC3, SignatureValidity: Duration{14 * 24 * time.Hour},
				KeySync: KeySync{PollInterval: Duration{time.Hour}, Timeout: Duration{30 * time.Second}}},
		},
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

// testHostname is the default node_id: the host name in lower case.
func testHostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	return strings.ToLower(h)
}

// fullAgentConfig uses every key of an agent's file.
const fullAgentConfig = `mode = "agent"
data_dir = "/var/lib/opengslb"

[api]
listen_address = "127.0.0.1:9090"

[metrics]
listen_address = "0.0.0.0:9091"

[agent.identity]
node_id = "web-1"
region = "us-east"

[agent.service_tokens]
webapp = "${WEBAPP_TOKEN}"

[agent.gossip]
bind_address = "0.0.0.0:7946"
advertise_address = "[2001:db8::7]:7946"
encryption_key = "${GOSSIP_KEY}"
overwatch_nodes = ["overwatch-us-east-1.internal:7946", "overwatch-us-west-1.internal:7946"]

[agent.heartbeat]
interval = "15s"

[[agent.backends]]
service = "webapp"
address = "10.0.1.10"
port = 8080
weight = 100
[agent.backends.health_check]
type = "http"
path = "/health"
interval = "2s"
timeout = "1s"
failure_threshold = 2
success_threshold = 1

[[agent.backends]]
service = "webapp"
address = "10.0.1.10"
port = 8081

[[hooks]]
event = "backend-health"
command = "/usr/local/bin/notify.sh"
`

// agentEnv is the environment fullAgentConfig refers to.
var agentEnv = map[string]string{"WEBAPP_TOKEN": "s3cr3t-webapp-token-value", "GOSSIP_KEY": testKey32}

func TestLoadAgentFull(t *testing.T) {
	c, err := parse("agent.toml", []byte(fullAgentConfig), mapEnv(agentEnv))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	defaultCheck := HealthCheck{
		Type: CheckHTTP, Path: "/health",
		Interval: Duration{10 * time.Second}, Timeout: Duration{2 * time.Second},
		FailureThreshold: 3, SuccessThreshold: 2, ExpectedStatus: []int{200},
	}
	want := &Config{
		Mode:    ModeAgent,
		DataDir: "/var/lib/opengslb",
		Logging: Logging{Level: "info", Format: "json"},
		DNS:     DNS{ListenAddress: "0.0.0.0:53", DefaultTTL: 30, NegativeTTL: 60},
		Metrics: Listener{ListenAddress: "0.0.0.0:9091"},
		API:     API{ListenAddress: "127.0.0.1:9090", AllowedNetworks: []string{"127.0.0.0/8", "::1/128"}},
		Hooks:   []Hook{{Event: HookBackendHealth, Command: "/usr/local/bin/notify.sh", Timeout: Duration{30 * time.Second}}},
		Agent: &Agent{
			Identity:      Identity{NodeID: "web-1", Region: "us-east"},
			ServiceTokens: map[string]string{"webapp": "s3cr3t-webapp-token-value"},
			Gossip: AgentGossip{
				BindAddress:      "0.0.0.0:7946",
				AdvertiseAddress: "[2001:db8::7]:7946",
				EncryptionKey:    testKey32,
				OverwatchNodes:   []string{"overwatch-us-east-1.internal:7946", "overwatch-us-west-1.internal:7946"},
			},
			Heartbeat: Heartbeat{Interval: Duration{15 * time.Second}},
			Backends: []Backend{
				{
					Service: "webapp", Address: "10.0.1.10", Port: 8080, Weight: 100, Priority: 1,
					HealthCheck: HealthCheck{
						Type: CheckHTTP, Path: "/health",
						Interval: Duration{2 * time.Second}, Timeout: Duration{time.Second},
						FailureThreshold: 2, SuccessThreshold: 1, ExpectedStatus: []int{200},
					},
				},
				{Service: "webapp", Address: "10.0.1.10", Port: 8081, Weight: 100, Priority: 1, HealthCheck: defaultCheck},
			},
		},
	}
	want.Source, want.Lines = c.Source, c.Lines
	if !reflect.DeepEqual(c, want) {
		t.Errorf("parse:\n got %+v\nwant %+v", c, want)
	}
	for key, line := range map[string]int{
		"agent.service_tokens.webapp":             15,
		"agent.gossip.overwatch_nodes[1]":         21,
		"agent.backends[0].health_check.timeout":  35,
		"agent.backends[1].port":                  42,
		"agent.backends[1].health_check.interval": 39, // not written: its table
	} {
		if got := c.LineOf(key); got != line {
			t.Errorf("LineOf(%q) = %d, want %d", key, got, line)
		}
	}
	if c.NodeID() != "web-1" || c.Region() != "us-east" {
		t.Errorf("NodeID, Region = %q, %q", c.NodeID(), c.Region())
	}
	if got := c.CheckedBackends(); !reflect.DeepEqual(got, c.Agent.Backends) {
		t.Errorf("CheckedBackends = %v, want the agent's", got)
	}
}

func TestLoadAgentDefaults(t *testing.T) {
	c, err := parse("agent.toml", []byte(`mode = "agent"
[agent.service_tokens]
webapp = "0123456789abcdef"
[agent.gossip]
encryption_key = "`+testKey16+`"
overwatch_nodes = ["10.0.0.1:7946"]
[[agent.backends]]
service = "webapp"
address = "10.0.1.10"
port = 80
[[hooks]]
event = "*"
command = "true"
`), mapEnv(nil))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	a := c.Agent
	if a.Identity.NodeID != testHostname(t) || c.NodeID() != a.Identity.NodeID || c.Region() != "" {
		t.Errorf("node_id = %q, want the host name %q", a.Identity.NodeID, testHostname(t))
	}
	if a.Gossip.BindAddress != "0.0.0.0:7946" || a.Gossip.AdvertiseAddress != "" {
		t.Errorf("gossip = %+v", a.Gossip)
	}
	if a.Heartbeat.Interval.Duration != 10*time.Second {
		t.Errorf("heartbeat = %v", a.Heartbeat.Interval)
	}
	if c.Hooks[0].Timeout.Duration != 30*time.Second {
		t.Errorf("hook timeout = %v", c.Hooks[0].Timeout)
	}
	// [[agent.backends]] take the defaults of [[backends]].
	static := mustLoad(t, zoneOK+domainOK+backend)
	if !reflect.DeepEqual(a.Backends, static.Backends) {
		t.Errorf("agent backend %+v\nwant        %+v", a.Backends, static.Backends)
	}
	if c.Overwatch != nil || len(c.Domains) != 0 {
		t.Errorf("an agent got overwatch tables: %+v", c)
	}
	if key, err := c.GossipKey(); err != nil || string(key) != "0123456789abcdef" {
		t.Errorf("GossipKey = %q, %v", key, err)
	}
}

func TestOverwatchModeAccessors(t *testing.T) {
	c := mustLoad(t, fullConfig)
	if c.NodeID() != "overwatch-us-east-1" || c.Region() != "us-east" {
		t.Errorf("NodeID, Region = %q, %q", c.NodeID(), c.Region())
	}
	if got := c.CheckedBackends(); len(got) != 2 || &got[0] != &c.Backends[0] {
		t.Errorf("CheckedBackends = %v, want the static backends", got)
	}
	key, err := c.GossipKey()
	if err != nil || string(key) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("GossipKey = %q, %v", key, err)
	}

	// No [overwatch.gossip]: gossip is off, and there is no key.
	plain := mustLoad(t, zoneOK)
	if plain.Overwatch == nil || plain.Overwatch.Gossip != nil {
		t.Fatalf("overwatch = %+v, want allocated without gossip", plain.Overwatch)
	}
	if key, err := plain.GossipKey(); key != nil || err != nil {
		t.Errorf("GossipKey without gossip = %q, %v", key, err)
	}
	if plain.NodeID() != testHostname(t) {
		t.Errorf("NodeID = %q, want the host name", plain.NodeID())
	}

	var none *Config
	if none.NodeID() != "" || none.Region() != "" || none.CheckedBackends() != nil {
		t.Error("accessors on a nil Config")
	}
	if key, err := none.GossipKey(); key != nil || err != nil {
		t.Errorf("GossipKey on nil = %q, %v", key, err)
	}
}

// TestGossipKeyNeverShown covers GossipKey on a Config that was not
// loaded (Load refuses a bad key): its error names the key, never its
// value.
func TestGossipKeyNeverShown(t *testing.T) {
	for _, tt := range []struct{ key, msg string }{
		{"c2VjcmV0LWtleQ==", "decodes to 10 bytes"},
		{"not base64 at all!", "is not standard base64"},
		{"MDEyMzQ1Njc4OWFiY2RlZg", "is not standard base64"}, // no padding
	} {
		c := &Config{Mode: ModeAgent, Agent: &Agent{Gossip: AgentGossip{EncryptionKey: tt.key}}}
		_, err := c.GossipKey()
		if err == nil || !strings.Contains(err.Error(), "agent.gossip.encryption_key: "+tt.msg) {
			t.Errorf("GossipKey(%q) error = %v, want %q", tt.key, err, tt.msg)
		} else if strings.Contains(err.Error(), tt.key) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	c := &Config{Mode: ModeOverwatch, Overwatch: &Overwatch{Gossip: &OverwatchGossip{EncryptionKey: testKey16}}}
	if key, err := c.GossipKey(); err != nil || len(key) != 16 {
		t.Errorf("GossipKey = %q, %v", key, err)
	}
}

func TestNodeIDDefaultWithoutHostname(t *testing.T) {
	defer func(h func() (string, error)) { hostname = h }(hostname)
	hostname = func() (string, error) { return "", errors.New("no uts namespace") }
	path := writeConfig(t, "overwatch.toml", "[overwatch.stale] #!\n"+zoneOK)
	_, err := Load(path)
	list := problemList(t, err)
	if len(list) != 1 || list[0].Error() != path+":1: overwatch.identity.node_id: required: the host name, its default, could not be read" {
		t.Errorf("got %v", err)
	}

	hostname = func() (string, error) { return "My Host", nil }
	_, err = Load(path)
	list = problemList(t, err)
	if len(list) != 1 || !strings.Contains(list[0].Error(), "overwatch.identity.node_id: the host name, its default, is not a valid node name") {
		t.Errorf("got %v", err)
	}

	hostname = func() (string, error) { return "Web-1.Example.COM", nil }
	if c := mustLoad(t, zoneOK); c.NodeID() != "web-1.example.com" {
		t.Errorf("NodeID = %q, want the host name in lower case", c.NodeID())
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
