package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// listener is the lifecycle every HTTP endpoint here shares: listen on
// Run, report the bound address, serve until ctx ends, shut down with a
// deadline. Timeouts bound slow and idle clients.
type listener struct {
	name    string // for errors: "metrics", "api"
	key     string // the config key of the address, for errors
	address string
	// errorLog, when set, takes the server's own complaints (TLS
	// handshake failures, bad requests) instead of the standard logger.
	errorLog *log.Logger
	// sniffTimeout bounds the wait for a TLS port's first byte; a field
	// so tests can shorten it.
	sniffTimeout time.Duration

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	bound     string
}

func newListener(name, key, address string) listener {
	return listener{name: name, key: key, address: address, sniffTimeout: sniffTimeout, ready: make(chan struct{})}
}

// Ready is closed once the endpoint listens.
func (l *listener) Ready() <-chan struct{} { return l.ready }

// Addr is the bound address, empty before Ready.
func (l *listener) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bound
}

func (l *listener) serve(ctx context.Context, handler http.Handler, started func(addr string)) error {
	return l.serveTLS(ctx, handler, nil, started)
}

// serveTLS is serve with HTTPS when tlsConfig is not nil; tlsConfig must
// hold the certificate (Certificates or GetCertificate). The TLS port
// also answers plain HTTP from loopback peers (sniff.go).
func (l *listener) serveTLS(ctx context.Context, handler http.Handler, tlsConfig *tls.Config, started func(addr string)) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", l.address)
	if err != nil {
		return fmt.Errorf("%s: listen on %s (%s): %w", l.name, l.address, l.key, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          l.errorLog,
	}
	var accepted net.Listener = ln
	if tlsConfig != nil {
		// ServeTLS would add the ALPN names itself; here the listener
		// makes the *tls.Conn, so they are named, and "h2" in
		// srv.TLSConfig is what makes Serve set up HTTP/2. Each side has
		// its own copy because net/http adjusts the server's.
		conf := tlsConfig.Clone()
		conf.NextProtos = []string{"h2", "http/1.1"}
		srv.TLSConfig = conf.Clone()
		accepted = newSniffListener(ln, conf, l.sniffTimeout, l.errorLog)
	}
	l.mu.Lock()
	l.bound = ln.Addr().String()
	l.mu.Unlock()
	l.readyOnce.Do(func() { close(l.ready) })
	started(ln.Addr().String())

	served := make(chan error, 1)
	// Serve closes accepted when it returns; the sniffing listener's
	// Close waits for its own goroutines.
	go func() { served <- srv.Serve(accepted) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			// Requests still running past the deadline are cut off, and
			// their contexts cancelled, so none outlives Run.
			_ = srv.Close()
		}
		<-served
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("%s: serve on %s: %w", l.name, l.address, err)
	}
}
