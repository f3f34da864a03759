package main

// opengslb ha check: ask every overwatch what it serves and say where
// they differ. It replaces the HA guide's loops of curl | jq over
// /api/v1/overwatch/backends and /api/v1/dnssec/status, one node at a
// time, compared by eye.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

func clientHACommand() *cli.Command {
	return &cli.Command{
		Name:  "ha",
		Usage: "high-availability tools",
		Subcommands: []*cli.Command{
			clientCommand(&cli.Command{
				Name:  "check",
				Usage: "compare what several overwatches serve: backends, their state, DNSSEC key tags",
				Description: "Asks every node at once for its backends and DNSSEC keys and prints where they differ.\n" +
					"Exit status 0 when all agree, 1 when they differ or a node cannot be asked.",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "node", Aliases: []string{"n"}, EnvVars: []string{"OPENGSLB_NODES"},
						Usage: "base `URL` of a node's API; give it once per node (at least two)"},
				},
			}, false, runHACheck),
		},
		Action: unknownSubcommand,
	}
}

// backendKey names a backend across nodes.
type backendKey struct {
	service string
	address string // canonical when it parses as an IP
	port    int
}

func (k backendKey) String() string {
	return clean(k.service) + " " + net.JoinHostPort(clean(k.address), strconv.Itoa(k.port))
}

// keyTagKey names a DNSSEC key across nodes.
type keyTagKey struct {
	zone string
	tag  int
}

func (k keyTagKey) String() string {
	if k.zone == "" {
		return strconv.Itoa(k.tag)
	}
	return fmt.Sprintf("%d (zone %s)", k.tag, clean(k.zone))
}

// DNSSEC as a node reports it.
const (
	dnssecEnabled  = "enabled"
	dnssecDisabled = "disabled"
	dnssecAbsent   = "absent" // 404: a node without DNSSEC support yet
)

// haNode is what one node answered.
type haNode struct {
	url    string
	client *apiClient

	err      error // the backends could not be had: the node counts as unreachable
	backends map[backendKey]backendRow

	dnssecErr error
	dnssec    string // one of the dnssec* constants; "" when dnssecErr is set
	keys      map[keyTagKey]struct{}
}

// fetch asks the node for its backends and DNSSEC status at once.
func (n *haNode) fetch(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		var reply backendsReply
		if _, err := n.client.getJSON(ctx, "/api/v1/overwatch/backends", nil, &reply); err != nil {
			n.err = err
			return
		}
		n.backends = make(map[backendKey]backendRow, len(reply.Backends))
		for _, b := range reply.Backends {
			n.backends[keyOf(b)] = b
		}
	})
	wg.Go(func() {
		var reply struct {
			Enabled *bool `json:"enabled"`
			Keys    []struct {
				KeyTag int    `json:"key_tag"`
				Zone   string `json:"zone"`
			} `json:"keys"`
		}
		_, err := n.client.getJSON(ctx, "/api/v1/dnssec/status", nil, &reply)
		var re *requestError
		switch {
		case errors.As(err, &re) && re.status == http.StatusNotFound:
			n.dnssec = dnssecAbsent
			return
		case err != nil:
			n.dnssecErr = err
			return
		case reply.Enabled != nil && !*reply.Enabled:
			n.dnssec = dnssecDisabled
		default:
			n.dnssec = dnssecEnabled
		}
		n.keys = make(map[keyTagKey]struct{}, len(reply.Keys))
		for _, k := range reply.Keys {
			n.keys[keyTagKey{zone: strings.ToLower(strings.TrimSuffix(k.Zone, ".")), tag: k.KeyTag}] = struct{}{}
		}
	})
	wg.Wait()
}

func keyOf(b backendRow) backendKey {
	addr := b.Address
	if a, err := netip.ParseAddr(addr); err == nil {
		addr = a.String()
	}
	return backendKey{service: b.Service, address: addr, port: b.Port}
}

// Kinds of difference.
const (
	diffUnreachable    = "unreachable"     // the node's backends could not be had
	diffDNSSECError    = "dnssec_error"    // its DNSSEC status could not be had (404 aside)
	diffBackendMissing = "backend_missing" // a backend some nodes have and others not
	diffBackendField   = "backend_differs" // the same backend, a different value
	diffDNSSEC         = "dnssec_differs"  // DNSSEC on here, off or absent there
	diffKeyTagMissing  = "key_tag_missing" // a key tag some nodes have and others not
)

