package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The overwatch's JSON API, end to end: the real binary on loopback, real
// HTTP (and HTTPS) requests, and DNS queries to see what a change did.

// TestAPIReadEndpoints: every read endpoint answers with its status and
// shape, against static backends (type none, and one checked over HTTP
// against a server in this process).
func TestAPIReadEndpoints(t *testing.T) {
	target := startTarget(t, "127.0.0.21")
	body := domain("api.gslb.test") + staticBackend("api", "192.0.2.1") + httpBackend("api", target.addr) +
		domain("other.gslb.test", `routing = "failover"`, "ttl = 45") + staticBackend("other", "192.0.2.9")
	n := startAPINode(t, apiSettings{}, body)
	n.waitHealthy(t, 3)
	checkFor(t, healthTimeout, n.expectAddresses("api.gslb.test.", dns.TypeA, "127.0.0.21", "192.0.2.1"))

	t.Run("live ready version", func(t *testing.T) {
		var live, ready, version map[string]string
		n.get(t, "/api/v1/live", &live)
		n.get(t, "/api/v1/ready", &ready)
		n.get(t, "/api/v1/version", &version)
		if live["status"] != "ok" {
			t.Errorf("live: %v, want status ok", live)
		}
		if ready["status"] != "ready" {
			t.Errorf("ready: %v, want status ready", ready)
		}
		cli := runCLI(t, "version")
		if version["version"] == "" || !strings.Contains(cli.stdout, version["version"]) {
			t.Errorf("version %q is not what `opengslb version` prints (%q)", version["version"], cli.stdout)
		}
		if !strings.HasPrefix(version["go_version"], "go") {
			t.Errorf("go_version %q", version["go_version"])
		}
		// HEAD is GET without the body.
		n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodHead, path: "/api/v1/live"})
	})

	t.Run("status", func(t *testing.T) {
		var raw map[string]json.RawMessage
		r := n.get(t, "/api/v1/status", &raw)
		requireKeys(t, "status", raw, "node", "region", "version", "ready", "ready_detail", "serial",
			"config_generation", "domains", "backends", "agents", "overrides")
		var st apiStatus
		r.decode(t, &st)
		if !st.Ready || st.ReadyDetail != "" || st.Node == "" || st.Version == "" || st.Serial == 0 {
			t.Errorf("status: %+v; want ready, a node name, a version and a serial", st)
		}
		if st.Domains != 2 || st.Backends.Healthy != 3 || st.Backends.Unhealthy+st.Backends.Unknown+st.Backends.Stale != 0 ||
			st.Agents != 0 || st.Overrides != 0 {
			t.Errorf("status: %+v; want 2 domains, 3 healthy backends, no agents, no overrides", st)
		}
	})

	t.Run("backends", func(t *testing.T) {
		var raw struct {
			Backends []map[string]json.RawMessage `json:"backends"`
		}
		n.get(t, "/api/v1/overwatch/backends", &raw)
		for i, b := range raw.Backends {
			requireKeys(t, fmt.Sprintf("backend %d", i), b, backendKeys...)
		}
		all := n.backends(t, "")
		var got []string
		for _, b := range all {
			got = append(got, b.Service+"/"+b.hostPort())
			if b.Source != "static" || b.Agent != nil || b.ClaimedHealth != nil || b.ValidatedHealth != "healthy" ||
				b.EffectiveState != "healthy" || b.Override != nil || b.LastReport != nil || b.AgeSeconds != nil ||
				b.Stale || !b.Served || b.Weight != 100 || b.Priority != 1 {
				t.Errorf("static healthy backend %s: %+v", b.hostPort(), b)
			}
		}
		// Sorted by service, then address numerically, then port.
		want := []string{"api/" + target.addr, "api/192.0.2.1:80", "other/192.0.2.9:80"}
		if !slices.Equal(got, want) {
			t.Errorf("backends %v, want %v", got, want)
		}

		for query, want := range map[string]int{
			"?service=api": 2, "?service=other": 1, "?service=nope": 0, "?state=healthy": 3, "?state=served": 3,
			"?state=unhealthy": 0, "?state=drain": 0, "?service=other&state=healthy": 1,
		} {
			list := n.backends(t, query)
			if len(list) != want {
				t.Errorf("backends%s: %d, want %d", query, len(list), want)
			}
			for _, b := range list {
				if svc, ok := strings.CutPrefix(query, "?service="); ok && !strings.HasPrefix(b.Service, strings.Split(svc, "&")[0]) {
					t.Errorf("backends%s lists %s of %s", query, b.hostPort(), b.Service)
				}
			}
		}
		// An empty list is [], not null.
		var none map[string]json.RawMessage
		if n.get(t, "/api/v1/overwatch/backends?service=nope", &none); string(none["backends"]) != "[]" {
			t.Errorf("no match: backends %s, want []", none["backends"])
		}
		r := n.mustAPI(t, http.StatusBadRequest, apiReq{method: http.MethodGet, path: "/api/v1/overwatch/backends?state=bogus"})
		if e := r.errorOf(t); !strings.Contains(e.detail(), "bogus") || !strings.Contains(e.detail(), "healthy") {
			t.Errorf("bad state: %s; want the detail to name the value and the valid ones", r)
		}
	})

	t.Run("agents without gossip", func(t *testing.T) {
		var reply struct {
			Agents *[]json.RawMessage `json:"agents"`
		}
		n.get(t, "/api/v1/overwatch/agents", &reply)
		if reply.Agents == nil || len(*reply.Agents) != 0 {
			t.Errorf("agents without gossip: %v, want []", reply.Agents)
		}
	})

	t.Run("domains", func(t *testing.T) {
		var list struct {
			Domains []apiDomain `json:"domains"`
		}
		n.get(t, "/api/v1/domains", &list)
		var names []string
		for _, d := range list.Domains {
			names = append(names, d.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"api.gslb.test.", "other.gslb.test."}) {
			t.Errorf("domains %v", names)
		}

		var raw map[string]json.RawMessage
		r := n.get(t, "/api/v1/domains/api.gslb.test", &raw)
		requireKeys(t, "domain", raw, "name", "service", "routing", "ttl", "fallback", "fallback_active", "cold", "answer")
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(raw["answer"], &answer); err != nil || string(answer["AAAA"]) != "[]" {
			t.Errorf("answer %s: want AAAA as an empty list", raw["answer"])
		}
		var d apiDomain
		r.decode(t, &d)
		slices.Sort(d.Answer.A)
		if d.Name != "api.gslb.test." || d.Service != "api" || d.Routing != "round-robin" || d.TTL != 30 ||
			d.Fallback != "all" || d.FallbackActive || d.Cold || d.Answer.Rcode != "NOERROR" ||
			!slices.Equal(d.Answer.A, []string{"127.0.0.21", "192.0.2.1"}) {
			t.Errorf("domain api.gslb.test: %+v", d)
		}

		// Any case, with or without the trailing dot, as DNS compares.
		n.get(t, "/api/v1/domains/OTHER.Gslb.Test.", &d)
		if d.Name != "other.gslb.test." || d.Routing != "failover" || d.TTL != 45 || !slices.Equal(d.Answer.A, []string{"192.0.2.9"}) {
			t.Errorf("domain other.gslb.test: %+v", d)
		}
		r = n.mustAPI(t, http.StatusNotFound, apiReq{method: http.MethodGet, path: "/api/v1/domains/nope.gslb.test"})
		if e := r.errorOf(t); !strings.Contains(e.detail(), "nope.gslb.test") {
			t.Errorf("unknown domain: %s; want it named", r)
		}
	})

	t.Run("overrides list", func(t *testing.T) {
		var raw map[string]json.RawMessage
		if n.get(t, "/api/v1/overrides", &raw); len(raw) != 1 || string(raw["overrides"]) != "[]" {
			t.Errorf("no overrides: %v, want {\"overrides\": []}", raw)
		}
	})

	t.Run("unknown paths and methods", func(t *testing.T) {
		r := n.mustAPI(t, http.StatusNotFound, apiReq{method: http.MethodGet, path: "/api/v1/nothing"})
		r.errorOf(t)
		r = n.mustAPI(t, http.StatusMethodNotAllowed, apiReq{method: http.MethodPost, path: "/api/v1/status", body: "{}"})
		r.errorOf(t)
		if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("405 Allow %q, want \"GET, HEAD\"", allow)
		}
		r = n.mustAPI(t, http.StatusMethodNotAllowed, apiReq{method: http.MethodGet, path: "/api/v1/reload"})
		if allow := r.header.Get("Allow"); allow != "POST" {
			t.Errorf("405 Allow %q, want POST", allow)
		}
	})

	t.Run("a failing backend", func(t *testing.T) {
		target.failing.Store(true)
		checkFor(t, healthTimeout, n.expectAddresses("api.gslb.test.", dns.TypeA, "192.0.2.1"))
		checkFor(t, apiTimeout, func() error {
			list := n.backends(t, "?state=unhealthy")
			if len(list) != 1 || list[0].hostPort() != target.addr || list[0].Served || list[0].EffectiveState != "unhealthy" ||
				list[0].ValidatedHealth != "unhealthy" {
				return fmt.Errorf("?state=unhealthy: %+v, want only %s, not served", list, target.addr)
			}
			return nil
		})
		var st apiStatus
		n.get(t, "/api/v1/status", &st)
		if st.Backends.Healthy != 2 || st.Backends.Unhealthy != 1 {
			t.Errorf("status backends %+v, want 2 healthy and 1 unhealthy", st.Backends)
		}
		var d apiDomain
		n.get(t, "/api/v1/domains/api.gslb.test", &d)
		if !slices.Equal(d.Answer.A, []string{"192.0.2.1"}) {
			t.Errorf("domain answer %v, want only 192.0.2.1", d.Answer.A)
		}
	})

	// Requests are counted by route pattern and status.
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_api_requests_total{method="GET",route="/api/v1/overwatch/backends",code="400"}`, 1))
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_api_requests_total{method="GET",route="/api/v1/domains/{name}",code="404"}`, 1))
}

