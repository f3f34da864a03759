// Command waitdns waits until a DNS server answers a query, so scripts can
// start a server and know when it serves instead of sleeping a guessed time.
//
//	waitdns -server 127.0.0.1:15300 -name webapp.gslb.example.com -timeout 30s
//
// It sends the query over UDP every -interval until a response with rcode
// -rcode (NOERROR by default) arrives — and, for NOERROR, at least one
// answer record — and exits 0. After -timeout it prints the last outcome
// and exits 1.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("server", "127.0.0.1:15300", "DNS server address (host:port)")
	name := flag.String("name", "webapp.gslb.example.com", "name to query")
	qtype := flag.String("type", "A", "query type")
	rcode := flag.String("rcode", "NOERROR", "response code that counts as served")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	interval := flag.Duration("interval", 100*time.Millisecond, "pause between attempts")
	quiet := flag.Bool("q", false, "print nothing on success")
	flag.Parse()

	t, ok := dns.StringToType[strings.ToUpper(*qtype)]
	if !ok {
		fail("unknown query type %q", *qtype)
	}
	want, ok := dns.StringToRcode[strings.ToUpper(*rcode)]
	if !ok {
		fail("unknown rcode %q", *rcode)
	}

	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(*name), t)
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}

	deadline := time.Now().Add(*timeout)
	last := "no attempt made"
	for attempt := 1; ; attempt++ {
		r, _, err := c.Exchange(q, *server)
		switch {
		case err != nil:
			last = err.Error()
		case r.Rcode != want:
			last = "rcode " + dns.RcodeToString[r.Rcode]
		case want == dns.RcodeSuccess && len(r.Answer) == 0:
			last = "NOERROR with no answer"
		default:
			if !*quiet {
				fmt.Printf("waitdns: %s answered %s %s after %d attempt(s)\n", *server, *name, *qtype, attempt)
			}
			return
		}
		if time.Now().Add(*interval).After(deadline) {
			fail("%s did not answer %s %s within %s: %s", *server, *name, *qtype, *timeout, last)
		}
		time.Sleep(*interval)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "waitdns: "+format+"\n", args...)
	os.Exit(1)
}
