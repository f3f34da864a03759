package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/opengslb/opengslb/config"
)

const testToken = "s3cret-token-0123456789"

func TestOverwatchWritesNeedTheToken(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{api: config.API{AuthToken: testToken}})
	path := "/api/v1/overrides/webapp"
	body := `{"state":"drain"}`
	before := deniedToken.Get()

	r := h.do(t, "PUT", path, body)
	if r.code != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("PUT without a token: %v WWW-Authenticate=%q", r, r.header.Get("WWW-Authenticate"))
	}
	if r := h.do(t, "PUT", path, body, "Authorization", "Bearer wrong-token-0123456789"); r.code != 401 {
		t.Errorf("PUT with a wrong token: %v", r)
	}
	basic := h.do(t, "PUT", path, body, "Authorization", "Basic "+testToken)
	if basic.code != 401 {
		t.Errorf("PUT with the token under another scheme: %v", basic)
	}
	if r := h.do(t, "POST", "/api/v1/reload", nil); r.code != 401 {
		t.Errorf("reload without a token: %v", r)
	}
	if got := deniedToken.Get() - before; got != 4 {
		t.Errorf(`opengslb_api_denied_total{reason="token"} went up by %d, want 4`, got)
	}
	// The one refusal that carried the token must not echo it back.
	if strings.Contains(basic.raw, testToken) || strings.Contains(strings.Join(basic.header.Values("WWW-Authenticate"), " "), testToken) {
		t.Error("an error answer shows the token")
	}
	if h.zone.last() != nil {
		t.Fatalf("an unauthenticated change reached the zone: %#v", h.zone.last())
	}
	if r := h.do(t, "PUT", path, body, "Authorization", "Bearer "+testToken); r.code != 200 {
		t.Errorf("PUT with the token: %v", r)
	}
	if r := h.do(t, "DELETE", path, nil, "Authorization", "bearer "+testToken); r.code != 200 {
		t.Errorf("DELETE with the token (scheme in lower case): %v", r)
	}
	if r := h.do(t, "GET", "/api/v1/overrides", nil); r.code != 200 {
		t.Errorf("reads need no token: %v", r)
	}
}

// A client elsewhere on the network, seen through a trusted proxy.
func TestOverwatchWritesWithoutATokenAreLoopbackOnly(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{api: config.API{
		AllowedNetworks: []string{"127.0.0.0/8", "192.0.2.0/24"}, TrustProxyHeaders: true,
	}})
	before := deniedLoopback.Get()
	r := h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`, "X-Forwarded-For", "192.0.2.7")
	if r.code != 403 || !strings.Contains(r.body["detail"].(string), "api.auth_token") {
		t.Errorf("PUT from the network without a token configured: %v", r)
	}
	if got := deniedLoopback.Get() - before; got != 1 {
		t.Errorf(`opengslb_api_denied_total{reason="loopback_only"} went up by %d, want 1`, got)
	}
	if r := h.do(t, "GET", "/api/v1/status", nil, "X-Forwarded-For", "192.0.2.7"); r.code != 200 {
		t.Errorf("GET from the network: %v", r)
	}
	r = h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`)
	if r.code != 200 || r.body["override"].(map[string]any)["source"] != "127.0.0.1" {
		t.Errorf("PUT from loopback without a token configured: %v", r)
	}
}

func TestOverwatchAllowedNetworks(t *testing.T) {
	cfg := config.API{AllowedNetworks: []string{"127.0.0.1/32"}}
	h := startOverwatchAPI(t, harnessOptions{api: cfg})
	if r := h.do(t, "GET", "/api/v1/live", nil); r.code != 200 {
		t.Errorf("from 127.0.0.1: %v", r)
	}

	before := deniedNetwork.Get()
	other := startOverwatchAPI(t, harnessOptions{api: cfg, transport: clientFrom("127.0.0.2")})
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/live"}, {"GET", "/api/v1/ready"}, {"GET", "/api/v1/overwatch/backends"},
		{"PUT", "/api/v1/overrides/webapp"}, {"GET", "/api/v1/nope"},
	} {
		r := other.do(t, c.method, c.path, nil)
		if r.code != 403 || !strings.Contains(r.body["detail"].(string), "127.0.0.2") {
			t.Errorf("%s %s from 127.0.0.2: %v", c.method, c.path, r)
		}
	}
	if got := deniedNetwork.Get() - before; got != 5 {
		t.Errorf(`opengslb_api_denied_total{reason="network"} went up by %d, want 5`, got)
	}
}