// TestAPIAgentsOverGossip: one overwatch and one agent. The agent is
// listed with its serf status, and its backend with the agent's claim,
// the time of its report and its age.
func TestAPIAgentsOverGossip(t *testing.T) {
	target := startTarget(t, "127.0.0.23")
	c := startCluster(t, 1)
	c.startAgent(agentSpec{name: "agent-1", backends: web(target)})
	ow := c.ows[0]
	n := &apiNode{overwatch: ow}
	n.setClient()
	// Until the agent's first check passes it reports the backend as
	// unknown, and the domain serves it failing open: wait for the claim,
	// not for the answer.
	checkFor(t, gossipTimeout, func() error {
		if list := n.backends(t, "?service=web&state=healthy"); len(list) != 1 {
			return fmt.Errorf("healthy backends of web: %+v, want the agent's", list)
		}
		return nil
	})
	checkFor(t, gossipTimeout, ow.expectAddresses(webName, dns.TypeA, target.ip))

	// Ready once the warm-up is over: the agent has reported.
	checkFor(t, gossipTimeout, func() error {
		r, err := n.send(apiReq{method: http.MethodGet, path: "/api/v1/ready"})
		if err != nil {
			return err
		}
		if r.code != http.StatusOK {
			return fmt.Errorf("ready: %s", r)
		}
		return nil
	})

	var agents []apiAgent
	checkFor(t, gossipTimeout, func() error {
		var reply struct {
			Agents []apiAgent `json:"agents"`
		}
		n.get(t, "/api/v1/overwatch/agents", &reply)
		agents = reply.Agents
		if len(agents) != 1 || agents[0].SerfStatus != "alive" || !agents[0].Registered {
			return fmt.Errorf("agents %+v, want agent-1 alive and registered", agents)
		}
		return nil
	})
	a := agents[0]
	if a.Agent != "agent-1" || !a.Alive || a.Region != "test" || a.Addr == "" || a.Accepted == 0 || a.Refused != 0 ||
		!slices.Equal(a.Services, []string{"web"}) {
		t.Errorf("agent: %+v", a)
	}
	if _, err := time.Parse(time.RFC3339Nano, a.LastReport); err != nil {
		t.Errorf("agent last_report %q: %v", a.LastReport, err)
	}
	var raw struct {
		Agents []map[string]json.RawMessage `json:"agents"`
	}
	n.get(t, "/api/v1/overwatch/agents", &raw)
	requireKeys(t, "agent", raw.Agents[0], "agent", "region", "addr", "alive", "registered", "last_report",
		"accepted", "refused", "services", "serf_status")

	list := n.backends(t, "?service=web")
	if len(list) != 1 {
		t.Fatalf("backends of web: %+v, want the agent's one", list)
	}
	b := list[0]
	if b.hostPort() != target.addr || b.Source != "agent-1" || b.Agent == nil || *b.Agent != "agent-1" ||
		b.ClaimedHealth == nil || *b.ClaimedHealth != "healthy" || b.EffectiveState != "healthy" || !b.Served || b.Stale {
		t.Errorf("agent backend: %+v", b)
	}
	if b.LastReport == nil || b.AgeSeconds == nil || *b.AgeSeconds < 0 || *b.AgeSeconds > 30 {
		t.Errorf("agent backend: last_report %v, age_seconds %v; want a report and a small age", b.LastReport, b.AgeSeconds)
	} else if _, err := time.Parse(time.RFC3339, *b.LastReport); err != nil {
		t.Errorf("last_report %q: %v", *b.LastReport, err)
	}
	if stale := n.backends(t, "?state=stale"); len(stale) != 0 {
		t.Errorf("?state=stale: %+v, want none", stale)
	}

	var st apiStatus
	n.get(t, "/api/v1/status", &st)
	if st.Agents != 1 || !st.Ready || st.Backends.Healthy != 1 {
		t.Errorf("status: %+v, want 1 agent, ready, 1 healthy backend", st)
	}
	var d apiDomain
	n.get(t, "/api/v1/domains/"+webName, &d)
	if d.Cold || !slices.Equal(d.Answer.A, []string{target.ip}) || d.Answer.Rcode != "NOERROR" {
		t.Errorf("domain %s: %+v", webName, d)
	}
}

