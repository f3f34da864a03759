package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opengslb/opengslb/config"
)

// bodyLimit bounds how much of a health endpoint's body is read. The body is
// not inspected; reading a little lets a small response finish cleanly.
const bodyLimit = 4 << 10

// prober runs one check of one target. It returns whether the check passed
// and a short detail for logs and the API. It must honour ctx.
type prober interface {
	probe(ctx context.Context) (ok bool, detail string)
	// close releases what the prober holds (idle connections).
	close()
}

// httpProber checks http and https targets with a GET.
type httpProber struct {
	url      string
	host     string // Host header; empty: the URL's host
	expected []int
	timeout  time.Duration
	client   *http.Client
	tr       *http.Transport
}

// newHTTPProber builds a prober with its own Transport. The Transport is per
// target because TLS settings (server name, verification) are per target;
// keep-alives are off so a check leaves no connection or goroutine behind,
// and close drops whatever is idle when the target stops.
func newHTTPProber(endpoint string, hc config.HealthCheck, timeout time.Duration, base *tls.Config, dialer *net.Dialer) *httpProber {
	path := hc.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	tr := &http.Transport{
		Proxy:               nil, // never send health checks through HTTP_PROXY
		DialContext:         dialer.DialContext,
		DisableKeepAlives:   true,
		DisableCompression:  true,
		MaxIdleConnsPerHost: -1,
	}
	if hc.Type == config.CheckHTTPS {
		var tc *tls.Config
		if base != nil {
			tc = base.Clone()
		} else {
			tc = &tls.Config{}
		}
		tc.InsecureSkipVerify = hc.InsecureSkipVerify
		if hc.Host != "" {
			tc.ServerName = hc.Host
		}
		tr.TLSClientConfig = tc
	}
	expected := hc.ExpectedStatus
	if len(expected) == 0 {
		expected = []int{http.StatusOK}
	}
	return &httpProber{
		url:      hc.Type + "://" + endpoint + path,
		host:     hc.Host,
		expected: expected,
		timeout:  timeout,
		tr:       tr,
		client: &http.Client{
			Transport: tr,
			// A redirect is an answer: it is judged by expected_status, not
			// followed to some other host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (p *httpProber) probe(ctx context.Context) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return false, "GET " + p.url + ": " + err.Error()
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("User-Agent", "opengslb-health")
	resp, err := p.client.Do(req)
	if err != nil {
		return false, "GET " + p.url + ": " + describe(ctx, unwrapURL(err), p.timeout)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	_ = resp.Body.Close()
	detail := "HTTP " + strconv.Itoa(resp.StatusCode) + " from " + p.url
	if !slices.Contains(p.expected, resp.StatusCode) {
		return false, detail
	}
	return true, detail
}

func (p *httpProber) close() { p.tr.CloseIdleConnections() }

// unwrapURL drops the *url.Error wrapper, whose text repeats method and URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// describe names a timeout as such; other errors speak for themselves
// ("dial tcp 10.0.1.10:80: connect: connection refused").
func describe(ctx context.Context, err error, timeout time.Duration) string {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("timeout after %s", timeout)
	}
	return err.Error()
}

// tcpProber passes when a TCP connection opens; it closes it at once.
type tcpProber struct {
	endpoint string
	timeout  time.Duration
	dialer   *net.Dialer
}

func (p *tcpProber) probe(ctx context.Context) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, err := p.dialer.DialContext(ctx, "tcp", p.endpoint)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Timeout() {
			return false, "dial tcp " + p.endpoint + ": " + describe(ctx, err, p.timeout)
		}
		return false, err.Error()
	}
	_ = conn.Close()
	return true, "TCP connect to " + p.endpoint
}

func (p *tcpProber) close() {}
