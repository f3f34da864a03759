// Command baseline-dns is the yardstick for OpenGSLB's DNS benchmarks: the
// smallest reasonable authoritative server written with miekg/dns, answering
// fixed records from a map. scripts/bench-dns.sh runs dnsperf against it and
// against the overwatch with the same names, and reports the ratio of the
// two. It is deliberately plain: no zones, no SOA, no EDNS, no health, no
// routing — whatever the overwatch costs beyond this is what the ratio shows.
//
// Usage:
//
//	baseline-dns -listen 127.0.0.1:15400 -names scripts/bench/baseline-names.txt
//
// The names file holds one record per line, "name type address":
//
//	# comments and blank lines are ignored
//	webapp.gslb.example.com  A     192.0.2.10
//	webapp.gslb.example.com  AAAA  2001:db8::10
//
// type is A or AAAA; names are case-insensitive and may omit the final dot.
// Every answer is authoritative with TTL 30. A name in the file answers a
// query type it has no records for with NOERROR and an empty answer
// (NODATA); a name not in the file answers NXDOMAIN.
//
// Like a typical server it opens one UDP socket per CPU with SO_REUSEPORT,
// so the kernel spreads queries across them, plus one TCP listener.
// SIGINT or SIGTERM shuts it down.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

const ttl = 30

// entry holds the addresses of one name.
type entry struct {
	a, aaaa []net.IP
}

// table maps a lower-case fully qualified name to its addresses. It is
// built before the servers start and only read afterwards.
type table map[string]*entry

func main() {
	listen := flag.String("listen", "127.0.0.1:15400", "address to serve DNS on (UDP and TCP)")
	names := flag.String("names", "scripts/bench/baseline-names.txt", "file of \"name A|AAAA address\" lines")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("baseline-dns: ")

	t, err := load(*names)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var servers []*dns.Server
	for range runtime.NumCPU() {
		servers = append(servers, &dns.Server{Addr: *listen, Net: "udp", Handler: t, ReusePort: true})
	}
	servers = append(servers, &dns.Server{Addr: *listen, Net: "tcp", Handler: t, ReusePort: true})

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.ListenAndServe() }()
	}
	log.Printf("serving %d names on %s (%d UDP sockets, 1 TCP)", len(t), *listen, len(servers)-1)

	select {
	case <-ctx.Done():
	case err := <-errc:
		// A server that fails to bind (port taken) returns at once.
		log.Printf("server stopped: %v", err)
		shutdown(servers)
		os.Exit(1)
	}
	shutdown(servers)
}

// shutdown stops every server, giving in-flight queries a moment to finish.
func shutdown(servers []*dns.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		// A server that never started reports an error here; nothing to do.
		_ = s.ShutdownContext(ctx)
	}
}

// ServeDNS answers one query from the table.
func (t table) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	e, ok := t[strings.ToLower(q.Name)]
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA:
		for _, ip := range e.a {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   ip,
			})
		}
	case q.Qtype == dns.TypeAAAA:
		for _, ip := range e.aaaa {
			m.Answer = append(m.Answer, &dns.AAAA{
				Hdr:  dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl},
				AAAA: ip,
			})
		}
	}
	_ = w.WriteMsg(m)
}

// load reads a names file (see the package comment).
func load(path string) (table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	t := table{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"name A|AAAA address\", got %q", path, n, line)
		}
		name := dns.Fqdn(strings.ToLower(fields[0]))
		if _, ok := dns.IsDomainName(name); !ok {
			return nil, fmt.Errorf("%s:%d: bad name %q", path, n, fields[0])
		}
		ip := net.ParseIP(fields[2])
		if ip == nil {
			return nil, fmt.Errorf("%s:%d: bad address %q", path, n, fields[2])
		}
		e := t[name]
		if e == nil {
			e = &entry{}
			t[name] = e
		}
		switch strings.ToUpper(fields[1]) {
		case "A":
			if ip.To4() == nil {
				return nil, fmt.Errorf("%s:%d: A record needs an IPv4 address, got %q", path, n, fields[2])
			}
			e.a = append(e.a, ip.To4())
		case "AAAA":
			if ip.To4() != nil {
				return nil, fmt.Errorf("%s:%d: AAAA record needs an IPv6 address, got %q", path, n, fields[2])
			}
			e.aaaa = append(e.aaaa, ip)
		default:
			return nil, fmt.Errorf("%s:%d: type must be A or AAAA, got %q", path, n, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(t) == 0 {
		return nil, errors.New(path + ": no records")
	}
	return t, nil
}