const apiTestToken = "api-token-0123456789abcdef"

// accessBody is the zone of the access tests.
var accessBody = domain("acc.gslb.test") + staticBackend("acc", "192.0.2.1") + staticBackend("acc", "192.0.2.2")

// TestAPIWritesNeedTheToken: with api.auth_token, a change without the
// token or with another is 401 and changes nothing; with it, 200, from
// any allowed client. Reads need no token.
func TestAPIWritesNeedTheToken(t *testing.T) {
	n := startAPINode(t, apiSettings{token: apiTestToken}, accessBody)
	const path = "/api/v1/overrides/acc/192.0.2.1:80"
	const body = `{"state": "drain", "reason": "token test"}`

	refused := []struct {
		name   string
		header map[string]string
		bearer string
	}{
		{name: "no Authorization"},
		{name: "wrong token", bearer: "not-the-token-0123456789"},
		{name: "token with a suffix", bearer: apiTestToken + "x"},
		{name: "Basic scheme", header: map[string]string{"Authorization": "Basic " + apiTestToken}},
		{name: "bare token", header: map[string]string{"Authorization": apiTestToken}},
	}
	for _, tc := range refused {
		for _, req := range []apiReq{
			{method: http.MethodPut, path: path, body: body},
			{method: http.MethodDelete, path: path},
			{method: http.MethodPost, path: "/api/v1/reload"},
		} {
			req.token, req.header = tc.bearer, tc.header
			r := n.mustAPI(t, http.StatusUnauthorized, req)
			r.errorOf(t)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s (%s): WWW-Authenticate %q", req.method, req.path, tc.name, r.header.Get("WWW-Authenticate"))
			}
		}
	}
	if list := n.overrides(t); len(list) != 0 {
		t.Fatalf("refused writes left overrides: %+v", list)
	}
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_api_denied_total{reason="token"}`, float64(3*len(refused))))

	o := n.setOverride(t, "acc/192.0.2.1:80", body)
	if o.State != "drain" || o.Reason != "token test" {
		t.Errorf("override %+v", o)
	}
	checkFor(t, apiTimeout, n.expectAddresses("acc.gslb.test.", dns.TypeA, "192.0.2.2"))
	// Reads need no token.
	if list := n.overrides(t); len(list) != 1 {
		t.Errorf("overrides %+v, want the one set", list)
	}
	n.clearOverride(t, "acc/192.0.2.1:80")
	checkFor(t, apiTimeout, n.expectAddresses("acc.gslb.test.", dns.TypeA, "192.0.2.1", "192.0.2.2"))

	// With the token, the client's address does not matter (any allowed one).
	r := n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPut, path: "/api/v1/overrides/acc", body: `{"state": "up"}`,
		token: apiTestToken, client: n.clientFrom("127.0.0.2")})
	var reply struct {
		Override apiOverride `json:"override"`
	}
	r.decode(t, &reply)
	if reply.Override.Source != "127.0.0.2" || reply.Override.Backend != "" {
		t.Errorf("override from 127.0.0.2: %+v, want source 127.0.0.2 and the whole service", reply.Override)
	}
	n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPost, path: "/api/v1/reload", token: apiTestToken})
}

// nonLoopbackIPv4 is an IPv4 address of this host outside 127.0.0.0/8, or
// "" when it has none.
func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.To4() != nil && !ipnet.IP.IsLoopback() {
			return ipnet.IP.String()
		}
	}
	return ""
}

// TestAPIWritesWithoutToken: with no api.auth_token, changes are taken
// from loopback clients only, as the README promises. 127.0.0.2 is
// loopback (127.0.0.0/8); a client outside it that allowed_networks lets
// read — through a trusted proxy's X-Forwarded-For, and from this host's
// own non-loopback address when it has one — may read but not write.
func TestAPIWritesWithoutToken(t *testing.T) {
	allowed := []string{"127.0.0.0/8", "10.0.0.0/8"}
	ext := nonLoopbackIPv4()
	if ext != "" {
		allowed = append(allowed, ext+"/32")
	}
	n := startAPINode(t, apiSettings{allowed: allowed, trustProxy: true}, accessBody)
	put := func(client *http.Client, xff string) apiReq {
		req := apiReq{method: http.MethodPut, path: "/api/v1/overrides/acc/192.0.2.1:80", body: `{"state": "drain"}`, client: client}
		if xff != "" {
			req.header = map[string]string{"X-Forwarded-For": xff}
		}
		return req
	}
	get := func(client *http.Client, xff string) apiReq {
		req := put(client, xff)
		req.method, req.path, req.body = http.MethodGet, "/api/v1/status", ""
		return req
	}

	t.Run("from 127.0.0.1", func(t *testing.T) {
		n.mustAPI(t, http.StatusOK, put(nil, ""))
		n.clearOverride(t, "acc/192.0.2.1:80")
	})
	t.Run("from 127.0.0.2", func(t *testing.T) {
		r := n.mustAPI(t, http.StatusOK, put(n.clientFrom("127.0.0.2"), ""))
		var reply struct {
			Override apiOverride `json:"override"`
		}
		r.decode(t, &reply)
		if reply.Override.Source != "127.0.0.2" {
			t.Errorf("source %q, want 127.0.0.2", reply.Override.Source)
		}
		n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodDelete, path: "/api/v1/overrides/acc/192.0.2.1:80", client: n.clientFrom("127.0.0.2")})
	})
	t.Run("through a proxy for 10.1.2.3", func(t *testing.T) {
		n.mustAPI(t, http.StatusOK, get(nil, "10.1.2.3"))
		r := n.mustAPI(t, http.StatusForbidden, put(nil, "10.1.2.3"))
		if e := r.errorOf(t); !strings.Contains(e.detail(), "loopback") || !strings.Contains(e.detail(), "10.1.2.3") {
			t.Errorf("refusal %s: want it to say loopback only and name the client", r)
		}
		// Only the last hop counts: an earlier loopback entry is the
		// client's own claim.
		n.mustAPI(t, http.StatusForbidden, put(nil, "127.0.0.1, 10.1.2.3"))
		n.mustAPI(t, http.StatusForbidden, apiReq{method: http.MethodPost, path: "/api/v1/reload", header: map[string]string{"X-Forwarded-For": "10.1.2.3"}})
	})
	t.Run("through a proxy for 172.16.0.1", func(t *testing.T) {
		r := n.mustAPI(t, http.StatusForbidden, get(nil, "172.16.0.1"))
		if e := r.errorOf(t); !strings.Contains(e.detail(), "allowed_networks") {
			t.Errorf("refusal %s: want it to name api.allowed_networks", r)
		}
	})
	t.Run("from this host's "+ext, func(t *testing.T) {
		if ext == "" {
			t.Skip("no non-loopback IPv4 address on this host")
		}
		client := n.clientFrom(ext)
		if _, err := n.send(get(client, "")); err != nil {
			t.Skipf("cannot reach the API from %s: %v", ext, err)
		}
		n.mustAPI(t, http.StatusOK, get(client, ""))
		r := n.mustAPI(t, http.StatusForbidden, put(client, ""))
		if e := r.errorOf(t); !strings.Contains(e.detail(), ext) {
			t.Errorf("refusal %s: want it to name %s", r, ext)
		}
	})
	if list := n.overrides(t); len(list) != 0 {
		t.Errorf("refused writes left overrides: %+v", list)
	}
	checkFor(t, apiTimeout, func() error {
		text, err := n.metricsText()
		if err != nil {
			return err
		}
		if v, _ := metricValue(text, `opengslb_api_denied_total{reason="loopback_only"}`); v < 3 {
			return fmt.Errorf(`opengslb_api_denied_total{reason="loopback_only"} = %v, want at least 3`, v)
		}
		return nil
	})
}

// TestAPIAllowedNetworks: allowed_networks = ["127.0.0.1/32"] refuses any
// request from 127.0.0.2, reads included, with 403; X-Forwarded-For is not
// believed without trust_proxy_headers.
func TestAPIAllowedNetworks(t *testing.T) {
	n := startAPINode(t, apiSettings{allowed: []string{"127.0.0.1/32"}}, accessBody)
	other := n.clientFrom("127.0.0.2")
	for _, req := range []apiReq{
		{method: http.MethodGet, path: "/api/v1/live"},
		{method: http.MethodGet, path: "/api/v1/ready"},
		{method: http.MethodGet, path: "/api/v1/status"},
		{method: http.MethodGet, path: "/api/v1/nothing"},
		{method: http.MethodPut, path: "/api/v1/overrides/acc/192.0.2.1:80", body: `{"state": "drain"}`},
		{method: http.MethodPost, path: "/api/v1/reload"},
		{method: http.MethodGet, path: "/api/v1/status", header: map[string]string{"X-Forwarded-For": "127.0.0.1"}},
	} {
		req.client = other
		r := n.mustAPI(t, http.StatusForbidden, req)
		if e := r.errorOf(t); !strings.Contains(e.detail(), "127.0.0.2") {
			t.Errorf("%s %s from 127.0.0.2: %s; want the client named", req.method, req.path, r)
		}
	}
	n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodGet, path: "/api/v1/live"})
	n.setOverride(t, "acc/192.0.2.1:80", `{"state": "drain"}`)
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_api_denied_total{reason="network"}`, 7))
}

