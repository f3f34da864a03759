package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/goleak"
)

// leakCheck fails the test if a goroutine outlives it. Register it first:
// cleanups run last-in first-out, so it runs after the servers close.
// (Per test rather than goleak.VerifyTestMain: TestMain belongs to the
// package, and this file is not alone in it.)
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// cleanEnv keeps the runner's environment out of the flags.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"OPENGSLB_API", "OPENGSLB_API_TOKEN", "OPENGSLB_NODES"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// recorded is one request a fake node received.
type recorded struct {
	Method string
	URI    string // as sent: path and query, escaped
	Path   string // escaped path alone
	Query  string
	Auth   string
	Body   string
}

type reply struct {
	status int
	body   string
	// block, when set, holds the answer until the client gives up.
	block bool
}

// fakeNode implements the API contract with canned answers per
// "METHOD /escaped/path" and records every request.
type fakeNode struct {
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]reply
	reqs   []recorded
}

func newFakeNode(t *testing.T, routes map[string]reply) *fakeNode {
	t.Helper()
	f := &fakeNode{routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func newFakeTLSNode(t *testing.T, routes map[string]reply) *fakeNode {
	t.Helper()
	f := &fakeNode{routes: routes}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// The handshakes the test makes fail on purpose; keep them off the log.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, URI: r.RequestURI, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), Body: string(body)})
	rep, ok := f.routes[r.Method+" "+r.URL.EscapedPath()]
	f.mu.Unlock()
	if !ok {
		rep = reply{status: http.StatusNotFound, body: `{"error":"not found","detail":"` + r.URL.Path + `"}`}
	}
	if rep.block {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeNode) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeNode) URL() string { return f.srv.URL }

// result is what one run of the CLI printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs the CLI in-process the way main does, exit status included.
func run(t *testing.T, args ...string) result {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"opengslb"}, args...))
	code := 0
	if err != nil {
		code = reportError(&errOut, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// refusedURL is a loopback URL nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func ok(body string) reply { return reply{status: http.StatusOK, body: body} }

const statusJSON = `{"node":"overwatch-us-east-1","region":"us-east","version":"v0.9.0","ready":true,"ready_detail":"",
"serial":2025011501,"config_generation":3,"domains":2,
"backends":{"healthy":3,"unhealthy":1,"unknown":0,"stale":1},"agents":2,"overrides":1}`

func backendJSON(service, addr string, port int, state string, served bool, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"service":%q,"address":%q,"port":%d,"weight":100,"priority":1,"region":"us-east","source":"agent",
"claimed_health":"healthy","validated_health":"healthy","effective_state":%q,"override":null,
"last_report":"2025-01-15T10:30:00Z","age_seconds":4.2,"stale":false,"served":%t%s}`, service, addr, port, state, served, extra)
}

func backendsJSON(rows ...string) string { return `{"backends":[` + strings.Join(rows, ",") + `]}` }

func dnssecJSON(tags ...int) string {
	var keys []string
	for _, tag := range tags {
		keys = append(keys, fmt.Sprintf(`{"key_tag":%d,"zone":"gslb.example.com.","algorithm":13,"role":"ksk"}`, tag))
	}
	return `{"enabled":true,"keys":[` + strings.Join(keys, ",") + `],"sync":{"enabled":true,"peer_count":1}}`
}

func TestStatusTableAndJSON(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeNode(t, map[string]reply{"GET /api/v1/status": ok(statusJSON)})

	r := run(t, "status", "--api", node.URL())
	if r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	for _, want := range []string{"overwatch-us-east-1", "us-east", "v0.9.0", "2025011501",
		"3 healthy, 1 unhealthy, 0 unknown, 1 stale"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status table lacks %q\n%s", want, r)
		}
	}
	if !strings.Contains(r.stdout, "ready") || !strings.Contains(r.stdout, "yes") {
		t.Errorf("status table does not say ready: yes\n%s", r)
	}

	r = run(t, "status", "--api", node.URL(), "--output", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("status --output json is not JSON (%v)\n%s", err, r)
	}
	if got["node"] != "overwatch-us-east-1" || got["ready"] != true {
		t.Errorf("status JSON: got %v", got)
	}
}

func TestBackendsTableFilterAndJSON(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	body := backendsJSON(
		backendJSON("webapp", "10.0.0.2", 443, "unhealthy", false, `"future_field":1`),
		backendJSON("webapp", "2001:db8::1", 443, "drain", false, ""),
		backendJSON("webapp", "10.0.0.1", 443, "healthy", true, ""),
	)
	body = strings.Replace(body, `"effective_state":"drain","override":null`,
		`"effective_state":"drain","override":{"state":"drain","reason":"patching","expires":null}`, 1)
	node := newFakeNode(t, map[string]reply{"GET /api/v1/overwatch/backends": ok(body)})

	r := run(t, "backends", "--api", node.URL(), "--service", "webapp", "--state", "healthy")
	if r.code != 0 {
		t.Fatalf("backends: %s", r)
	}
	reqs := node.requests()
	if len(reqs) != 1 || reqs[0].Query != "service=webapp&state=healthy" {
		t.Fatalf("backends --service --state: want query service=webapp&state=healthy, got %+v", reqs)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("backends table: want a header and 3 rows\n%s", r)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "SERVICE ADDRESS PORT SOURCE CLAIMED VALIDATED STATE OVERRIDE STALE AGE" {
		t.Errorf("backends header: %q", lines[0])
	}
	// Sorted by address, numerically: 10.0.0.1, 10.0.0.2, then IPv6.
	wantRows := [][]string{
		{"webapp", "10.0.0.1", "443", "agent", "healthy", "healthy", "healthy", "-", "no", "4s"},
		{"webapp", "10.0.0.2", "443", "agent", "healthy", "healthy", "unhealthy", "-", "no", "4s"},
		{"webapp", "2001:db8::1", "443", "agent", "healthy", "healthy", "drain", "drain", "no", "4s"},
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[i+1]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("backends row %d: got %q, want %q", i, got, want)
		}
	}

	r = run(t, "backends", "--api", node.URL(), "-o", "json")
	var got struct {
		Backends []map[string]any `json:"backends"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || len(got.Backends) != 3 {
		t.Fatalf("backends --output json (%v)\n%s", err, r)
	}
	if got.Backends[0]["future_field"] != float64(1) {
		t.Errorf("backends JSON should pass the node's answer through, unknown fields included: %v", got.Backends[0])
	}
	if q := node.requests()[1].Query; q != "" {
		t.Errorf("backends without filters sent query %q", q)
	}
}

func TestAgentsTable(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeNode(t, map[string]reply{"GET /api/v1/overwatch/agents": ok(`{"agents":[
{"agent":"agent-b","region":"us-west","addr":"10.0.2.10:7946","alive":false,"registered":true,"last_report":null,
 "accepted":10,"refused":2,"last_refusal":"bad hmac for service api","services":["api"]},
{"agent":"agent-a","region":"us-east","addr":"10.0.1.10:7946","alive":true,"registered":true,
 "last_report":"2025-01-15T10:30:00Z","accepted":42,"refused":0,"last_refusal":null,"services":["webapp","api"]}]}`)})

	r := run(t, "agents", "--api", node.URL())
	if r.code != 0 {
		t.Fatalf("agents: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "AGENT") {
		t.Fatalf("agents table\n%s", r)
	}
	if !strings.HasPrefix(lines[1], "agent-a") || !strings.Contains(lines[1], "webapp,api") || !strings.Contains(lines[1], "42") {
		t.Errorf("agents row for agent-a: %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "agent-b") || !strings.Contains(lines[2], "bad hmac for service api") {
		t.Errorf("agents row for agent-b: %q", lines[2])
	}
}

const overrideReply = `{"override":{"service":"webapp","backend":"[2001:db8::1]:443","state":"drain","reason":"kernel patch",
"expires":"2025-01-15T12:30:00Z","created":"2025-01-15T10:30:00Z","source":"127.0.0.1"}}`

func TestOverrideSetPathsBodyAndToken(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeNode(t, map[string]reply{
		"PUT /api/v1/overrides/webapp/[2001:db8::1]:443": ok(overrideReply),
		"PUT /api/v1/overrides/webapp/10.0.0.1:8080":     ok(overrideReply),
		"PUT /api/v1/overrides/webapp":                   ok(`{"override":{"service":"webapp","backend":"","state":"down","expires":null}}`),
	})

	// Flags after the arguments, as operators type them.
	r := run(t, "override", "set", "webapp", "[2001:db8::1]:443", "--state", "drain", "--reason", "kernel patch",
		"--expires", "2h", "--api", node.URL(), "--token", "s3cret-token")
	if r.code != 0 {
		t.Fatalf("override set: %s", r)
	}
	reqs := node.requests()
	if len(reqs) != 1 {
		t.Fatalf("override set: want one request, got %+v", reqs)
	}
	got := reqs[0]
	if got.Method != http.MethodPut || got.URI != "/api/v1/overrides/webapp/[2001:db8::1]:443" {
		t.Errorf("override set IPv6: got %s %s, want PUT /api/v1/overrides/webapp/[2001:db8::1]:443", got.Method, got.URI)
	}
	if got.Auth != "Bearer s3cret-token" {
		t.Errorf("override set: Authorization %q, want Bearer s3cret-token", got.Auth)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatalf("override set body %q: %v", got.Body, err)
	}
	if body["state"] != "drain" || body["reason"] != "kernel patch" || body["expires"] != "2h" {
		t.Errorf("override set body: %v", body)
	}
	if !strings.Contains(r.stdout, "drain") || !strings.Contains(r.stdout, "[2001:db8::1]:443") {
		t.Errorf("override set output:\n%s", r)
	}

	// IPv4, flags first, token from the environment.
	t.Setenv("OPENGSLB_API_TOKEN", "env-token")
	r = run(t, "override", "set", "--api", node.URL(), "--state", "down", "webapp", "10.0.0.1:8080")
	if r.code != 0 {
		t.Fatalf("override set IPv4: %s", r)
	}
	got = node.requests()[1]
	if got.URI != "/api/v1/overrides/webapp/10.0.0.1:8080" || got.Auth != "Bearer env-token" {
		t.Errorf("override set IPv4: got %s with %q", got.URI, got.Auth)
	}
	if strings.Contains(got.Body, "reason") || strings.Contains(got.Body, "expires") {
		t.Errorf("override set without --reason/--expires sent %s", got.Body)
	}

	// A whole service.
	r = run(t, "override", "set", "webapp", "--state", "down", "--api", node.URL(), "-o", "json")
	if r.code != 0 {
		t.Fatalf("override set service: %s", r)
	}
	if got := node.requests()[2].URI; got != "/api/v1/overrides/webapp" {
		t.Errorf("override set service: path %s", got)
	}
	if !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, `"down"`) {
		t.Errorf("override set -o json:\n%s", r)
	}
}

func TestOverridePath(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for an error
	}{
		{[]string{"webapp"}, "/api/v1/overrides/webapp"},
		{[]string{"webapp", "10.0.0.1:443"}, "/api/v1/overrides/webapp/10.0.0.1:443"},
		{[]string{"webapp", "[2001:db8::1]:443"}, "/api/v1/overrides/webapp/[2001:db8::1]:443"},
		{[]string{"webapp", "[2001:0db8:0::1]:443"}, "/api/v1/overrides/webapp/[2001:db8::1]:443"},
		{[]string{"webapp", "[fe80::1%eth0]:443"}, "/api/v1/overrides/webapp/[fe80::1%25eth0]:443"},
		{[]string{"web app", "10.0.0.1:443"}, "/api/v1/overrides/web%20app/10.0.0.1:443"},
		{[]string{"webapp", "2001:db8::1:443"}, ""},
		{[]string{"webapp", "10.0.0.1"}, ""},
		{[]string{"webapp", "10.0.0.1:0"}, ""},
		{[]string{"webapp", "host.example:443"}, ""},
		{[]string{"a/b"}, ""},
		{[]string{""}, ""},
	} {
		got, err := overridePath(tc.args)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("overridePath(%q) = %q, want an error", tc.args, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("overridePath(%q) = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}

func TestOverrideClearAndList(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeNode(t, map[string]reply{
		"DELETE /api/v1/overrides/webapp/[2001:db8::1]:443": ok(`{"cleared":"webapp/[2001:db8::1]:443"}`),
		"DELETE /api/v1/overrides/api":                      {status: http.StatusNotFound, body: `{"error":"no such override","detail":"api"}`},
		"GET /api/v1/overrides": ok(`{"overrides":[
{"service":"webapp","backend":"[2001:db8::1]:443","state":"drain","reason":"kernel patch","expires":"2025-01-15T12:30:00Z","created":"2025-01-15T10:30:00Z","source":"127.0.0.1"},
{"service":"api","backend":"","state":"down","reason":"","expires":null,"created":"2025-01-15T10:00:00Z","source":"10.0.0.9"}]}`),
	})

	r := run(t, "override", "clear", "webapp", "[2001:db8::1]:443", "--api", node.URL(), "--token", "tok")
	if r.code != 0 || !strings.Contains(r.stdout, "cleared") {
		t.Fatalf("override clear: %s", r)
	}
	if got := node.requests()[0]; got.Method != http.MethodDelete || got.URI != "/api/v1/overrides/webapp/[2001:db8::1]:443" || got.Auth != "Bearer tok" {
		t.Errorf("override clear sent %+v", got)
	}

	r = run(t, "override", "clear", "api", "--api", node.URL())
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 404") || !strings.Contains(r.stderr, "no such override") ||
		!strings.Contains(r.stderr, node.URL()) {
		t.Errorf("override clear of a missing override: want exit 1 naming the node and the server's error\n%s", r)
	}

	r = run(t, "override", "list", "--api", node.URL())
	if r.code != 0 {
		t.Fatalf("override list: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SERVICE") {
		t.Fatalf("override list table:\n%s", r)
	}
	if !strings.HasPrefix(lines[1], "api") || !strings.Contains(lines[1], "(every backend)") || !strings.Contains(lines[1], "down") {
		t.Errorf("override list row 1: %q", lines[1])
	}
	if !strings.Contains(lines[2], "[2001:db8::1]:443") || !strings.Contains(lines[2], "kernel patch") {
		t.Errorf("override list row 2: %q", lines[2])
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeNode(t, map[string]reply{})
	api := node.URL()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing state", []string{"override", "set", "webapp", "--api", api}, "--state is required"},
		{"bad state", []string{"override", "set", "webapp", "--state", "off", "--api", api}, `--state "off"`},
		{"IPv6 without brackets", []string{"override", "set", "webapp", "2001:db8::1:443", "--state", "down", "--api", api}, "brackets"},
		{"bad expires", []string{"override", "set", "webapp", "--state", "down", "--expires", "tomorrow", "--api", api}, "--expires"},
		{"past expires", []string{"override", "set", "webapp", "--state", "down", "--expires", "2001-01-01T00:00:00Z", "--api", api}, "passed"},
		{"no service", []string{"override", "clear", "--api", api}, "SERVICE"},
		{"unknown flag", []string{"backends", "--bogus", "--api", api}, "bogus"},
		{"unknown flag after args", []string{"override", "set", "webapp", "--bogus", "--api", api}, "bogus"},
		{"bad output", []string{"status", "--output", "yaml", "--api", api}, "--output"},
		{"bad timeout", []string{"status", "--timeout", "0s", "--api", api}, "--timeout"},
		{"bad api", []string{"status", "--api", "ftp://x"}, "--api"},
		{"extra argument", []string{"status", "extra", "--api", api}, "no arguments"},
		{"missing ca file", []string{"status", "--ca-file", filepath.Join(t.TempDir(), "nope.pem"), "--api", api}, "--ca-file"},
		{"unknown subcommand", []string{"override", "frob"}, "frob"},
		{"ha one node", []string{"ha", "check", "--node", api}, "at least two"},
		{"ha same node twice", []string{"ha", "check", "--node", api, "--node", api + "/"}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 2 and %q\n%s", tc.want, r)
			}
		})
	}
	if reqs := node.requests(); len(reqs) != 0 {
		t.Errorf("usage errors must not reach the node: %+v", reqs)
	}
}

func TestHelpAfterArguments(t *testing.T) {
	cleanEnv(t)
	r := run(t, "override", "set", "webapp", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--state") || !strings.Contains(r.stdout, "--expires") {
		t.Errorf("override set webapp --help: want the command's help\n%s", r)
	}
}

func TestReloadAppliedAndRefused(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	good := newFakeNode(t, map[string]reply{
		"POST /api/v1/reload": ok(`{"applied":true,"generation":4,"changes":["domain webapp.gslb.example.com: ttl 30 -> 60","backend api 10.0.0.9:443 added"]}`),
	})
	r := run(t, "reload", "--api", good.URL(), "--token", "tok")
	if r.code != 0 || !strings.Contains(r.stdout, "applied") || !strings.Contains(r.stdout, "generation 4") ||
		!strings.Contains(r.stdout, "ttl 30 -> 60") || !strings.Contains(r.stdout, "10.0.0.9:443 added") {
		t.Errorf("reload applied:\n%s", r)
	}
	if got := good.requests()[0]; got.Method != http.MethodPost || got.URI != "/api/v1/reload" || got.Auth != "Bearer tok" {
		t.Errorf("reload sent %+v", got)
	}

	refused := newFakeNode(t, map[string]reply{
		"POST /api/v1/reload": {status: http.StatusUnprocessableEntity,
			body: `{"error":"reload refused","detail":"dns.listen_address cannot change without a restart"}`},
	})
	r = run(t, "reload", "--api", refused.URL())
	if r.code != 1 || !strings.Contains(r.stderr, "reload refused: dns.listen_address cannot change without a restart") ||
		!strings.Contains(r.stderr, refused.URL()) || !strings.Contains(r.stderr, "422") {
		t.Errorf("reload refused: want exit 1 with the node, status and detail\n%s", r)
	}
	r = run(t, "reload", "--api", refused.URL(), "--output", "json")
	if r.code != 1 || !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, "dns.listen_address") {
		t.Errorf("reload refused -o json: want the refusal as JSON on stdout and exit 1\n%s", r)
	}
}

func TestRequestErrorsNameNodeAndCause(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeNode(t, map[string]reply{
		"GET /api/v1/status":              {status: http.StatusForbidden, body: `{"error":"forbidden","detail":{"client":"10.9.9.9","allowed_networks":["127.0.0.0/8"]}}`},
		"GET /api/v1/overwatch/backends":  ok(`<html>not json</html>`),
		"GET /api/v1/overwatch/agents":    {block: true},
		"PUT /api/v1/overrides/webapp":    {status: http.StatusUnauthorized, body: `{"error":"missing bearer token"}`},
		"GET /api/v1/overrides":           {status: http.StatusInternalServerError, body: "boom\n"},
		"POST /api/v1/reload":             {status: http.StatusBadRequest, body: `{"error":"bad request","detail":"x"}`},
		"GET /api/v1/dnssec/status":       ok(dnssecJSON(1)),
		"DELETE /api/v1/overrides/webapp": ok(``),
	})
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"4xx with detail", []string{"status"}, []string{"GET /api/v1/status", "HTTP 403 Forbidden", "forbidden: ", `"allowed_networks":["127.0.0.0/8"]`}},
		{"bad JSON", []string{"backends"}, []string{"GET /api/v1/overwatch/backends", "bad JSON", "not json"}},
		{"timeout", []string{"agents", "--timeout", "150ms"}, []string{"GET /api/v1/overwatch/agents", "timed out after 150ms"}},
		{"401 hints at the token", []string{"override", "set", "webapp", "--state", "down"}, []string{"HTTP 401", "missing bearer token", "--token"}},
		{"5xx without JSON", []string{"override", "list"}, []string{"HTTP 500", `"boom"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append(tc.args, "--api", node.URL())...)
			if r.code != 1 {
				t.Errorf("want exit 1\n%s", r)
			}
			for _, want := range append(tc.want, node.URL()) {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("error lacks %q\n%s", want, r)
				}
			}
		})
	}

	// An empty 200 to a DELETE is still a success.
	if r := run(t, "override", "clear", "webapp", "--api", node.URL()); r.code != 0 {
		t.Errorf("override clear with an empty 200: %s", r)
	}
}

func TestConnectionRefusedNamesURL(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	url := refusedURL(t)
	r := run(t, "status", "--api", url)
	if r.code != 1 || !strings.Contains(r.stderr, url) || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("status against nothing: want exit 1 naming %s and connection refused\n%s", url, r)
	}
	// The default comes from the environment too.
	t.Setenv("OPENGSLB_API", url)
	if r := run(t, "backends"); !strings.Contains(r.stderr, url) {
		t.Errorf("OPENGSLB_API not used\n%s", r)
	}
}

func TestTLSWithCAFileOrInsecure(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	node := newFakeTLSNode(t, map[string]reply{"GET /api/v1/status": ok(statusJSON)})

	r := run(t, "status", "--api", node.URL())
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") || !strings.Contains(r.stderr, "--ca-file") {
		t.Errorf("https with an unknown CA: want a certificate error that points at --ca-file\n%s", r)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: node.srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "status", "--api", node.URL(), "--ca-file", ca); r.code != 0 || !strings.Contains(r.stdout, "overwatch-us-east-1") {
		t.Errorf("https with --ca-file:\n%s", r)
	}
	if r := run(t, "status", "--api", node.URL(), "--insecure"); r.code != 0 {
		t.Errorf("https with --insecure:\n%s", r)
	}
	notPEM := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "status", "--api", node.URL(), "--ca-file", notPEM); r.code != exitUsage || !strings.Contains(r.stderr, "no PEM certificate") {
		t.Errorf("--ca-file without a certificate:\n%s", r)
	}
}

// haRoutes is a node's answer for ha check.
func haRoutes(backends, dnssec string) map[string]reply {
	routes := map[string]reply{"GET /api/v1/overwatch/backends": ok(backends)}
	if dnssec != "" {
		routes["GET /api/v1/dnssec/status"] = ok(dnssec)
	}
	return routes
}

func TestHACheckAgree(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	rows := []string{
		backendJSON("webapp", "10.0.0.1", 443, "healthy", true, ""),
		backendJSON("webapp", "2001:db8::1", 443, "healthy", true, ""),
	}
	// Same backends in another order, with another age and report time:
	// those are expected to differ between nodes.
	a := newFakeNode(t, haRoutes(backendsJSON(rows...), dnssecJSON(12345, 54321)))
	bRows := []string{
		strings.Replace(rows[1], `"2001:db8::1"`, `"2001:0db8::1"`, 1),
		strings.Replace(rows[0], `"age_seconds":4.2`, `"age_seconds":9`, 1),
	}
	b := newFakeNode(t, haRoutes(backendsJSON(bRows...), dnssecJSON(54321, 12345)))

	r := run(t, "ha", "check", "--node", a.URL(), "--node", b.URL(), "--token", "tok")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "all 2 nodes agree (2 backends, 2 key tags)" {
		t.Errorf("ha check of agreeing nodes:\n%s", r)
	}
	for _, n := range []*fakeNode{a, b} {
		reqs := n.requests()
		if len(reqs) != 2 {
			t.Errorf("ha check: want backends and dnssec asked of %s, got %+v", n.URL(), reqs)
		}
		for _, req := range reqs {
			if req.Auth != "Bearer tok" {
				t.Errorf("ha check sent Authorization %q", req.Auth)
			}
		}
	}

	// Nodes without DNSSEC yet (404) agree on having none.
	c := newFakeNode(t, haRoutes(backendsJSON(rows...), ""))
	d := newFakeNode(t, haRoutes(backendsJSON(rows...), ""))
	r = run(t, "ha", "check", "--node", c.URL(), "--node", d.URL(), "-o", "json")
	var rep haReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || !rep.Agree || rep.Backends != 2 || rep.KeyTags != 0 {
		t.Errorf("ha check without DNSSEC: (%v) %+v\n%s", err, rep, r)
	}
	if len(rep.Nodes) != 2 || rep.Nodes[0].DNSSEC != dnssecAbsent {
		t.Errorf("ha check JSON nodes: %+v", rep.Nodes)
	}
}

func TestHACheckDifferences(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	a := newFakeNode(t, haRoutes(backendsJSON(
		backendJSON("webapp", "10.0.0.1", 443, "healthy", true, ""),
		backendJSON("webapp", "10.0.0.2", 443, "healthy", true, ""),
		backendJSON("api", "10.0.1.1", 8080, "healthy", true, ""),
	), dnssecJSON(12345)))
	b := newFakeNode(t, haRoutes(backendsJSON(
		backendJSON("webapp", "10.0.0.1", 443, "healthy", true, ""),
		backendJSON("webapp", "10.0.0.2", 443, "unhealthy", false, ""),
	), dnssecJSON(23456)))
	down := refusedURL(t)

	r := run(t, "ha", "check", "--node", a.URL(), "--node", b.URL(), "--node", down, "--timeout", "5s")
	if r.code != 1 {
		t.Fatalf("ha check with differences: want exit 1\n%s", r)
	}
	out := r.stdout
	for _, want := range []string{
		// The unhealthy backend on B, by node and backend.
		"backend webapp 10.0.0.2:443: effective_state differs: healthy on " + a.URL() + "; unhealthy on " + b.URL(),
		"backend webapp 10.0.0.2:443: served differs: true on " + a.URL() + "; false on " + b.URL(),
		// A backend B does not have.
		"backend api 10.0.1.1:8080: present on " + a.URL() + "; missing on " + b.URL(),
		// Key tags.
		"DNSSEC key tag 12345 (zone gslb.example.com): present on " + a.URL() + "; missing on " + b.URL(),
		"DNSSEC key tag 23456 (zone gslb.example.com): present on " + b.URL() + "; missing on " + a.URL(),
		// The node that is down.
		"unreachable: " + down,
		"connection refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ha check diff lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(out, "10.0.0.1:443") {
		t.Errorf("ha check reports a backend the nodes agree on\n%s", r)
	}
	if !strings.Contains(r.stderr, "3 nodes disagree") {
		t.Errorf("ha check: stderr should sum up\n%s", r)
	}

	r = run(t, "ha", "check", "--node", a.URL(), "--node", b.URL(), "--node", down, "--output", "json")
	var rep haReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("ha check -o json: (%v)\n%s", err, r)
	}
	kinds := map[string]int{}
	for _, d := range rep.Differences {
		kinds[d.Kind]++
		if d.Kind == diffBackendField && d.Field == "effective_state" &&
			(d.Service != "webapp" || d.Address != "10.0.0.2" || d.Port != 443 || d.Values[b.URL()] != "unhealthy" || d.Values[a.URL()] != "healthy") {
			t.Errorf("ha check JSON effective_state difference: %+v", d)
		}
		if d.Kind == diffUnreachable && d.Node != down {
			t.Errorf("ha check JSON unreachable node: %+v", d)
		}
	}
	want := map[string]int{diffUnreachable: 1, diffBackendMissing: 1, diffBackendField: 2, diffKeyTagMissing: 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("ha check JSON: %d differences of kind %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	if rep.Agree || len(rep.Nodes) != 3 || rep.Nodes[2].Reachable || rep.Backends != 3 || rep.KeyTags != 2 {
		t.Errorf("ha check JSON summary: %+v", rep)
	}
}

func TestHACheckTimeoutAndDNSSECFailure(t *testing.T) {
	leakCheck(t)
	cleanEnv(t)
	rows := backendsJSON(backendJSON("webapp", "10.0.0.1", 443, "healthy", true, ""))
	a := newFakeNode(t, haRoutes(rows, dnssecJSON(1)))
	slow := newFakeNode(t, map[string]reply{"GET /api/v1/overwatch/backends": {block: true}, "GET /api/v1/dnssec/status": {block: true}})
	broken := newFakeNode(t, map[string]reply{
		"GET /api/v1/overwatch/backends": ok(rows),
		"GET /api/v1/dnssec/status":      {status: http.StatusInternalServerError, body: `{"error":"signer not answering"}`},
	})
	start := time.Now()
	r := run(t, "ha", "check", "--node", a.URL(), "--node", slow.URL(), "--node", broken.URL(), "--timeout", "300ms")
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("ha check took %s with --timeout 300ms: nodes must be asked at once", elapsed)
	}
	if r.code != 1 {
		t.Fatalf("ha check with a slow node: want exit 1\n%s", r)
	}
	for _, want := range []string{"unreachable: " + slow.URL(), "timed out after 300ms",
		"DNSSEC status unknown: " + broken.URL(), "HTTP 500", "signer not answering"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ha check lacks %q\n%s", want, r)
		}
	}
}

func TestReportErrorExitCodes(t *testing.T) {
	var buf bytes.Buffer
	if code := reportError(&buf, errors.New("boom")); code != 1 || buf.String() != "opengslb: boom\n" {
		t.Errorf("plain error: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := reportError(&buf, cli.Exit("bad flag", 2)); code != 2 || buf.String() != "opengslb: bad flag\n" {
		t.Errorf("usage error: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := reportError(&buf, fmt.Errorf("wrapped: %w", cli.Exit("x", 2))); code != 2 {
		t.Errorf("wrapped usage error: %d", code)
	}
	buf.Reset()
	if code := reportError(&buf, cli.Exit("", 1)); code != 1 || buf.Len() != 0 {
		t.Errorf("silent failure: %d %q", code, buf.String())
	}
}
