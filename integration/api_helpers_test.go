package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Helpers for the tests of the overwatch's HTTP API (api_test.go,
// cli_live_test.go, contract_test.go): a configuration with [api]
// settings, a node whose API is known to answer, HTTP clients bound to a
// chosen loopback address, and readers for the API's JSON shapes.

// apiTimeout bounds one HTTP request to the API and each wait for an API
// answer to change.
const apiTimeout = 5 * time.Second

// apiSettings are the [api] keys beyond listen_address.
type apiSettings struct {
	token      string   // auth_token
	allowed    []string // allowed_networks; nil leaves the key out
	trustProxy bool     // trust_proxy_headers
	// certFile and keyFile, both set, serve HTTPS; caPEM is the
	// certificate, for clients to trust.
	certFile, keyFile string
	caPEM             []byte
}

func (s apiSettings) lines() string {
	var b strings.Builder
	if s.token != "" {
		fmt.Fprintf(&b, "auth_token = %q\n", s.token)
	}
	if s.allowed != nil {
		quoted := make([]string, len(s.allowed))
		for i, n := range s.allowed {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		fmt.Fprintf(&b, "allowed_networks = [%s]\n", strings.Join(quoted, ", "))
	}
	if s.trustProxy {
		b.WriteString("trust_proxy_headers = true\n")
	}
	if s.certFile != "" {
		fmt.Fprintf(&b, "tls_cert_file = %q\ntls_key_file = %q\n", s.certFile, s.keyFile)
	}
	return b.String()
}

func (s apiSettings) scheme() string {
	if s.certFile != "" {
		return "https"
	}
	return "http"
}

// apiConfigText is a complete overwatch configuration with the [api]
// table written from s, then body ([[domains]], [[backends]], …):
// configText leaves its [api] table open, so s's keys land in it.
func apiConfigText(p ports, dataDir string, s apiSettings, body string) string {
	return configText(p, dataDir, s.lines()+body)
}

// apiNode is a running overwatch whose API answers.
type apiNode struct {
	*overwatch
	settings apiSettings
	base     string       // "http://127.0.0.1:port" (https with TLS)
	client   *http.Client // from 127.0.0.1, trusting the node's certificate
}

// startAPINode starts an overwatch with the [api] settings s and body and
// returns once DNS, metrics and GET /api/v1/live answer. It is stopped
// with SIGTERM when the test ends and must exit 0.
func startAPINode(t testing.TB, s apiSettings, body string) *apiNode {
	t.Helper()
	return retryPorts(t, func() (*apiNode, error) {
		n := &apiNode{overwatch: &overwatch{process: newProcess(t, "overwatch"), ports: freePorts(t)}, settings: s}
		n.setClient()
		n.writeBody(body)
		n.launch()
		return n, n.awaitStart(n.ready)
	})
}

func (n *apiNode) setClient() {
	n.base = n.settings.scheme() + "://" + n.ports.api
	n.client = n.clientFrom("")
}

// ready is the harness's readiness (DNS over UDP and TCP, metrics) plus
// GET /api/v1/live: the API starts last.
func (n *apiNode) ready() error {
	if err := n.overwatch.ready(); err != nil {
		return err
	}
	r, err := n.send(apiReq{method: http.MethodGet, path: "/api/v1/live"})
	if err != nil {
		return err
	}
	if r.code != http.StatusOK {
		return fmt.Errorf("GET /api/v1/live: %d %s", r.code, r.body)
	}
	return nil
}

// writeBody replaces the configuration file, keeping the ports and the
// [api] settings.
func (n *apiNode) writeBody(body string) string {
	return n.writeRaw(apiConfigText(n.ports, n.dir, n.settings, body))
}

// restart stops the node with SIGTERM (it must exit 0) and starts it
// again with the same data_dir, configuration file and ports.
func (n *apiNode) restart(t testing.TB) *apiNode {
	t.Helper()
	n.stop(syscall.SIGTERM)
	p := newProcess(t, "overwatch")
	p.dir, p.cfgPath = n.dir, n.cfgPath
	m := &apiNode{overwatch: &overwatch{process: p, ports: n.ports}, settings: n.settings}
	m.setClient()
	m.launch()
	if err := m.awaitStart(m.ready); err != nil {
		t.Fatalf("restart: %v", err)
	}
	return m
}

// clientFrom is an HTTP client whose connections leave from the loopback
// address local ("" for the kernel's choice, 127.0.0.1), trusting the
// node's certificate when it serves HTTPS. It keeps no connection alive,
// so no idle connection goroutine outlives a test (goleak).
func (n *apiNode) clientFrom(local string) *http.Client {
	var tlsConfig *tls.Config
	if n.settings.caPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(n.settings.caPEM)
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return boundClient(local, tlsConfig)
}

func boundClient(local string, tlsConfig *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return &http.Client{
		Timeout: apiTimeout,
		Transport: &http.Transport{
			DisableKeepAlives:     true,
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSClientConfig:       tlsConfig,
			ExpectContinueTimeout: 2 * time.Second,
		},
	}
}

// apiReq is one request to the API.
type apiReq struct {
	method, path string
	// body is sent as it is; contentType defaults to application/json
	// when there is a body. chunked hides the length (no Content-Length).
	body        string
	contentType string
	chunked     bool
	// expectContinue sends "Expect: 100-continue": the body follows only
	// if the server asks for it. A body the server refuses by its
	// Content-Length alone is then never sent: sent anyway, the server
	// closes the connection (the client asked for that) without reading
	// it, and the client may see a broken pipe instead of the answer.
	expectContinue bool
	token          string            // sent as "Authorization: Bearer <token>"
	header         map[string]string // more headers
	client         *http.Client      // default: the node's, from 127.0.0.1
}

// apiResp is the API's answer.
type apiResp struct {
	code   int
	header http.Header
	body   []byte
}

func (r apiResp) String() string { return fmt.Sprintf("HTTP %d %s", r.code, bytes.TrimSpace(r.body)) }

// send performs req against the node.
func (n *apiNode) send(req apiReq) (apiResp, error) {
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
		if req.chunked {
			// A reader net/http cannot size is sent chunked.
			body = io.MultiReader(strings.NewReader(req.body))
		}
	}
	hr, err := http.NewRequest(req.method, n.base+req.path, body)
	if err != nil {
		return apiResp{}, err
	}
	if req.body != "" {
		ct := req.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if req.expectContinue {
		hr.Header.Set("Expect", "100-continue")
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	client := req.client
	if client == nil {
		client = n.client
	}
	resp, err := client.Do(hr)
	if err != nil {
		return apiResp{}, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiResp{}, fmt.Errorf("%s %s: read the body: %w", req.method, req.path, err)
	}
	return apiResp{code: resp.StatusCode, header: resp.Header, body: data}, nil
}

// mustAPI sends req and fails the test unless the answer has status want.
func (n *apiNode) mustAPI(t testing.TB, want int, req apiReq) apiResp {
	t.Helper()
	r, err := n.send(req)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != want {
		t.Fatalf("%s %s: %s, want %d", req.method, req.path, r, want)
	}
	return r
}

// get is GET path answering 200, decoded into v (when not nil).
func (n *apiNode) get(t testing.TB, path string, v any) apiResp {
	t.Helper()
	r := n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodGet, path: path})
	if v != nil {
		r.decode(t, v)
	}
	return r
}