// TestAPITLS: with tls_cert_file and tls_key_file the API speaks HTTPS;
// a client trusting the certificate reads and writes, an untrusting one
// gets nothing, and the CLI works with --ca-file. The same port answers
// plain HTTP from loopback, as the HA guide's `curl http://localhost:9090`
// needs, and refuses it from this host's non-loopback address (when it
// has one) with a 400 in the API's error shape.
func TestAPITLS(t *testing.T) {
	certFile, keyFile, certPEM := selfSigned(t, t.TempDir())
	n := startAPINode(t, apiSettings{certFile: certFile, keyFile: keyFile, caPEM: certPEM}, accessBody)
	if !strings.HasPrefix(n.base, "https://") {
		t.Fatalf("base %s", n.base)
	}
	var ready map[string]string
	n.get(t, "/api/v1/ready", &ready)
	if ready["status"] != "ready" {
		t.Errorf("ready over HTTPS: %v", ready)
	}
	n.setOverride(t, "acc/192.0.2.2:80", `{"state": "drain", "reason": "over TLS"}`)
	checkFor(t, apiTimeout, n.expectAddresses("acc.gslb.test.", dns.TypeA, "192.0.2.1"))

	plain := *n
	plain.base, plain.client = "http://"+n.ports.api, boundClient("", nil)
	t.Run("plain HTTP from loopback", func(t *testing.T) {
		var ready map[string]string
		plain.get(t, "/api/v1/ready", &ready)
		if ready["status"] != "ready" {
			t.Errorf("ready over plain HTTP from 127.0.0.1: %v", ready)
		}
		plain.mustAPI(t, http.StatusOK, apiReq{method: http.MethodGet, path: "/api/v1/dnssec/status", client: boundClient("127.0.0.2", nil)})
		plain.mustAPI(t, http.StatusOK, apiReq{method: http.MethodDelete, path: "/api/v1/overrides/acc/192.0.2.2:80"})
		plain.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPut, path: "/api/v1/overrides/acc/192.0.2.2:80", body: `{"state": "drain", "reason": "over TLS"}`})
	})
	ext := nonLoopbackIPv4()
	t.Run("plain HTTP from this host's "+ext, func(t *testing.T) {
		if ext == "" {
			t.Skip("no non-loopback IPv4 address on this host")
		}
		client := boundClient(ext, nil)
		r, err := plain.send(apiReq{method: http.MethodGet, path: "/api/v1/ready", client: client})
		if err != nil && strings.Contains(err.Error(), "dial") {
			t.Skipf("cannot reach the API from %s: %v", ext, err)
		}
		if err != nil {
			t.Fatalf("plain HTTP from %s: %v; want a 400 answer", ext, err)
		}
		if r.code != http.StatusBadRequest {
			t.Fatalf("plain HTTP from %s: %s; want 400", ext, r)
		}
		if e := r.errorOf(t); !strings.Contains(e.detail(), "HTTPS") || !strings.Contains(e.detail(), ext) {
			t.Errorf("refusal %s: want it to say HTTPS is required and name %s", r, ext)
		}
		checkFor(t, apiTimeout, n.expectMetric(`opengslb_api_denied_total{reason="plain_http"}`, 1))
		// HTTPS from the same address gets past the port to the API's own
		// rules: allowed_networks is loopback by default.
		r = n.mustAPI(t, http.StatusForbidden, apiReq{method: http.MethodGet, path: "/api/v1/ready", client: n.clientFrom(ext)})
		if e := r.errorOf(t); !strings.Contains(e.detail(), "allowed_networks") {
			t.Errorf("HTTPS from %s: %s; want the allowed_networks refusal", ext, r)
		}
	})
	if _, err := boundClient("", nil).Get(n.base + "/api/v1/ready"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("HTTPS without trusting the certificate: %v, want a certificate error", err)
	}

	r := runCLI(t, "status", "--api", n.base, "--ca-file", certFile)
	if r.code != 0 || !strings.Contains(r.stdout, "ready") {
		t.Errorf("status over HTTPS with --ca-file:\n%s", r)
	}
	r = runCLI(t, "override", "list", "--api", n.base, "--ca-file", certFile, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "over TLS") {
		t.Errorf("override list over HTTPS:\n%s", r)
	}
	r = runCLI(t, "status", "--api", n.base)
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("status over HTTPS without --ca-file: want exit 1 about the certificate\n%s", r)
	}
	r = runCLI(t, "status", "--api", "http://"+n.ports.api)
	if r.code != 0 || !strings.Contains(r.stdout, "ready") {
		t.Errorf("status over plain HTTP from loopback to the TLS port: want exit 0\n%s", r)
	}
}

