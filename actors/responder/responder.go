package responder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"golang.org/x/net/netutil"

	"github.com/opengslb/opengslb/actors/zone"
)

// maxTCPConns bounds the TCP connections served at once. DNS over TCP is
// the fallback for truncated answers, so this is generous for real clients.
const maxTCPConns = 1000

// Options tune the responder; zero values take defaults.
type Options struct {
	// UDPSockets is the number of SO_REUSEPORT UDP sockets; default one per
	// core.
	UDPSockets int
	// ShutdownTimeout bounds how long in-flight TCP queries may finish.
	ShutdownTimeout time.Duration
}

// Actor serves DNS on one address over UDP and TCP.
type Actor struct {
	log     zerolog.Logger
	store   *zone.Store
	address string
	opts    Options

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	bound     string

	pool sync.Pool
}

// New prepares a responder for address; it listens when Run starts.
func New(log zerolog.Logger, store *zone.Store, address string, opts Options) *Actor {
	if opts.UDPSockets <= 0 {
		opts.UDPSockets = goruntime.NumCPU()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	a := &Actor{
		log:     log.With().Str("actor", "dns").Logger(),
		store:   store,
		address: address,
		opts:    opts,
		ready:   make(chan struct{}),
	}
	a.pool.New = func() any { b := make([]byte, 0, 1024); return &b }
	return a
}

// Name implements runtime.Actor.
func (a *Actor) Name() string { return "dns" }

// Ready is closed when every socket is serving.
func (a *Actor) Ready() <-chan struct{} { return a.ready }

// Addr is the address actually bound (useful when configured with port 0);
// empty before Ready.
func (a *Actor) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bound
}

// Run serves until ctx ends, then lets TCP queries in flight finish.
func (a *Actor) Run(ctx context.Context) error {
	conns, tcp, err := listenAll(ctx, a.address, a.opts.UDPSockets)
	if err != nil {
		return fmt.Errorf("dns: %w (dns.listen_address)", err)
	}
	tcpServer := &dns.Server{
		// A flood of idle TCP connections must not exhaust descriptors:
		// past the limit, new connections wait in the kernel's backlog.
		Listener: netutil.LimitListener(tcp, maxTCPConns), Handler: a, MsgInvalidFunc: countMalformed,
		// Bound idle and slow clients so a TCP flood cannot pin memory.
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		IdleTimeout: func() time.Duration { return 10 * time.Second },
	}

	var (
		wg      sync.WaitGroup
		errs    = make(chan error, len(conns)+1)
		started = make(chan struct{})
	)
	var once sync.Once
	tcpServer.NotifyStartedFunc = func() { once.Do(func() { close(started) }) }
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := tcpServer.ActivateAndServe(); err != nil {
			errs <- fmt.Errorf("tcp: %w", err)
		}
	}()
	for _, c := range conns {
		w := newUDPWorker(a, c.(*net.UDPConn))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.serve(); err != nil {
				errs <- fmt.Errorf("udp: %w", err)
			}
		}()
	}
	select {
	case <-started:
	case err := <-errs:
		// Closing the sockets ends every worker and the TCP accept loop,
		// started or not.
		for _, c := range conns {
			c.Close()
		}
		tcp.Close()
		wg.Wait()
		return fmt.Errorf("dns: start on %s: %w", a.address, err)
	}
	a.mu.Lock()
	a.bound = tcp.Addr().String()
	a.mu.Unlock()
	a.readyOnce.Do(func() { close(a.ready) })
	a.log.Info().Str("address", tcp.Addr().String()).Int("udp_sockets", len(conns)).Msg("serving DNS over UDP and TCP")

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errs:
		runErr = fmt.Errorf("dns: server on %s stopped: %w", a.address, err)
	}
	// UDP has nothing in flight between datagrams: closing the sockets
	// ends the workers. TCP connections get time to finish their query.
	for _, c := range conns {
		c.Close()
	}
	shutdown, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
	defer cancel()
	if err := tcpServer.ShutdownContext(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		a.log.Debug().Err(err).Msg("dns tcp server shutdown")
	}
	wg.Wait()
	return runErr
}

// ServeDNS answers one query that came over TCP (UDP has its own loop, see
// udpWorker). It reads one snapshot and writes prepared bytes; a panic here
// becomes SERVFAIL and a counted event, never a crash.
func (a *Actor) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	started := time.Now()
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	client := addrOf(w.RemoteAddr())
	q := parseQuery(req, client, udp)
	bufp := a.pool.Get().(*[]byte)
	defer func() {
		if r := recover(); r != nil {
			queryPanics.Inc()
			a.log.Error().Interface("panic", r).Str("qname", q.name).Uint16("qtype", q.qtype).Msg("query panicked; answered SERVFAIL")
			resp := writeResponse((*bufp)[:0], &q, dns.RcodeServerFailure, false, zone.RRSet{}, nil, 0)
			_, _ = w.Write(resp)
			countQuery(q.qtype, dns.RcodeServerFailure)
		}
		a.pool.Put(bufp)
	}()
	resp := respond(a.store, &q, (*bufp)[:0], started)
	if _, err := w.Write(resp); err != nil {
		a.log.Debug().Err(err).Str("client", client.String()).Msg("response not sent")
	}
	*bufp = resp[:0]
}

func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip
	}
	return netip.Addr{}
}

func countMalformed(_ []byte, _ error) { malformed.Inc() }