// decode unmarshals the body into v, failing the test if it is not JSON
// of that shape, or not sent as application/json.
func (r apiResp) decode(t testing.TB, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json (%s)", ct, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not the expected JSON: %v\n%s", err, r.body)
	}
}

// apiError is the API's error shape: {"error": "...", "detail": ...}.
type apiError struct {
	Error  string          `json:"error"`
	Detail json.RawMessage `json:"detail"`
}

// detail is the error's detail as text.
func (e apiError) detail() string {
	var s string
	if json.Unmarshal(e.Detail, &s) == nil {
		return s
	}
	return string(e.Detail)
}

// errorOf reads the body as the API's error shape, failing the test if it
// is not one.
func (r apiResp) errorOf(t testing.TB) apiError {
	t.Helper()
	var raw map[string]json.RawMessage
	r.decode(t, &raw)
	requireKeys(t, "error body", raw, "error", "detail")
	var e apiError
	r.decode(t, &e)
	if e.Error == "" {
		t.Errorf("error body with an empty \"error\": %s", r)
	}
	return e
}

// requireKeys fails the test unless obj has every key.
func requireKeys(t testing.TB, what string, obj map[string]json.RawMessage, keys ...string) {
	t.Helper()
	var missing []string
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		have := make([]string, 0, len(obj))
		for k := range obj {
			have = append(have, k)
		}
		slices.Sort(have)
		t.Errorf("%s lacks %v (has %v)", what, missing, have)
	}
}

// --- the JSON the API answers, as the tests read it ---

type apiStatus struct {
	Node             string `json:"node"`
	Region           string `json:"region"`
	Version          string `json:"version"`
	Ready            bool   `json:"ready"`
	ReadyDetail      string `json:"ready_detail"`
	Serial           uint32 `json:"serial"`
	ConfigGeneration uint64 `json:"config_generation"`
	Domains          int    `json:"domains"`
	Backends         struct {
		Healthy   int `json:"healthy"`
		Unhealthy int `json:"unhealthy"`
		Unknown   int `json:"unknown"`
		Stale     int `json:"stale"`
	} `json:"backends"`
	Agents    int `json:"agents"`
	Overrides int `json:"overrides"`
}