// TestAPIRejectsBadBodies: bodies too large, not JSON, with unknown fields
// or of another media type are refused with the right status and the
// API's error shape; the node keeps serving DNS and the API after all of
// it, and none of it changed anything.
func TestAPIRejectsBadBodies(t *testing.T) {
	n := startAPINode(t, apiSettings{}, domain("bad.gslb.test")+staticBackend("bad", "192.0.2.1"))
	const override = "/api/v1/overrides/bad/192.0.2.1:80"
	huge := `{"state": "drain", "reason": "` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name   string
		req    apiReq
		code   int
		detail string // in the error's detail
	}{
		{"oversized", apiReq{path: override, body: huge, expectContinue: true}, http.StatusRequestEntityTooLarge, "bytes"},
		{"oversized chunked", apiReq{path: override, body: huge, chunked: true}, http.StatusRequestEntityTooLarge, "bytes"},
		{"malformed JSON", apiReq{path: override, body: `{"state": "drain"`}, http.StatusBadRequest, ""},
		{"not JSON at all", apiReq{path: override, body: `state=drain`}, http.StatusBadRequest, ""},
		{"a list", apiReq{path: override, body: `["drain"]`}, http.StatusBadRequest, ""},
		{"unknown field", apiReq{path: override, body: `{"state": "drain", "colour": "red"}`}, http.StatusBadRequest, "colour"},
		{"wrong type", apiReq{path: override, body: `{"state": 5}`}, http.StatusBadRequest, "state"},
		{"two values", apiReq{path: override, body: `{"state": "drain"} {"state": "down"}`}, http.StatusBadRequest, ""},
		{"no body", apiReq{path: override}, http.StatusBadRequest, "state"},
		{"bad state", apiReq{path: override, body: `{"state": "sideways"}`}, http.StatusBadRequest, "sideways"},
		{"expired expiry", apiReq{path: override, body: `{"state": "drain", "expires": "2001-01-01T00:00:00Z"}`}, http.StatusBadRequest, "future"},
		{"unparsable expiry", apiReq{path: override, body: `{"state": "drain", "expires": "soon"}`}, http.StatusBadRequest, "soon"},
		{"negative expiry", apiReq{path: override, body: `{"state": "drain", "expires": "-1h"}`}, http.StatusBadRequest, "positive"},
		{"reason too long", apiReq{path: override, body: `{"state": "drain", "reason": "` + strings.Repeat("r", 1025) + `"}`}, http.StatusBadRequest, "reason"},
		{"text/plain", apiReq{path: override, body: `{"state": "drain"}`, contentType: "text/plain"}, http.StatusUnsupportedMediaType, "application/json"},
		{"form", apiReq{path: override, body: `state=drain`, contentType: "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, "application/json"},
		{"backend without port", apiReq{path: "/api/v1/overrides/bad/192.0.2.1", body: `{"state": "drain"}`}, http.StatusBadRequest, "address:port"},
		{"IPv6 without brackets", apiReq{path: "/api/v1/overrides/bad/2001:db8::1:80", body: `{"state": "drain"}`}, http.StatusBadRequest, "brackets"},
		{"unknown service", apiReq{path: "/api/v1/overrides/nosuch", body: `{"state": "drain"}`}, http.StatusNotFound, "nosuch"},
		{"reload: unknown field", apiReq{method: http.MethodPost, path: "/api/v1/reload", body: `{"force": true}`}, http.StatusBadRequest, "force"},
		{"reload: oversized", apiReq{method: http.MethodPost, path: "/api/v1/reload", body: huge, expectContinue: true}, http.StatusRequestEntityTooLarge, ""},
		{"reload: text/plain", apiReq{method: http.MethodPost, path: "/api/v1/reload", body: "{}", contentType: "text/plain"}, http.StatusUnsupportedMediaType, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req.method == "" {
				req.method = http.MethodPut
			}
			r := n.mustAPI(t, tc.code, req)
			if e := r.errorOf(t); !strings.Contains(e.detail(), tc.detail) {
				t.Errorf("%s: detail %q does not say %q", tc.name, e.detail(), tc.detail)
			}
		})
	}

	// A request that is not HTTP at all.
	conn, err := net.DialTimeout("tcp", n.ports.api, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = conn.Write([]byte("\x16\x03\x01garbage\r\n\r\n"))
	buf := make([]byte, 512)
	nr, _ := conn.Read(buf)
	conn.Close()
	if !strings.HasPrefix(string(buf[:nr]), "HTTP/1.1 400") {
		t.Errorf("garbage request: answered %q, want HTTP 400", buf[:nr])
	}

	// Still serving, and nothing changed.
	for _, tcp := range []bool{false, true} {
		if err := n.expectAddresses("bad.gslb.test.", dns.TypeA, "192.0.2.1")(); err != nil {
			t.Errorf("DNS over %v after the bad requests: %v", map[bool]string{false: "UDP", true: "TCP"}[tcp], err)
		}
	}
	n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodGet, path: "/api/v1/ready"})
	if list := n.overrides(t); len(list) != 0 {
		t.Errorf("refused requests left overrides: %+v", list)
	}
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_api_panics_total`, 0))
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_config_reloads_total{result="success"}`, 0))
}

