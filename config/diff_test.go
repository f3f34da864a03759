package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const diffBase = `[dns]
zones = ["gslb.example.com"]
[[domains]]
name = "webapp.gslb.example.com"
[[domains]]
name = "api.gslb.example.com"
[[backends]]
service = "webapp"
address = "10.0.1.10"
port = 80
[[backends]]
service = "webapp"
address = "2001:db8::1"
port = 80
`

func TestDiff(t *testing.T) {
	tests := []struct {
		name string
		new  string
		want []Change
	}{
		{"identical", diffBase, nil},
		{
			"reordered and respelled entries are no change",
			`[dns]
zones = ["GSLB.example.com."]
[[domains]]
name = "api.gslb.example.com."
[[domains]]
name = "WebApp.gslb.example.com"
[[backends]]
service = "webapp"
address = "2001:DB8:0::1"
port = 80
[[backends]]
service = "webapp"
address = "10.0.1.10"
port = 80
`, nil,
		},
		{
			"listeners, mode-bound and logging fields are not live",
			"data_dir = \"/srv\"\n[logging]\nlevel = \"debug\"\n[metrics]\nlisten_address = \":9100\"\n" +
				"[overwatch.identity]\nnode_id = \"ow-1\"\n[dns]\nlisten_address = \"0.0.0.0:5353\"\n" +
				strings.TrimPrefix(diffBase, "[dns]\n"),
			[]Change{
				{Field: "data_dir", Old: "/var/lib/opengslb", New: "/srv"},
				{Field: "logging.level", Old: "info", New: "debug"},
				{Field: "dns.listen_address", Old: "0.0.0.0:53", New: "0.0.0.0:5353"},
				{Field: "metrics.listen_address", Old: "0.0.0.0:9091", New: ":9100"},
				{Field: "overwatch.identity.node_id", Old: testHostname(t), New: "ow-1"},
			},
		},
		{
			"zones, ttl and entries are live",
			`[dns]
zones = ["gslb.example.com", "other.example.org"]
default_ttl = 60
negative_ttl = 5
[[domains]]
name = "webapp.gslb.example.com"
routing = "weighted"
ttl = 10
[[domains]]
name = "www.other.example.org"
service = "webapp"
[[backends]]
service = "webapp"
address = "10.0.1.10"
port = 80
weight = 0
[backends.health_check]
interval = "1d"
expected_status = [200, 204]
[[backends]]
service = "webapp"
address = "10.0.1.11"
port = 80
`,
			[]Change{
				{Field: "dns.zones", Old: "[gslb.example.com.]", New: "[gslb.example.com. other.example.org.]", Live: true},
				{Field: "dns.default_ttl", Old: "30", New: "60", Live: true},
				{Field: "dns.negative_ttl", Old: "60", New: "5", Live: true},
				{Field: "domains[webapp.gslb.example.com.].routing", Old: "round-robin", New: "weighted", Live: true},
				{Field: "domains[webapp.gslb.example.com.].ttl", Old: "30", New: "10", Live: true},
				{Field: "domains[api.gslb.example.com.]", Old: "name=api.gslb.example.com. service=api routing=round-robin ttl=30 fallback=all", Live: true},
				{Field: "domains[www.other.example.org.]", New: "name=www.other.example.org. service=webapp routing=round-robin ttl=60 fallback=all", Live: true},
				{Field: "backends[webapp 10.0.1.10:80].weight", Old: "100", New: "0", Live: true},
				{Field: "backends[webapp 10.0.1.10:80].health_check.interval", Old: "10s", New: "1d", Live: true},
				{Field: "backends[webapp 10.0.1.10:80].health_check.expected_status", Old: "[200]", New: "[200 204]", Live: true},
				{Field: "backends[webapp [2001:db8::1]:80]", Old: "service=webapp address=2001:db8::1 port=80 weight=100 priority=1 region= " +
					"health_check.type=http health_check.path=/health health_check.host= health_check.interval=10s health_check.timeout=2s " +
					"health_check.failure_threshold=3 health_check.success_threshold=2 health_check.expected_status=[200] health_check.insecure_skip_verify=false", Live: true},
				{Field: "backends[webapp 10.0.1.11:80]", New: "service=webapp address=10.0.1.11 port=80 weight=100 priority=1 region= " +
					"health_check.type=http health_check.path=/health health_check.host= health_check.interval=10s health_check.timeout=2s " +
					"health_check.failure_threshold=3 health_check.success_threshold=2 health_check.expected_status=[200] health_check.insecure_skip_verify=false", Live: true},
			},
		},
	}

	old := mustLoad(t, diffBase)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(old, mustLoad(t, tt.new))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff:")
				for _, c := range got {
					t.Errorf("  got  %#v", c)
				}
				for _, c := range tt.want {
					t.Errorf("  want %#v", c)
				}
			}
		})
	}
}