// haDifference is one way the nodes disagree.
type haDifference struct {
	Kind    string `json:"kind"`
	Node    string `json:"node,omitempty"`
	Error   string `json:"error,omitempty"`
	Service string `json:"service,omitempty"`
	Address string `json:"address,omitempty"`
	Port    int    `json:"port,omitempty"`
	Zone    string `json:"zone,omitempty"`
	KeyTag  int    `json:"key_tag,omitempty"`
	Field   string `json:"field,omitempty"`
	// Values maps each node to its value of Field (or its DNSSEC mode).
	Values    map[string]string `json:"values,omitempty"`
	PresentOn []string          `json:"present_on,omitempty"`
	MissingOn []string          `json:"missing_on,omitempty"`

	text string // the line the table output prints
}

// haNodeReport sums up one node for --output json.
type haNodeReport struct {
	URL         string `json:"url"`
	Reachable   bool   `json:"reachable"`
	Error       string `json:"error,omitempty"`
	Backends    int    `json:"backends"`
	DNSSEC      string `json:"dnssec,omitempty"`
	DNSSECError string `json:"dnssec_error,omitempty"`
	KeyTags     []int  `json:"key_tags"`
}

// haReport is what ha check found.
type haReport struct {
	Agree       bool           `json:"agree"`
	Nodes       []haNodeReport `json:"nodes"`
	Backends    int            `json:"backends"`
	KeyTags     int            `json:"key_tags"`
	Differences []haDifference `json:"differences"`
}

// backendFields are the values of a backend that must match on every
// node: what it serves, and the configuration that decides answers.
var backendFields = []struct {
	name  string
	value func(backendRow) string
}{
	{"effective_state", func(b backendRow) string { return textOr(b.EffectiveState, "-") }},
	{"served", func(b backendRow) string { return strconv.FormatBool(b.Served) }},
	{"override", func(b backendRow) string {
		if b.Override == nil || b.Override.State == "" {
			return "none"
		}
		return clean(b.Override.State)
	}},
	{"weight", func(b backendRow) string { return cell(b.Weight) }},
	{"priority", func(b backendRow) string { return cell(b.Priority) }},
}

// compareNodes finds every difference between the nodes' answers.
func compareNodes(nodes []*haNode) haReport {
	var r haReport
	var order []string
	for _, n := range nodes {
		order = append(order, n.url)
	}

	var reachable, withDNSSEC []*haNode
	for _, n := range nodes {
		nr := haNodeReport{URL: n.url, Reachable: n.err == nil, Backends: len(n.backends), DNSSEC: n.dnssec, KeyTags: []int{}}
		for k := range n.keys {
			nr.KeyTags = append(nr.KeyTags, k.tag)
		}
		slices.Sort(nr.KeyTags)
		switch {
		case n.err != nil:
			nr.Error = n.err.Error()
			r.Differences = append(r.Differences, haDifference{Kind: diffUnreachable, Node: n.url, Error: n.err.Error(),
				text: "unreachable: " + n.err.Error()})
		default:
			reachable = append(reachable, n)
			if n.dnssecErr != nil {
				nr.DNSSECError = n.dnssecErr.Error()
				r.Differences = append(r.Differences, haDifference{Kind: diffDNSSECError, Node: n.url, Error: n.dnssecErr.Error(),
					text: "DNSSEC status unknown: " + n.dnssecErr.Error()})
			} else {
				withDNSSEC = append(withDNSSEC, n)
			}
		}
		r.Nodes = append(r.Nodes, nr)
	}

	// Backends: each one on every reachable node, with the same values.
	var keys []backendKey
	seen := map[backendKey]bool{}
	for _, n := range reachable {
		for k := range n.backends {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b backendKey) int {
		return compareBackend(a.service, a.address, a.port, b.service, b.address, b.port)
	})
	r.Backends = len(keys)
	for _, k := range keys {
		var present, missing []string
		var rows []backendRow
		for _, n := range reachable {
			if b, ok := n.backends[k]; ok {
				present = append(present, n.url)
				rows = append(rows, b)
			} else {
				missing = append(missing, n.url)
			}
		}
		if len(missing) > 0 {
			r.Differences = append(r.Differences, haDifference{Kind: diffBackendMissing,
				Service: k.service, Address: k.address, Port: k.port, PresentOn: present, MissingOn: missing,
				text: fmt.Sprintf("backend %s: present on %s; missing on %s", k, strings.Join(present, ", "), strings.Join(missing, ", "))})
		}
		for _, f := range backendFields {
			values := map[string]string{}
			distinct := map[string]bool{}
			for i, b := range rows {
				v := f.value(b)
				values[present[i]] = v
				distinct[v] = true
			}
			if len(distinct) > 1 {
				d := haDifference{Kind: diffBackendField, Service: k.service, Address: k.address, Port: k.port,
					Field: f.name, Values: values}
				d.text = fmt.Sprintf("backend %s: %s differs: %s", k, f.name, groupValues(d.Values, order))
				r.Differences = append(r.Differences, d)
			}
		}
	}

	// DNSSEC: on everywhere or nowhere, with the same key tags.
	modes := map[string]string{}
	distinctModes := map[string]bool{}
	for _, n := range withDNSSEC {
		modes[n.url] = n.dnssec
		distinctModes[n.dnssec] = true
	}
	if len(distinctModes) > 1 {
		r.Differences = append(r.Differences, haDifference{Kind: diffDNSSEC, Values: modes,
			text: "DNSSEC differs: " + groupValues(modes, order)})
	}
	var tags []keyTagKey
	seenTag := map[keyTagKey]bool{}
	for _, n := range withDNSSEC {
		for k := range n.keys {
			if !seenTag[k] {
				seenTag[k] = true
				tags = append(tags, k)
			}
		}
	}
	slices.SortFunc(tags, func(a, b keyTagKey) int {
		if d := strings.Compare(a.zone, b.zone); d != 0 {
			return d
		}
		return a.tag - b.tag
	})
	r.KeyTags = len(tags)
	for _, k := range tags {
		var present, missing []string
		for _, n := range withDNSSEC {
			if _, ok := n.keys[k]; ok {
				present = append(present, n.url)
			} else {
				missing = append(missing, n.url)
			}
		}
		if len(missing) > 0 {
			r.Differences = append(r.Differences, haDifference{Kind: diffKeyTagMissing, Zone: k.zone, KeyTag: k.tag,
				PresentOn: present, MissingOn: missing,
				text: fmt.Sprintf("DNSSEC key tag %s: present on %s; missing on %s", k, strings.Join(present, ", "), strings.Join(missing, ", "))})
		}
	}
	if r.Differences == nil {
		r.Differences = []haDifference{}
	}
	r.Agree = len(r.Differences) == 0
	return r
}

