package main

import (
	_ "embed"
	"fmt"
	"io"
	"net"

	"github.com/opengslb/opengslb/config"
)

//go:embed demo.toml
var demoTOML []byte

func demoConfig() (*config.Config, error) {
	cfg, err := config.Parse("demo.toml (built in)", demoTOML)
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	return cfg, nil
}

func printDemoHelp(w io.Writer, cfg *config.Config) {
	host, port, _ := net.SplitHostPort(cfg.DNS.ListenAddress)
	fmt.Fprintf(w, "OpenGSLB demo: DNS on %s (UDP+TCP), metrics on http://%s/metrics\n", cfg.DNS.ListenAddress, cfg.Metrics.ListenAddress)
	fmt.Fprintln(w, "Try, from another terminal:")
	for _, q := range []string{
		"webapp.gslb.example.com A", "webapp.gslb.example.com AAAA", "api.gslb.example.com A +subnet=198.51.100.0/24",
		"db.gslb.example.com A", "gslb.example.com SOA", "missing.gslb.example.com A", "example.org A",
		"webapp.gslb.example.com A +dnssec", "missing.gslb.example.com A +dnssec",
	} {
		fmt.Fprintf(w, "  dig @%s -p %s %s +norec\n", host, port, q)
	}
	fmt.Fprintf(w, "  curl -s http://%s/metrics | grep opengslb_\n", cfg.Metrics.ListenAddress)
	fmt.Fprintf(w, "  curl -s http://%s/api/v1/overwatch/backends\n", cfg.API.ListenAddress)
	fmt.Fprintf(w, "  go run ./cmd/opengslb backends --api http://%s\n", cfg.API.ListenAddress)
	fmt.Fprintf(w, "  go run ./cmd/opengslb dnssec ds --data-dir %s   # the DS for the parent; README shows delv with it\n", cfg.DataDir)
	fmt.Fprintln(w, "Ctrl-C stops it.")
}