// overrideBody is the zone of TestAPIOverrides: svc with two IPv4
// backends and an IPv6 one; solo with one backend, served by a domain
// that fails open (the default) and one that answers SERVFAIL; forced
// with a healthy backend and one checked over HTTP at sick.
func overrideBody(sick string) string {
	return domain("svc.gslb.test") + staticBackend("svc", "192.0.2.1") + staticBackend("svc", "192.0.2.2") +
		staticBackend("svc", "2001:db8::1") +
		domain("solo.gslb.test") + domain("strict.gslb.test", `service = "solo"`, `fallback = "servfail"`) +
		staticBackend("solo", "192.0.2.50") +
		domain("forced.gslb.test") + staticBackend("forced", "192.0.2.60") + httpBackend("forced", sick)
}

// TestAPIOverrides: drain and down take backends out of answers, a whole
// service too (its domains' fallback then decides, and fail-open does not
// bring back what the operator took out); DELETE brings them back; IPv6
// backends are named in brackets; overrides survive a restart; an expiry
// lifts one by itself.
func TestAPIOverrides(t *testing.T) {
	sick := startTarget(t, "127.0.0.25")
	sick.failing.Store(true)
	n := startAPINode(t, apiSettings{}, overrideBody(sick.addr))
	n.waitHealthy(t, 5)
	checkFor(t, healthTimeout, n.expectMetric(sick.healthSeries("forced"), 0))
	const svc = "svc.gslb.test."
	checkFor(t, healthTimeout, n.expectAddresses(svc, dns.TypeA, "192.0.2.1", "192.0.2.2"))
	checkFor(t, healthTimeout, n.expectAddresses(svc, dns.TypeAAAA, "2001:db8::1"))

	t.Run("drain one backend", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		o := n.setOverride(t, "svc/192.0.2.1:80", `{"state": "drain", "reason": "kernel update"}`)
		if o.Service != "svc" || o.Backend != "192.0.2.1:80" || o.State != "drain" || o.Reason != "kernel update" ||
			o.Source != "127.0.0.1" || o.Expires != nil || o.Created == nil {
			t.Errorf("override %+v", o)
		} else if c, err := time.Parse(time.RFC3339, *o.Created); err != nil || c.Before(before.Truncate(time.Second)) || c.After(time.Now().Add(time.Second)) {
			t.Errorf("created %q (%v), want about now", *o.Created, err)
		}
		checkFor(t, apiTimeout, n.expectAddresses(svc, dns.TypeA, "192.0.2.2"))
		list := n.backends(t, "?state=drain")
		if len(list) != 1 || list[0].hostPort() != "192.0.2.1:80" || list[0].Served || list[0].Override == nil ||
			list[0].Override.State != "drain" || list[0].Override.Reason != "kernel update" {
			t.Errorf("?state=drain: %+v", list)
		}
		var st apiStatus
		n.get(t, "/api/v1/status", &st)
		if st.Overrides != 1 {
			t.Errorf("status overrides %d, want 1", st.Overrides)
		}
		checkFor(t, apiTimeout, n.expectMetric(`opengslb_overrides_active`, 1))
	})

	t.Run("IPv6 backend", func(t *testing.T) {
		o := n.setOverride(t, "svc/[2001:db8::1]:80", `{"state": "down"}`)
		if o.Backend != "[2001:db8::1]:80" {
			t.Errorf("IPv6 override backend %q, want [2001:db8::1]:80", o.Backend)
		}
		checkFor(t, apiTimeout, n.expectNoData(svc, dns.TypeAAAA))
		if list := n.backends(t, "?state=down"); len(list) != 1 || list[0].Address != "2001:db8::1" {
			t.Errorf("?state=down: %+v", list)
		}
		// The brackets escaped work too.
		n.clearOverride(t, "svc/%5B2001:db8::1%5D:80")
		checkFor(t, apiTimeout, n.expectAddresses(svc, dns.TypeAAAA, "2001:db8::1"))
	})

	t.Run("whole service down", func(t *testing.T) {
		o := n.setOverride(t, "solo", `{"state": "down", "reason": "datacenter move"}`)
		if o.Service != "solo" || o.Backend != "" {
			t.Errorf("whole-service override %+v", o)
		}
		// Fallback "all" fails open, but not to a backend the operator
		// took out: no address. Fallback "servfail" says SERVFAIL.
		checkFor(t, apiTimeout, n.expectNoData("solo.gslb.test.", dns.TypeA))
		checkFor(t, apiTimeout, n.expectRcode("strict.gslb.test.", dns.TypeA, dns.RcodeServerFailure))
		var d apiDomain
		n.get(t, "/api/v1/domains/solo.gslb.test", &d)
		if !d.FallbackActive || len(d.Answer.A) != 0 || d.Answer.Rcode != "NOERROR" {
			t.Errorf("domain solo under a down override: %+v", d)
		}
		n.get(t, "/api/v1/domains/strict.gslb.test", &d)
		if !d.FallbackActive || d.Answer.Rcode != "SERVFAIL" {
			t.Errorf("domain strict under a down override: %+v", d)
		}
		n.clearOverride(t, "solo")
		checkFor(t, apiTimeout, n.expectAddresses("solo.gslb.test.", dns.TypeA, "192.0.2.50"))
		checkFor(t, apiTimeout, n.expectAddresses("strict.gslb.test.", dns.TypeA, "192.0.2.50"))
	})

	t.Run("up serves a failing backend", func(t *testing.T) {
		checkFor(t, healthTimeout, n.expectAddresses("forced.gslb.test.", dns.TypeA, "192.0.2.60"))
		n.setOverride(t, "forced/"+sick.addr, `{"state": "up", "reason": "the check is wrong"}`)
		checkFor(t, apiTimeout, n.expectAddresses("forced.gslb.test.", dns.TypeA, "192.0.2.60", sick.ip))
		list := n.backends(t, "?state=up")
		if len(list) != 1 || list[0].hostPort() != sick.addr || !list[0].Served || list[0].EffectiveState != "unhealthy" {
			t.Errorf("?state=up: %+v, want %s served while unhealthy", list, sick.addr)
		}
		n.clearOverride(t, "forced/"+sick.addr)
		checkFor(t, apiTimeout, n.expectAddresses("forced.gslb.test.", dns.TypeA, "192.0.2.60"))
	})

	t.Run("clearing what is not there", func(t *testing.T) {
		r := n.mustAPI(t, http.StatusNotFound, apiReq{method: http.MethodDelete, path: "/api/v1/overrides/svc/192.0.2.2:80"})
		r.errorOf(t)
	})

	// Restarted here, not in a subtest: the new process lives until the
	// test ends.
	n = n.restart(t)
	t.Run("survives a restart", func(t *testing.T) {
		// From the first answer on: a drained backend never comes back
		// while the restarted node learns its health.
		for i := 0; i < 50; i++ {
			r := n.must(t, q(svc, dns.TypeA))
			if slices.Contains(addresses(r), "192.0.2.1") {
				t.Fatalf("after the restart, answer %d is %v: the drained 192.0.2.1 is back", i, addresses(r))
			}
		}
		n.waitHealthy(t, 5)
		checkFor(t, apiTimeout, n.expectAddresses(svc, dns.TypeA, "192.0.2.2"))
		list := n.overrides(t)
		if len(list) != 1 || list[0].Backend != "192.0.2.1:80" || list[0].State != "drain" || list[0].Reason != "kernel update" {
			t.Errorf("overrides after the restart: %+v", list)
		}
		checkFor(t, apiTimeout, n.expectMetric(`opengslb_overrides_active`, 1))
		n.clearOverride(t, "svc/192.0.2.1:80")
		checkFor(t, apiTimeout, n.expectAddresses(svc, dns.TypeA, "192.0.2.1", "192.0.2.2"))
	})

	t.Run("expires by itself", func(t *testing.T) {
		set := time.Now()
		o := n.setOverride(t, "svc/192.0.2.2:80", `{"state": "drain", "expires": "1s"}`)
		if o.Expires == nil {
			t.Fatalf("override with expires 1s: %+v, want an expiry", o)
		}
		if e, err := time.Parse(time.RFC3339, *o.Expires); err != nil || e.Before(set.Truncate(time.Second)) || e.After(set.Add(3*time.Second)) {
			t.Errorf("expires %q (%v), want about a second from now", *o.Expires, err)
		}
		checkFor(t, apiTimeout, n.expectAddresses(svc, dns.TypeA, "192.0.2.1"))
		checkFor(t, apiTimeout, n.expectAddresses(svc, dns.TypeA, "192.0.2.1", "192.0.2.2"))
		t.Logf("the 1s override lapsed %s after it was set", time.Since(set).Round(10*time.Millisecond))
		if list := n.overrides(t); len(list) != 0 {
			t.Errorf("overrides after the expiry: %+v", list)
		}
		checkFor(t, apiTimeout, n.expectMetric(`opengslb_overrides_active`, 0))
	})
}