// groupValues renders node → value as "v1 on A, C; v2 on B", values in
// the order their first node was given.
func groupValues(values map[string]string, order []string) string {
	var vals []string
	nodesOf := map[string][]string{}
	for _, node := range order {
		v, ok := values[node]
		if !ok {
			continue
		}
		if _, ok := nodesOf[v]; !ok {
			vals = append(vals, v)
		}
		nodesOf[v] = append(nodesOf[v], node)
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = v + " on " + strings.Join(nodesOf[v], ", ")
	}
	return strings.Join(parts, "; ")
}

func runHACheck(c *cli.Context, args []string) error {
	if err := wantArgs(c, args, 0, 0); err != nil {
		return err
	}
	o, err := parseClientOptions(c)
	if err != nil {
		return err
	}
	raw := c.StringSlice("node")
	if len(raw) < 2 {
		return usageError(c, "give at least two nodes with --node URL (got %d)", len(raw))
	}
	hc, err := newHTTPClient(c, o)
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	var nodes []*haNode
	given := map[string]bool{}
	for _, r := range raw {
		u, err := parseNodeURL(r)
		if err != nil {
			return usageError(c, "--node: %v", err)
		}
		if given[u.String()] {
			return usageError(c, "--node %s given twice", u)
		}
		given[u.String()] = true
		nodes = append(nodes, &haNode{url: u.String(), client: newAPIClient(u, o, hc)})
	}

	ctx, cancel := context.WithTimeout(c.Context, o.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.fetch(ctx) })
	}
	wg.Wait()

	report := compareNodes(nodes)
	if o.json {
		if err := writeValue(c.App.Writer, report); err != nil {
			return err
		}
	} else if err := writeHAText(c.App.Writer, report); err != nil {
		return err
	}
	if report.Agree {
		return nil
	}
	return cli.Exit(fmt.Sprintf("ha check: %d nodes disagree (%d differences)", len(nodes), len(report.Differences)), exitFailure)
}

func writeHAText(w io.Writer, r haReport) error {
	if r.Agree {
		_, err := fmt.Fprintf(w, "all %d nodes agree (%d backends, %d key tags)\n", len(r.Nodes), r.Backends, r.KeyTags)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d nodes, %d differences:\n", len(r.Nodes), len(r.Differences))
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "  %s\n", d.text)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
