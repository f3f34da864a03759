package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTokenTables(t *testing.T) {
	tests := []struct {
		name, text string
		want       map[string]string
	}{
		{"table", "[overwatch.agent_tokens]\nwebapp = \"" + agentToken + "\"\n\"api\" = 'literal-token-0123456'\n",
			map[string]string{"webapp": agentToken, "api": "literal-token-0123456"}},
		{"inline", "[overwatch]\nagent_tokens = { webapp = \"" + agentToken + "\", db = \"" + agentToken + "\" }\n",
			map[string]string{"webapp": agentToken, "db": agentToken}},
		{"dotted keys", "[overwatch]\nagent_tokens.webapp = \"" + agentToken + "\"\n",
			map[string]string{"webapp": agentToken}},
		{"quoted key with a dot", "[overwatch.agent_tokens]\n\"web.app\" = \"" + agentToken + "\"\n",
			map[string]string{"web.app": agentToken}},
		{"empty table", "[overwatch.agent_tokens]\n", map[string]string{}},
		{"from the environment", "[overwatch.agent_tokens]\nwebapp = \"${WEBAPP_TOKEN}\"\n",
			map[string]string{"webapp": "env-token-0123456789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse("o.toml", []byte(zoneOK+gossipOK+tt.text), mapEnv(map[string]string{"WEBAPP_TOKEN": "env-token-0123456789"}))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(c.Overwatch.AgentTokens, tt.want) {
				t.Errorf("agent_tokens = %v, want %v", c.Overwatch.AgentTokens, tt.want)
			}
		})
	}

	// The line of a token is its key's.
	c := mustLoad(t, zoneOK+gossipOK+"[overwatch.agent_tokens]\nwebapp = \""+agentToken+"\"\n\n\"web.app\" = \""+agentToken+"\"\n")
	if c.LineOf("overwatch.agent_tokens.webapp") != 6 || c.LineOf("overwatch.agent_tokens.web.app") != 8 {
		t.Errorf("lines %v", c.Lines)
	}

	// An omitted table stays nil.
	if c := mustLoad(t, zoneOK+gossipOK); c.Overwatch.AgentTokens != nil {
		t.Errorf("agent_tokens = %#v, want nil", c.Overwatch.AgentTokens)
	}
}

// TestTokenProblemsAllReported checks that every bad token is named, in
// file order, without its value, and that an unset ${VAR} standing for a
// token is reported once, as unset.
func TestTokenProblemsAllReported(t *testing.T) {
	text := zoneOK + `[overwatch.agent_tokens]
b = "tok-b"
a = 7
c = "${UNSET_TOKEN}"
"d e" = "tok-de-0123456789ab"
f = ""
`
	_, err := parse("o.toml", []byte(text), mapEnv(nil))
	got := problemList(t, err)
	want := []string{
		"o.toml:3: overwatch.agent_tokens: agent_tokens need [overwatch.gossip]: agents report to an overwatch by gossip",
		"o.toml:4: overwatch.agent_tokens.b: the token is 5 characters long; it must be at least 16 (the token is not shown)",
		"o.toml:5: overwatch.agent_tokens.a: must be a string, not an integer",
		"o.toml:6: environment variable UNSET_TOKEN is not set",
		`o.toml:7: overwatch.agent_tokens.d e: service name "d e" must not contain spaces or control characters`,
		"o.toml:8: overwatch.agent_tokens.f: the token must not be empty",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d", len(got), err, len(want))
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	for _, secret := range []string{"tok-b", "tok-de"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the errors show %q:\n%v", secret, err)
		}
	}
}

// TestSecretsNeverInErrors loads an agent's file whose secrets all come
// from the environment and are all wrong: no message may show one.
func TestSecretsNeverInErrors(t *testing.T) {
	env := map[string]string{
		"WEBAPP_TOKEN": "pw-1",
		"API_TOKEN":    "pw-2 spaces",
		"GOSSIP_KEY":   "c2VjcmV0LWtleQ==",
	}
	text := `mode = "agent"
[agent.service_tokens]
webapp = "${WEBAPP_TOKEN}"
api = "${API_TOKEN}"
[agent.gossip]
encryption_key = "${GOSSIP_KEY}"
overwatch_nodes = ["10.0.0.1:7946"]
`
	_, err := parse("agent.toml", []byte(text), mapEnv(env))
	if len(problemList(t, err)) != 3 {
		t.Fatalf("want 3 problems, got:\n%v", err)
	}
	for name, secret := range env {
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), strings.TrimSuffix(secret, "==")) {
			t.Errorf("the errors show %s:\n%v", name, err)
		}
	}
	if !strings.Contains(err.Error(), "agent.toml:6: agent.gossip.encryption_key: decodes to 10 bytes") {
		t.Errorf("err = %v", err)
	}
}

// TestAgentFileMinimum lists what an agent's file cannot do without.
func TestAgentFileMinimum(t *testing.T) {
	_, err := parse("agent.toml", []byte("mode = \"agent\"\n"), mapEnv(nil))
	got := problemList(t, err)
	want := []string{
		"agent.toml: agent.gossip.encryption_key: required: the base64 of 16, 24 or 32 random bytes (`opengslb keygen gossip` makes one)",
		"agent.toml: agent.gossip.overwatch_nodes: at least one overwatch (host:port) is required: an agent reports to overwatches by gossip",
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

// TestAgentBackendsNeedTokens names every backend whose service has no
// token, at the backend's service line.
func TestAgentBackendsNeedTokens(t *testing.T) {
	text := agentOK + agentBE + `[[agent.backends]]
service = "api"
address = "10.0.1.11"
port = 80
[[agent.backends]]
service = "db"
address = "10.0.1.12"
port = 5432
`
	_, err := parse("agent.toml", []byte(text), mapEnv(nil))
	got := problemList(t, err)
	want := []string{
		`agent.toml:12: agent.backends[1].service: service "api" has no token in [agent.service_tokens]`,
		`agent.toml:16: agent.backends[2].service: service "db" has no token in [agent.service_tokens]`,
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