// TestAPIReload: POST /api/v1/reload does what SIGHUP does and answers
// with the outcome: applied with its changes, unchanged, or refused (422)
// naming file:line, with the running configuration still serving.
func TestAPIReload(t *testing.T) {
	v1 := domain("a.gslb.test") + staticBackend("a", "192.0.2.1")
	v2 := v1 + domain("b.gslb.test") + staticBackend("b", "192.0.2.2")
	n := startAPINode(t, apiSettings{}, v1)
	checkFor(t, apiTimeout, n.expectAddresses("a.gslb.test.", dns.TypeA, "192.0.2.1"))
	type result struct {
		Applied    bool     `json:"applied"`
		Generation uint64   `json:"generation"`
		Changes    []string `json:"changes"`
	}
	reload := func(t *testing.T, body string, want int) apiResp {
		t.Helper()
		return n.mustAPI(t, want, apiReq{method: http.MethodPost, path: "/api/v1/reload", body: body})
	}

	var res result
	r := reload(t, "", http.StatusOK)
	r.decode(t, &res)
	if res.Applied || res.Generation != 0 || res.Changes == nil || len(res.Changes) != 0 {
		t.Errorf("reload of an unchanged file: %s, want applied false, generation 0, changes []", r)
	}

	n.writeBody(v2)
	r = reload(t, "", http.StatusOK)
	r.decode(t, &res)
	if !res.Applied || res.Generation != 1 || !slices.ContainsFunc(res.Changes, func(c string) bool { return strings.Contains(c, "b.gslb.test") }) {
		t.Errorf("reload adding b.gslb.test: %s, want applied at generation 1, the new domain among the changes", r)
	}
	t.Logf("changes: %q", res.Changes)
	checkFor(t, apiTimeout, n.expectAddresses("b.gslb.test.", dns.TypeA, "192.0.2.2"))
	var st apiStatus
	n.get(t, "/api/v1/status", &st)
	if st.ConfigGeneration != 1 || st.Domains != 2 {
		t.Errorf("status after the reload: %+v, want generation 1 and 2 domains", st)
	}

	// An empty JSON object is a request like no body.
	reload(t, "{}", http.StatusOK).decode(t, &res)
	if res.Applied || res.Generation != 1 {
		t.Errorf("second reload: %+v, want nothing applied, generation 1", res)
	}

	t.Run("invalid file", func(t *testing.T) {
		text := n.writeRaw(apiConfigText(n.ports, n.dir, n.settings, v2+domain("c.gslb.test", "tll = 30")))
		r := reload(t, "", http.StatusUnprocessableEntity)
		e := r.errorOf(t)
		at := fmt.Sprintf("%s:%d: ", n.cfgPath, lineOf(t, text, "tll = 30"))
		if !strings.Contains(e.detail(), at) || !strings.Contains(e.detail(), "domains[2].tll") {
			t.Errorf("refusal %s: want it to point at %s and name domains[2].tll", r, at)
		}
		checkFor(t, apiTimeout, n.expectAddresses("b.gslb.test.", dns.TypeA, "192.0.2.2"))
		checkFor(t, apiTimeout, n.expectRcode("c.gslb.test.", dns.TypeA, dns.RcodeNameError))
	})

	t.Run("a change that needs a restart", func(t *testing.T) {
		const secret = "rotated-token-0123456789abcdef"
		s := n.settings
		s.token = secret
		text := n.writeRaw(apiConfigText(n.ports, n.dir, s, v2))
		r := reload(t, "", http.StatusUnprocessableEntity)
		e := r.errorOf(t)
		at := fmt.Sprintf("%s:%d: ", n.cfgPath, lineOf(t, text, "auth_token"))
		if !strings.Contains(e.detail(), at+"api.auth_token cannot change without a restart") {
			t.Errorf("refusal %s: want %sapi.auth_token cannot change without a restart", r, at)
		}
		if strings.Contains(string(r.body), secret) {
			t.Errorf("the refusal shows the secret: %s", r)
		}
		// Still no token in force: loopback writes go on.
		n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPut, path: "/api/v1/overrides/a", body: `{"state": "up"}`})
		n.clearOverride(t, "a")
	})

	n.writeBody(v2)
	reload(t, "", http.StatusOK).decode(t, &res)
	if res.Applied || res.Generation != 1 {
		t.Errorf("reload back to the running file: %+v, want nothing applied", res)
	}
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_config_reloads_total{result="success"}`, 4))
	checkFor(t, apiTimeout, n.expectMetric(`opengslb_config_reloads_total{result="failure"}`, 2))
}

// TestAPIReadyDuringShutdown: once SIGTERM is handled, /api/v1/ready never
// answers 200 again: it answers 503 (the node is draining) until the
// listener closes, and the process exits 0.
func TestAPIReadyDuringShutdown(t *testing.T) {
	n := startAPINode(t, apiSettings{}, accessBody)
	type probe struct {
		start time.Time
		code  int
		body  string
		err   error
	}
	var ok atomic.Int64
	stop := make(chan struct{})
	done := make(chan []probe, 1)
	go func() {
		var out []probe
		for i := 0; i < 200000; i++ {
			select {
			case <-stop:
				done <- out
				return
			default:
			}
			p := probe{start: time.Now()}
			r, err := n.send(apiReq{method: http.MethodGet, path: "/api/v1/ready"})
			p.code, p.body, p.err = r.code, string(r.body), err
			out = append(out, p)
			if p.code == http.StatusOK {
				ok.Add(1)
			}
			if err != nil {
				time.Sleep(time.Millisecond) // refused at once: do not spin
			}
		}
		done <- out
	}()
	checkFor(t, apiTimeout, func() error {
		if c := ok.Load(); c < 20 {
			return fmt.Errorf("%d ready answers so far", c)
		}
		return nil
	})
	signalled := time.Now()
	n.stop(syscall.SIGTERM) // fails the test unless it exits 0 within stopTimeout
	exited := time.Now()
	close(stop)
	var probes []probe
	select {
	case probes = <-done:
	case <-time.After(apiTimeout):
		t.Fatal("the probe loop did not stop")
	}

	// A request sent a few hundred microseconds after the signal may be
	// answered before the process has handled it: the signal is delivered
	// asynchronously. What must hold is that once the node has said it is
	// going (a 503, or no listener), it never says ready again, and that
	// it says so at once.
	var after, early, unavailable, failed int
	firstDown := -1
	for i, p := range probes {
		if p.start.Before(signalled) {
			continue
		}
		after++
		switch {
		case p.err != nil:
			failed++
		case p.code == http.StatusOK:
			if firstDown >= 0 {
				t.Errorf("/api/v1/ready answered 200 to a request sent %s after SIGTERM, after it had answered %s",
					p.start.Sub(signalled), describeProbe(probes[firstDown].code, probes[firstDown].err))
			} else {
				early++
				t.Logf("a request sent %s after SIGTERM was answered 200, before the process had handled the signal", p.start.Sub(signalled))
			}
			continue
		case p.code == http.StatusServiceUnavailable:
			unavailable++
			if !strings.Contains(p.body, "shutting down") {
				t.Errorf("503 while shutting down says %q, want the reason", p.body)
			}
		default:
			t.Errorf("ready while shutting down: HTTP %d %s", p.code, p.body)
		}
		if firstDown < 0 {
			firstDown = i
		}
	}
	t.Logf("%d probes after SIGTERM (exit %s later): %d early 200, %d 503, %d failed to connect",
		after, exited.Sub(signalled).Round(time.Millisecond), early, unavailable, failed)
	switch {
	case firstDown < 0:
		t.Errorf("no probe after SIGTERM saw the node going")
	case probes[firstDown].start.Sub(signalled) > time.Second:
		t.Errorf("ready went on answering 200 for %s after SIGTERM", probes[firstDown].start.Sub(signalled))
	}
	if _, err := n.findLog("draining: ready now answers 503 and changes are refused"); err != nil {
		t.Errorf("no drain log line: %v", err)
	}
}

func describeProbe(code int, err error) string {
	if err != nil {
		return "with an error (" + err.Error() + ")"
	}
	return fmt.Sprintf("HTTP %d", code)
}
