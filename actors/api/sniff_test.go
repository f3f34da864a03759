package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opengslb/opengslb/config"
)

// sniffServer is a TLS-configured listener answering every request with
// how it arrived.
type sniffServer struct {
	addr string
	pool *x509.CertPool
	stop func() // cancels and waits for serveTLS, bounded
}

// transportView is what sniffServer's handler reports.
type transportView struct {
	TLS    bool   `json:"tls"`
	Proto  string `json:"proto"`
	Secure bool   `json:"secure"`
	Remote string `json:"remote"`
}

func startSniffing(t *testing.T, timeout time.Duration) *sniffServer {
	t.Helper()
	certFile, keyFile, pool := writeTestCertificate(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l := newListener("api", "api.listen_address", "127.0.0.1:0")
	l.sniffTimeout = timeout
	// The garbage tests make net/http complain; keep it out of the output.
	l.errorLog = log.New(io.Discard, "", 0)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, transportView{TLS: r.TLS != nil, Proto: r.Proto, Secure: servedSecurely(r), Remote: r.RemoteAddr})
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.serveTLS(ctx, handler, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, func(string) {})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serveTLS returned %v after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serveTLS did not stop within 10s of cancel")
		}
	}
	t.Cleanup(stop)
	select {
	case <-l.Ready():
	case err := <-done:
		t.Fatalf("serveTLS stopped before it was ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("serveTLS not ready within 5s")
	}
	return &sniffServer{addr: l.Addr(), pool: pool, stop: stop}
}

// get fetches scheme://addr/ with transport and decodes the view; the
// transport's idle connections are closed after, for goleak.
func (s *sniffServer) get(t *testing.T, scheme string, transport *http.Transport) (*http.Response, transportView) {
	t.Helper()
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	resp, err := client.Get(scheme + "://" + s.addr + "/")
	if err != nil {
		t.Fatalf("GET %s://%s/: %v", scheme, s.addr, err)
	}
	defer resp.Body.Close()
	var view transportView
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
			t.Fatalf("GET %s://%s/: body: %v", scheme, s.addr, err)
		}
	}
	return resp, view
}

// dialFrom connects to addr from the local address local ("" for any).
func dialFrom(local, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return d.Dial("tcp", addr)
}

// awaitClose reads c until the server closes it, failing if that takes
// longer than within. What was read comes back.
func awaitClose(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	data, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v; read %q", within, data)
	}
	// A reset is also a close; only a timeout means it was kept.
	return string(data)
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

func TestSniffServesTLSWithHTTP2AndHTTP1(t *testing.T) {
	s := startSniffing(t, sniffTimeout)
	resp, view := s.get(t, "https", &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}, ForceAttemptHTTP2: true})
	if resp.ProtoMajor != 2 || !view.TLS || view.Proto != "HTTP/2.0" || !view.Secure {
		t.Errorf("HTTPS with HTTP/2 allowed: %s, handler saw %+v; want HTTP/2 over TLS", resp.Proto, view)
	}
	// A custom TLS config without ForceAttemptHTTP2 offers http/1.1 only.
	resp, view = s.get(t, "https", &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}})
	if resp.ProtoMajor != 1 || !view.TLS || view.Proto != "HTTP/1.1" || !view.Secure {
		t.Errorf("HTTPS with HTTP/1.1: %s, handler saw %+v; want HTTP/1.1 over TLS", resp.Proto, view)
	}
}

func TestSniffServesPlainHTTPFromLoopback(t *testing.T) {
	s := startSniffing(t, sniffTimeout)
	for _, local := range []string{"", "127.0.0.2"} {
		d := &net.Dialer{Timeout: 5 * time.Second}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		resp, view := s.get(t, "http", &http.Transport{DialContext: d.DialContext})
		if resp.StatusCode != http.StatusOK || view.TLS || view.Proto != "HTTP/1.1" || !view.Secure {
			t.Errorf("plain HTTP from %q: %s, handler saw %+v; want 200, no TLS, served securely", local, resp.Status, view)
		}
		if local != "" && !strings.HasPrefix(view.Remote, local+":") {
			t.Errorf("plain HTTP from %s: handler saw the peer %s", local, view.Remote)
		}
	}
}

