package api

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// The API's TLS port also answers plain HTTP from this host: the HA guide
// configures peers as https://overwatch-x:9090 and, on the same port, has
// operators run `curl http://localhost:9090/api/v1/ready`. The first byte
// of a connection tells the two apart; plain HTTP from anywhere else gets
// one 400 in the API's error shape, because a request that crossed the
// network in the clear may already have leaked its token.

const (
	// sniffTimeout bounds the wait for a connection's first byte, so a
	// client that connects and says nothing cannot hold a goroutine.
	sniffTimeout = 5 * time.Second
	// tlsHandshakeRecord is the first byte of every TLS ClientHello (the
	// record type "handshake"); no HTTP method starts with it.
	tlsHandshakeRecord = 0x16
	// refuseLinger and refuseDrain bound reading what a refused client
	// sent after its 400: closing with unread bytes makes the kernel send
	// a reset, which can reach the client before the 400 and hide it.
	refuseLinger = time.Second
	refuseDrain  = 64 << 10
)

// sniffListener accepts from inner and hands http.Server each connection
// as a *tls.Conn (it began with a ClientHello; net/http does the handshake
// and ALPN as it would behind ServeTLS) or as it is (plain HTTP from a
// loopback peer). Each first byte is awaited in its own goroutine so a
// slow client does not hold up Accept. Close stops all of them and waits,
// so nothing it started outlives it.
type sniffListener struct {
	inner     net.Listener
	tlsConfig *tls.Config
	timeout   time.Duration
	errorLog  *log.Logger // nil: refusals are not logged

	conns chan net.Conn
	errs  chan error // inner's Accept errors, for http.Server to judge
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // not yet handed over; Close closes them
}

// newSniffListener starts accepting from inner at once; Close stops it.
// tlsConfig must hold the certificate and the ALPN protocols.
func newSniffListener(inner net.Listener, tlsConfig *tls.Config, timeout time.Duration, errorLog *log.Logger) *sniffListener {
	l := &sniffListener{
		inner:     inner,
		tlsConfig: tlsConfig,
		timeout:   timeout,
		errorLog:  errorLog,
		conns:     make(chan net.Conn),
		errs:      make(chan error),
		done:      make(chan struct{}),
		pending:   make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// Accept returns the next connection that has been sorted.
func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, closes the connections still being sorted and
// waits for their goroutines; connections already handed over belong to
// http.Server.
func (l *sniffListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		l.closed = true
		for c := range l.pending {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	l.wg.Wait()
	return err
}

// Addr is inner's address.
func (l *sniffListener) Addr() net.Addr { return l.inner.Addr() }

func (l *sniffListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.inner.Accept()
		if err != nil {
			// http.Server retries a temporary error (too many open
			// files) with a back-off and gives up on any other; handing
			// it each error keeps that logic in one place, and the
			// unbuffered channel makes this loop keep its pace.
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !l.track(c) {
			_ = c.Close()
			return
		}
		l.wg.Add(1)
		go l.sort(c)
	}
}

// sort reads c's first byte and hands c over or refuses it.
func (l *sniffListener) sort(c net.Conn) {
	defer l.wg.Done()
	pc := &peekedConn{Conn: c, r: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(l.timeout))
	first, err := pc.r.Peek(1)
	if err != nil {
		// Silent past the deadline, or gone before a byte: nothing to
		// answer.
		l.drop(c)
		return
	}
	// http.Server sets the deadlines it wants from here on.
	_ = c.SetReadDeadline(time.Time{})
	switch {
	case first[0] == tlsHandshakeRecord:
		l.handOver(c, tls.Server(pc, l.tlsConfig))
	case isLoopback(c.RemoteAddr().String()):
		l.handOver(c, pc)
	default:
		deniedPlainHTTP.Inc()
		l.refuse(pc)
		l.drop(c)
	}
}

// refuse answers plain HTTP from the network with one 400 and lets the
// client read it before the connection closes.
func (l *sniffListener) refuse(pc *peekedConn) {
	peer := pc.RemoteAddr().String()
	if l.errorLog != nil {
		l.errorLog.Printf("api: refused plain HTTP from %s: this port requires HTTPS", peer)
	}
	_ = pc.SetWriteDeadline(time.Now().Add(l.timeout))
	if _, err := pc.Write(plainHTTPRefusal(peer)); err != nil {
		return
	}
	_ = pc.CloseWrite()
	_ = pc.SetReadDeadline(time.Now().Add(refuseLinger))
	_, _ = io.CopyN(io.Discard, pc, refuseDrain)
}

// plainHTTPRefusal is the whole HTTP/1.1 answer to plain HTTP from peer,
// its body written by writeError so it is the API's error shape.
func plainHTTPRefusal(peer string) []byte {
	body := &bufferedResponse{header: http.Header{}}
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		host = peer
	}
	writeError(body, http.StatusBadRequest, "https required",
		"this port takes HTTPS; plain HTTP is answered only for clients on the same host (127.0.0.0/8, ::1), not "+host+": use https://")
	resp := &http.Response{
		StatusCode:    body.status,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        body.header,
		ContentLength: int64(body.buf.Len()),
		Body:          io.NopCloser(bytes.NewReader(body.buf.Bytes())),
		Close:         true,
	}
	var out bytes.Buffer
	_ = resp.Write(&out) // into memory: cannot fail
	return out.Bytes()
}

// track records c as being sorted; false once the listener is closed.
func (l *sniffListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[c] = struct{}{}
	return true
}

func (l *sniffListener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, c)
}

func (l *sniffListener) drop(c net.Conn) {
	l.untrack(c)
	_ = c.Close()
}

// handOver gives conn (c, wrapped) to Accept, or closes it if the
// listener closes first.
func (l *sniffListener) handOver(c net.Conn, conn net.Conn) {
	l.untrack(c)
	select {
	case l.conns <- conn:
	case <-l.done:
		_ = conn.Close()
	}
}

// peekedConn is a connection whose first bytes were read to choose a
// protocol; Read returns them again.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite keeps net/http's graceful close (FIN, then a pause, then
// close) for plain connections, which it finds by this method.
func (c *peekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// bufferedResponse is an http.ResponseWriter into memory, so an answer
// written outside http.Server still comes from writeError.
type bufferedResponse struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}