func TestOverwatchTrustsOnlyTheLastForwardedAddress(t *testing.T) {
	h := startOverwatchAPI(t, harnessOptions{api: config.API{AllowedNetworks: []string{"192.0.2.0/24"}, TrustProxyHeaders: true}})
	for _, c := range []struct {
		xff  []string
		code int
	}{
		{[]string{"192.0.2.7"}, 200},
		{[]string{"10.9.9.9, 192.0.2.7"}, 200},
		{[]string{"192.0.2.7, 10.9.9.9"}, 403},         // the client wrote the first one
		{[]string{"192.0.2.7", "10.9.9.9"}, 403},       // two header lines: the last counts
		{[]string{"192.0.2.7, not-an-address"}, 403},   // ignored: the peer, 127.0.0.1, is not allowed
		{[]string{"[192.0.2.8]:51234"}, 403},           // not an address
		{[]string{"192.0.2.8:51234"}, 200},             // address with a port
		{nil, 403},                                     // no header: the peer
		{[]string{"::ffff:192.0.2.9"}, 200},            // mapped IPv4
		{[]string{" 198.51.100.1 , 192.0.2.10 "}, 200}, // spaces
	} {
		req, err := http.NewRequest("GET", h.base+"/api/v1/live", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if r := h.send(t, req); r.code != c.code {
			t.Errorf("X-Forwarded-For %q: %v, want %d", c.xff, r, c.code)
		}
	}

	// Without trust_proxy_headers the header changes nothing.
	plain := startOverwatchAPI(t, harnessOptions{api: config.API{AllowedNetworks: []string{"192.0.2.0/24"}}})
	if r := plain.do(t, "GET", "/api/v1/live", nil, "X-Forwarded-For", "192.0.2.7"); r.code != 403 {
		t.Errorf("X-Forwarded-For without trust_proxy_headers: %v", r)
	}
}

func TestOverwatchServesHTTPS(t *testing.T) {
	certFile, keyFile, pool := writeTestCertificate(t)
	h := startOverwatchAPI(t, harnessOptions{
		api:       config.API{TLSCertFile: certFile, TLSKeyFile: keyFile, AuthToken: testToken},
		transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	})
	if !strings.HasPrefix(h.base, "https://") {
		t.Fatalf("base %s", h.base)
	}
	if r := h.do(t, "GET", "/api/v1/ready", nil); r.code != 200 {
		t.Errorf("ready over HTTPS: %v", r)
	}
	if r := h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`, "Authorization", "Bearer "+testToken); r.code != 200 {
		t.Errorf("PUT over HTTPS: %v", r)
	}

	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
	}}
	defer old.CloseIdleConnections()
	resp, err := old.Get(h.base + "/api/v1/live")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 client failed for another reason: %v", err)
	}
}

func TestOverwatchRunFailsOnAMissingCertificate(t *testing.T) {
	dir := t.TempDir()
	a := NewOverwatch(zerolog.Nop(), config.API{
		ListenAddress: "127.0.0.1:0", TLSCertFile: filepath.Join(dir, "cert.pem"), TLSKeyFile: filepath.Join(dir, "key.pem"),
	}, OverwatchSources{})
	if err := a.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "api.tls_cert_file") {
		t.Errorf("Run without the certificate files: %v", err)
	}
}

// writeTestCertificate makes a self-signed ECDSA certificate for 127.0.0.1
// and returns its files and a pool that trusts it.
func writeTestCertificate(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "opengslb test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