func TestDiffNil(t *testing.T) {
	c := mustLoad(t, diffBase)
	if len(Diff(nil, c)) == 0 || len(Diff(c, nil)) == 0 {
		t.Error("Diff against nil found nothing")
	}
	if got := Diff(nil, nil); got != nil {
		t.Errorf("Diff(nil, nil) = %v", got)
	}
}

func TestChangeString(t *testing.T) {
	for c, want := range map[Change]string{
		{Field: "dns.default_ttl", Old: "30", New: "60"}:     `dns.default_ttl: "30" -> "60"`,
		{Field: "domains[a.example.]", New: "name=a."}:       "domains[a.example.]: added",
		{Field: "domains[a.example.]", Old: "name=a."}:       "domains[a.example.]: removed",
		{Field: "backends[x 10.0.0.1:80].region", New: "eu"}: `backends[x 10.0.0.1:80].region: "" -> "eu"`,
	} {
		if got := c.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// diffSecrets are the secret values the diff cases below use: none may
// appear in a Change.
var diffSecrets = []string{
	"old-token-0123456789", "new-token-0123456789", "api-token-0123456789", "db-token-0123456789",
	testKey32, testKey16, agentToken,
}

func checkDiff(t *testing.T, got, want []Change) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff:")
		for _, c := range got {
			t.Errorf("  got  %#v", c)
		}
		for _, c := range want {
			t.Errorf("  want %#v", c)
		}
	}
	for _, c := range got {
		for _, secret := range diffSecrets {
			if strings.Contains(c.Old+c.New+c.String()+fmt.Sprintf("%#v", c), secret) {
				t.Errorf("change %s shows the secret %q", c, secret)
			}
		}
	}
}

func TestDiffOverwatchGossip(t *testing.T) {
	base := zoneOK + gossipOK +
		"[overwatch.agent_tokens]\nwebapp = \"old-token-0123456789\"\napi = \"api-token-0123456789\"\n" + hookOK
	next := zoneOK + "[overwatch.gossip]\nencryption_key = \"" + testKey16 + "\"\njoin = [\"ow-2:7946\"]\n" +
		"[overwatch.agent_tokens]\nwebapp = \"new-token-0123456789\"\ndb = \"db-token-0123456789\"\n" +
		"[overwatch.validation]\ncheck_interval = \"1m\"\n[overwatch.stale]\nthreshold = \"1m\"\n" +
		"[[hooks]]\nevent = \"member-failed\"\ncommand = \"/bin/page\"\n"
	checkDiff(t, Diff(mustLoad(t, base), mustLoad(t, next)), []Change{
		{Field: "hooks", Old: "[{event=member-failed command=/usr/local/bin/notify.sh timeout=30s}]", New: "[{event=member-failed command=/bin/page timeout=30s}]", Live: true},
		{Field: "overwatch.agent_tokens[api]", Old: "(secret)", Live: true},
		{Field: "overwatch.agent_tokens[db]", New: "(secret)", Live: true},
		{Field: "overwatch.agent_tokens[webapp]", Old: "(secret)", New: "(secret changed)", Live: true},
		{Field: "overwatch.gossip.encryption_key", Old: "(secret)", New: "(secret changed)"},
		{Field: "overwatch.gossip.join", Old: "[]", New: "[ow-2:7946]"},
		{Field: "overwatch.validation.check_interval", Old: "30s", New: "1m0s", Live: true},
		{Field: "overwatch.stale.threshold", Old: "30s", New: "1m0s", Live: true},
	})

	// Turning gossip on or off needs a restart.
	plain, gossiping := mustLoad(t, zoneOK), mustLoad(t, zoneOK+gossipOK)
	checkDiff(t, Diff(plain, gossiping), []Change{
		{Field: "overwatch.gossip.bind_address", New: "0.0.0.0:7946"},
		{Field: "overwatch.gossip.encryption_key", New: "(secret)"},
	})
	checkDiff(t, Diff(gossiping, plain), []Change{
		{Field: "overwatch.gossip.bind_address", Old: "0.0.0.0:7946"},
		{Field: "overwatch.gossip.encryption_key", Old: "(secret)"},
	})
	if d := Diff(mustLoad(t, fullConfig), mustLoad(t, fullConfig)); d != nil {
		t.Errorf("Diff of a file with itself = %v", d)
	}
}

