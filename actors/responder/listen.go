package responder

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several sockets bind one address so the kernel spreads
// incoming datagrams over one reader per core.
func reusePort(network, address string, c syscall.RawConn) error {
	var sockErr error
	err := c.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return sockErr
}

// listenAll opens n UDP sockets and one TCP listener on address. Port 0
// picks a free UDP port, then binds every other socket to that port, so
// tests get one address for both transports; when that number is taken for
// TCP, it tries another, a bounded number of times.
func listenAll(ctx context.Context, address string, n int) ([]net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	attempts := 1
	if err == nil && port == "0" {
		attempts = 20
	}
	for i := 1; ; i++ {
		conns, tcp, err := listenOnce(ctx, address, n)
		if err == nil || i >= attempts {
			return conns, tcp, err
		}
	}
}

func listenOnce(ctx context.Context, address string, n int) ([]net.PacketConn, net.Listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	var conns []net.PacketConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	first, err := lc.ListenPacket(ctx, "udp", address)
	if err != nil {
		return nil, nil, fmt.Errorf("listen udp %s: %w", address, err)
	}
	conns = append(conns, first)
	bound := first.LocalAddr().String()
	for i := 1; i < n; i++ {
		c, err := lc.ListenPacket(ctx, "udp", bound)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("listen udp %s (socket %d of %d): %w", bound, i+1, n, err)
		}
		conns = append(conns, c)
	}
	tcp, err := lc.Listen(ctx, "tcp", bound)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("listen tcp %s: %w", bound, err)
	}
	return conns, tcp, nil
}