func TestSniffRefusesPlainHTTPFromTheNetwork(t *testing.T) {
	ext := nonLoopbackIPv4()
	if ext == "" {
		t.Skip("this host has no non-loopback IPv4 address to send plain HTTP from")
	}
	s := startSniffing(t, sniffTimeout)
	before := deniedPlainHTTP.Get()
	c, err := dialFrom(ext, s.addr)
	if err != nil {
		t.Skipf("cannot reach %s from %s: %v", s.addr, ext, err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /api/v1/ready HTTP/1.1\r\nHost: overwatch\r\nAuthorization: Bearer t\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("plain HTTP from %s: no HTTP answer: %v", ext, err)
	}
	var body struct {
		Error  string `json:"error"`
		Detail string `json:"detail"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("plain HTTP from %s: the 400's body is not the API's JSON error: %v", ext, err)
	}
	if resp.StatusCode != http.StatusBadRequest || resp.Proto != "HTTP/1.1" || !resp.Close ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("plain HTTP from %s: %s %s, Content-Type %q, close %v; want HTTP/1.1 400, JSON, Connection: close",
			ext, resp.Proto, resp.Status, resp.Header.Get("Content-Type"), resp.Close)
	}
	if body.Error == "" || !strings.Contains(body.Detail, "HTTPS") || !strings.Contains(body.Detail, ext) {
		t.Errorf("plain HTTP from %s: body %+v; want it to say HTTPS is required and name the client", ext, body)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(br)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("plain HTTP from %s: the connection stayed open after the 400", ext)
	}
	if len(rest) != 0 {
		t.Errorf("plain HTTP from %s: %q after the 400; want one answer only", ext, rest)
	}
	if got := deniedPlainHTTP.Get() - before; got != 1 {
		t.Errorf(`opengslb_api_denied_total{reason="plain_http"} went up by %d, want 1`, got)
	}

	// An ordinary client sees the same 400 rather than a reset.
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ext)}}
	resp, _ = s.get(t, "http", &http.Transport{DialContext: d.DialContext})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("net/http client from %s: %s, want 400", ext, resp.Status)
	}

	// TLS from the same address is served as ever.
	d = &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ext)}}
	resp, view := s.get(t, "https", &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: s.pool}})
	if resp.StatusCode != http.StatusOK || !view.TLS || !view.Secure {
		t.Errorf("HTTPS from %s: %s, handler saw %+v", ext, resp.Status, view)
	}
}

func TestSniffClosesASilentConnection(t *testing.T) {
	s := startSniffing(t, 200*time.Millisecond)
	// Ready comes before Serve's goroutine starts: one answer shows it
	// runs. Everything running after that is the server's; what the
	// silent client makes it start must be gone once it is dropped.
	if resp, _ := s.get(t, "http", &http.Transport{}); resp.StatusCode != http.StatusOK {
		t.Fatalf("plain HTTP before the silent client: %s", resp.Status)
	}
	baseline := goleak.IgnoreCurrent()
	c, err := dialFrom("", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := awaitClose(t, c, 5*time.Second); got != "" {
		t.Errorf("the silent client was sent %q; want the connection closed without a word", got)
	}
	if err := goleak.Find(baseline); err != nil {
		t.Errorf("a goroutine outlived the silent connection: %v", err)
	}
}

func TestSniffAcceptsOthersWhileAClientIsSilent(t *testing.T) {
	s := startSniffing(t, sniffTimeout)
	silent, err := dialFrom("", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	resp, _ := s.get(t, "http", &http.Transport{})
	if resp.StatusCode != http.StatusOK || time.Since(start) > 2*time.Second {
		t.Errorf("plain HTTP beside a silent client: %s after %v; want 200 at once", resp.Status, time.Since(start))
	}
	// Stopping does not wait out the silent client's first-byte deadline.
	start = time.Now()
	s.stop()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stopping with a silent client took %v; want the pending connection closed at once", took)
	}
	awaitClose(t, silent, 5*time.Second)
}

func TestSniffDropsGarbage(t *testing.T) {
	s := startSniffing(t, sniffTimeout)
	for _, tc := range []struct {
		name, bytes string
		// answer is a prefix the server may send before closing; "" means
		// nothing at all.
		answer string
	}{
		// Not TLS, so plain HTTP from loopback: net/http refuses it.
		{"binary", "\x00\xff\x01garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		// A TLS record header with no ClientHello in it: the handshake fails.
		{"broken TLS record", "\x16\x03\x01\x00\x05hello", ""},
		{"only the TLS byte", "\x16", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialFrom("", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.bytes); err != nil {
				t.Fatal(err)
			}
			if cw, ok := c.(*net.TCPConn); ok && tc.name == "only the TLS byte" {
				// The handshake waits for more; EOF ends it.
				_ = cw.CloseWrite()
			}
			got := awaitClose(t, c, 10*time.Second)
			if tc.answer == "" && got != "" && !strings.HasPrefix(got, "\x15") {
				t.Errorf("sent %q: got %q; want the connection closed (or a TLS alert)", tc.bytes, got)
			}
			if tc.answer != "" && !strings.HasPrefix(got, tc.answer) {
				t.Errorf("sent %q: got %q; want %q then close", tc.bytes, got, tc.answer)
			}
		})
	}
	resp, view := s.get(t, "https", &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}})
	if resp.StatusCode != http.StatusOK || !view.TLS {
		t.Errorf("HTTPS after the garbage: %s %+v", resp.Status, view)
	}
}

// The HA guide's `curl http://localhost:9090/api/v1/ready` on a node
// whose API serves HTTPS.
func TestOverwatchTLSPortAnswersPlainHTTPFromLoopback(t *testing.T) {
	certFile, keyFile, _ := writeTestCertificate(t)
	h := startOverwatchAPI(t, harnessOptions{api: config.API{TLSCertFile: certFile, TLSKeyFile: keyFile}})
	h.base = "http://" + h.actor.Addr()
	if r := h.do(t, "GET", "/api/v1/ready", nil); r.code != http.StatusOK {
		t.Errorf("plain GET /api/v1/ready from loopback: %v", r)
	}
	if r := h.do(t, "PUT", "/api/v1/overrides/webapp", `{"state":"drain"}`); r.code != http.StatusOK {
		t.Errorf("plain PUT from loopback without a token: %v", r)
	}
}