func TestDiffAgent(t *testing.T) {
	old := mustLoad(t, agentOK+agentBE+hookOK)
	next := mustLoad(t, "mode = \"agent\"\n[agent.identity]\nnode_id = \"web-9\"\n"+
		"[agent.service_tokens]\nwebapp = \"new-token-0123456789\"\n"+
		"[agent.gossip]\nencryption_key = \""+testKey32+"\"\noverwatch_nodes = [\"10.0.0.2:7946\"]\n"+
		"[agent.heartbeat]\ninterval = \"20s\"\n"+
		agentBE+"weight = 50\n[[agent.backends]]\nservice = \"webapp\"\naddress = \"10.0.1.11\"\nport = 80\n"+hookOK)
	checkDiff(t, Diff(old, next), []Change{
		{Field: "agent.identity.node_id", Old: testHostname(t), New: "web-9"},
		{Field: "agent.service_tokens[webapp]", Old: "(secret)", New: "(secret changed)", Live: true},
		{Field: "agent.gossip.encryption_key", Old: "(secret)", New: "(secret changed)"},
		{Field: "agent.gossip.overwatch_nodes", Old: "[10.0.0.1:7946]", New: "[10.0.0.2:7946]"},
		{Field: "agent.heartbeat.interval", Old: "10s", New: "20s", Live: true},
		{Field: "agent.backends[webapp 10.0.1.10:80].weight", Old: "100", New: "50", Live: true},
		{Field: "agent.backends[webapp 10.0.1.11:80]", New: "service=webapp address=10.0.1.11 port=80 weight=100 priority=1 region= " +
			"health_check.type=http health_check.path=/health health_check.host= health_check.interval=10s health_check.timeout=2s " +
			"health_check.failure_threshold=3 health_check.success_threshold=2 health_check.expected_status=[200] health_check.insecure_skip_verify=false", Live: true},
	})
}

// TestDiffSecretsInSummaries checks that an entry summarised as a whole
// hides a secret field too, should a listed type ever hold one.
func TestDiffSecretsInSummaries(t *testing.T) {
	type entry struct {
		Name string `toml:"name"`
		Key  string `toml:"key" secret:"true"`
		None string `toml:"none" secret:"true"`
	}
	got := summary(reflect.ValueOf(entry{Name: "n", Key: "hunter2"}))
	if got != "name=n key=(secret)" {
		t.Errorf("summary = %q", got)
	}
}

func TestChangeStringSecrets(t *testing.T) {
	for c, want := range map[Change]string{
		{Field: "overwatch.agent_tokens[webapp]", Old: secretShown, New: secretChanged}: `overwatch.agent_tokens[webapp]: "(secret)" -> "(secret changed)"`,
		{Field: "overwatch.agent_tokens[webapp]", New: secretShown}:                     "overwatch.agent_tokens[webapp]: added",
		{Field: "agent.service_tokens[api]", Old: secretShown}:                          "agent.service_tokens[api]: removed",
	} {
		if got := c.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