type apiBackend struct {
	Service         string       `json:"service"`
	Address         string       `json:"address"`
	Port            int          `json:"port"`
	Weight          int          `json:"weight"`
	Priority        int          `json:"priority"`
	Region          string       `json:"region"`
	Source          string       `json:"source"`
	Agent           *string      `json:"agent"`
	ClaimedHealth   *string      `json:"claimed_health"`
	ValidatedHealth string       `json:"validated_health"`
	EffectiveState  string       `json:"effective_state"`
	Override        *apiOverride `json:"override"`
	LastReport      *string      `json:"last_report"`
	AgeSeconds      *float64     `json:"age_seconds"`
	Stale           bool         `json:"stale"`
	Served          bool         `json:"served"`
}

func (b apiBackend) hostPort() string { return net.JoinHostPort(b.Address, fmt.Sprint(b.Port)) }

// backendKeys are the keys every backend of GET /api/v1/overwatch/backends
// carries: the README's "claimed, validated and effective state, override,
// last report and age, stale".
var backendKeys = []string{"service", "address", "port", "weight", "priority", "region", "source", "agent",
	"claimed_health", "validated_health", "effective_state", "override", "last_report", "age_seconds", "stale", "served"}

type apiOverride struct {
	Service string  `json:"service"`
	Backend string  `json:"backend"`
	State   string  `json:"state"`
	Reason  string  `json:"reason"`
	Expires *string `json:"expires"`
	Created *string `json:"created"`
	Source  string  `json:"source"`
}

type apiDomain struct {
	Name           string `json:"name"`
	Service        string `json:"service"`
	Routing        string `json:"routing"`
	TTL            int    `json:"ttl"`
	Fallback       string `json:"fallback"`
	FallbackActive bool   `json:"fallback_active"`
	Cold           bool   `json:"cold"`
	Answer         struct {
		A     []string `json:"A"`
		AAAA  []string `json:"AAAA"`
		Rcode string   `json:"rcode"`
	} `json:"answer"`
}

type apiAgent struct {
	Agent       string   `json:"agent"`
	Region      string   `json:"region"`
	Addr        string   `json:"addr"`
	Alive       bool     `json:"alive"`
	Registered  bool     `json:"registered"`
	LastReport  string   `json:"last_report"`
	Accepted    uint64   `json:"accepted"`
	Refused     uint64   `json:"refused"`
	LastRefusal string   `json:"last_refusal"`
	Services    []string `json:"services"`
	SerfStatus  string   `json:"serf_status"`
}

// backends is GET /api/v1/overwatch/backends with query ("" or
// "?service=…").
func (n *apiNode) backends(t testing.TB, query string) []apiBackend {
	t.Helper()
	var reply struct {
		Backends []apiBackend `json:"backends"`
	}
	n.get(t, "/api/v1/overwatch/backends"+query, &reply)
	return reply.Backends
}

func (n *apiNode) overrides(t testing.TB) []apiOverride {
	t.Helper()
	var reply struct {
		Overrides *[]apiOverride `json:"overrides"`
	}
	n.get(t, "/api/v1/overrides", &reply)
	if reply.Overrides == nil {
		t.Fatal("GET /api/v1/overrides: no \"overrides\" list")
	}
	return *reply.Overrides
}

// setOverride PUTs an override and expects 200.
func (n *apiNode) setOverride(t testing.TB, target, body string) apiOverride {
	t.Helper()
	r := n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodPut, path: "/api/v1/overrides/" + target, body: body, token: n.settings.token})
	var reply struct {
		Override apiOverride `json:"override"`
	}
	r.decode(t, &reply)
	return reply.Override
}

func (n *apiNode) clearOverride(t testing.TB, target string) {
	t.Helper()
	n.mustAPI(t, http.StatusOK, apiReq{method: http.MethodDelete, path: "/api/v1/overrides/" + target, token: n.settings.token})
}

// --- DNS conditions ---

// expectNoData is a checkFor condition: name answers qtype with NOERROR,
// no record and the zone's SOA in the authority section.
func (o *overwatch) expectNoData(name string, qtype uint16) func() error {
	return func() error {
		r, err := o.exchange(q(name, qtype))
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			return fmt.Errorf("%s %s: rcode %s, answer %v; want NODATA", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], addresses(r))
		}
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			return fmt.Errorf("%s %s: NODATA without the SOA in authority: %v", name, dns.TypeToString[qtype], r.Ns)
		}
		return nil
	}
}

// --- TLS ---

// selfSigned writes a fresh self-signed ECDSA certificate for 127.0.0.1
// and its key into dir, and returns their paths and the certificate's PEM.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "opengslb integration test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "api.pem"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM
}
