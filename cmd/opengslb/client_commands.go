package main

// Operator commands against one node's API: status, backends, agents,
// overrides and reload.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// What the API answers (see the API contract). Fields the contract leaves
// loose are json.RawMessage and go through cell.

type statusReply struct {
	Node             string          `json:"node"`
	Region           string          `json:"region"`
	Version          string          `json:"version"`
	Ready            bool            `json:"ready"`
	ReadyDetail      json.RawMessage `json:"ready_detail"`
	Serial           json.RawMessage `json:"serial"`
	ConfigGeneration json.RawMessage `json:"config_generation"`
	Domains          json.RawMessage `json:"domains"`
	Backends         struct {
		Healthy   int `json:"healthy"`
		Unhealthy int `json:"unhealthy"`
		Unknown   int `json:"unknown"`
		Stale     int `json:"stale"`
	} `json:"backends"`
	Agents    json.RawMessage `json:"agents"`
	Overrides json.RawMessage `json:"overrides"`
}

type backendRow struct {
	Service         string          `json:"service"`
	Address         string          `json:"address"`
	Port            int             `json:"port"`
	Weight          json.RawMessage `json:"weight"`
	Priority        json.RawMessage `json:"priority"`
	Region          string          `json:"region"`
	Source          string          `json:"source"`
	ClaimedHealth   json.RawMessage `json:"claimed_health"`
	ValidatedHealth json.RawMessage `json:"validated_health"`
	EffectiveState  string          `json:"effective_state"`
	Override        *overrideRow    `json:"override"`
	LastReport      json.RawMessage `json:"last_report"`
	AgeSeconds      *float64        `json:"age_seconds"`
	Stale           bool            `json:"stale"`
	Served          bool            `json:"served"`
}

type backendsReply struct {
	Backends []backendRow `json:"backends"`
}

type agentRow struct {
	Agent       json.RawMessage `json:"agent"`
	Region      json.RawMessage `json:"region"`
	Addr        json.RawMessage `json:"addr"`
	Alive       json.RawMessage `json:"alive"`
	Registered  json.RawMessage `json:"registered"`
	LastReport  json.RawMessage `json:"last_report"`
	Accepted    json.RawMessage `json:"accepted"`
	Refused     json.RawMessage `json:"refused"`
	LastRefusal json.RawMessage `json:"last_refusal"`
	Services    json.RawMessage `json:"services"`
}

type overrideRow struct {
	Service string          `json:"service"`
	Backend string          `json:"backend"`
	State   string          `json:"state"`
	Reason  string          `json:"reason"`
	Expires json.RawMessage `json:"expires"`
	Created json.RawMessage `json:"created"`
	Source  string          `json:"source"`
}

type reloadReply struct {
	Applied    bool              `json:"applied"`
	Generation json.RawMessage   `json:"generation"`
	Changes    []json.RawMessage `json:"changes"`
}

// --- status ---

func clientStatusCommand() *cli.Command {
	return clientCommand(&cli.Command{
		Name:  "status",
		Usage: "show a running node's status (readiness, serial, backends, agents)",
	}, true, runStatus)
}

func runStatus(c *cli.Context, args []string) error {
	var st statusReply
	if printed, err := getForDisplay(c, args, "/api/v1/status", nil, &st); printed || err != nil {
		return err
	}
	ready := yesNo(st.Ready)
	if d := cell(st.ReadyDetail); d != "-" {
		ready += " (" + d + ")"
	}
	t := newTable(c.App.Writer, "node", textOr(st.Node, "-"))
	t.row("region", textOr(st.Region, "-"))
	t.row("version", textOr(st.Version, "-"))
	t.row("ready", ready)
	t.row("serial", cell(st.Serial))
	t.row("config generation", cell(st.ConfigGeneration))
	t.row("domains", cell(st.Domains))
	t.row("backends", fmt.Sprintf("%d healthy, %d unhealthy, %d unknown, %d stale",
		st.Backends.Healthy, st.Backends.Unhealthy, st.Backends.Unknown, st.Backends.Stale))
	t.row("agents", cell(st.Agents))
	t.row("overrides", cell(st.Overrides))
	return t.flush()
}

// --- backends ---

func clientBackendsCommand() *cli.Command {
	return clientCommand(&cli.Command{
		Name:  "backends",
		Usage: "list the backends a node knows: claimed and validated health, state, overrides, staleness",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "service", Aliases: []string{"s"}, Usage: "only the backends of `SERVICE`"},
			&cli.StringFlag{Name: "state", Usage: "only backends in `STATE` (as the node names it: healthy, unhealthy, drain, …)"},
		},
	}, true, runBackends)
}

func runBackends(c *cli.Context, args []string) error {
	query := url.Values{}
	if v := c.String("service"); v != "" {
		query.Set("service", v)
	}
	if v := c.String("state"); v != "" {
		query.Set("state", v)
	}
	var reply backendsReply
	if printed, err := getForDisplay(c, args, "/api/v1/overwatch/backends", query, &reply); printed || err != nil {
		return err
	}
	rows := reply.Backends
	slices.SortStableFunc(rows, func(a, b backendRow) int {
		return compareBackend(a.Service, a.Address, a.Port, b.Service, b.Address, b.Port)
	})
	t := newTable(c.App.Writer, "SERVICE", "ADDRESS", "PORT", "SOURCE", "CLAIMED", "VALIDATED", "STATE", "OVERRIDE", "STALE", "AGE")
	for _, b := range rows {
		override := "-"
		if b.Override != nil && b.Override.State != "" {
			override = clean(b.Override.State)
		}
		t.row(clean(b.Service), textOr(b.Address, "-"), strconv.Itoa(b.Port), textOr(b.Source, "-"),
			cell(b.ClaimedHealth), cell(b.ValidatedHealth), textOr(b.EffectiveState, "-"), override,
			yesNo(b.Stale), formatAge(b.AgeSeconds))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(c.App.ErrWriter, "no backends match")
		return err
	}
	return nil
}

// compareBackend orders backends by service, then address (numerically
// when both parse), then port.
func compareBackend(svcA, addrA string, portA int, svcB, addrB string, portB int) int {
	if d := strings.Compare(svcA, svcB); d != 0 {
		return d
	}
	a, errA := netip.ParseAddr(addrA)
	b, errB := netip.ParseAddr(addrB)
	if errA == nil && errB == nil {
		if d := a.Compare(b); d != 0 {
			return d
		}
	} else if d := strings.Compare(addrA, addrB); d != 0 {
		return d
	}
	return cmp.Compare(portA, portB)
}

// formatAge renders the age of a backend's last report.
func formatAge(seconds *float64) string {
	if seconds == nil {
		return "-"
	}
	return time.Duration(*seconds * float64(time.Second)).Round(time.Second).String()
}

// --- agents ---

func clientAgentsCommand() *cli.Command {
	return clientCommand(&cli.Command{
		Name:  "agents",
		Usage: "list the agents a node hears: liveness, last report, accepted and refused reports",
	}, true, runAgents)
}

func runAgents(c *cli.Context, args []string) error {
	var reply struct {
		Agents []agentRow `json:"agents"`
	}
	if printed, err := getForDisplay(c, args, "/api/v1/overwatch/agents", nil, &reply); printed || err != nil {
		return err
	}
	rows := reply.Agents
	slices.SortStableFunc(rows, func(a, b agentRow) int { return strings.Compare(cell(a.Agent), cell(b.Agent)) })
	t := newTable(c.App.Writer, "AGENT", "REGION", "ADDR", "ALIVE", "REGISTERED", "LAST REPORT", "ACCEPTED", "REFUSED", "SERVICES", "LAST REFUSAL")
	for _, a := range rows {
		t.row(cell(a.Agent), cell(a.Region), cell(a.Addr), cell(a.Alive), cell(a.Registered), cell(a.LastReport),
			cell(a.Accepted), cell(a.Refused), cell(a.Services), cell(a.LastRefusal))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(c.App.ErrWriter, "no agents")
		return err
	}
	return nil
}

// --- overrides ---

// overrideStates are the states an operator may set.
var overrideStates = []string{"drain", "down", "up"}

func clientOverrideCommand() *cli.Command {
	return &cli.Command{
		Name:  "override",
		Usage: "take backends out of (or force them into) answers for maintenance",
		Subcommands: []*cli.Command{
			clientCommand(&cli.Command{
				Name:      "set",
				Usage:     "set an override on one backend, or on every backend of a service",
				ArgsUsage: "SERVICE [ADDRESS:PORT]",
				Description: "ADDRESS:PORT is the backend as the node lists it; write IPv6 in brackets: [2001:db8::1]:443.\n" +
					"Without it the override covers every backend of SERVICE.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "state", Usage: "set it to `STATE`: drain (planned, out of answers), down (out of answers) or up (served whatever its health)"},
					&cli.StringFlag{Name: "reason", Usage: "why, in `TEXT`, for whoever looks next"},
					&cli.StringFlag{Name: "expires", Usage: "lift it at `TIME` (RFC 3339) or after a duration (2h); default: until cleared"},
				},
			}, true, runOverrideSet),
			clientCommand(&cli.Command{
				Name:      "clear",
				Usage:     "remove an override",
				ArgsUsage: "SERVICE [ADDRESS:PORT]",
			}, true, runOverrideClear),
			clientCommand(&cli.Command{
				Name:  "list",
				Usage: "list the overrides in force",
			}, true, runOverrideList),
		},
		Action: unknownSubcommand,
	}
}

// unknownSubcommand is the action of a command that only groups others.
func unknownSubcommand(c *cli.Context) error {
	if c.Args().Present() {
		return usageError(c, "no subcommand %q", c.Args().First())
	}
	if err := cli.ShowSubcommandHelp(c); err != nil {
		return err
	}
	return usageError(c, "give a subcommand")
}

// overridePath is the API path of the override on SERVICE, or on one of
// its backends. The backend segment keeps IPv6 brackets and the colon
// bare ("/api/v1/overrides/webapp/[2001:db8::1]:443"): url.PathEscape
// would turn the brackets into %5B and %5D.
func overridePath(args []string) (string, error) {
	service := args[0]
	if service == "" || strings.ContainsAny(service, "/") || strings.TrimSpace(service) != service {
		return "", fmt.Errorf("bad service name %q", service)
	}
	path := "/api/v1/overrides/" + url.PathEscape(service)
	if len(args) < 2 {
		return path, nil
	}
	ap, err := netip.ParseAddrPort(args[1])
	if err != nil {
		return "", fmt.Errorf("backend %q: want ADDRESS:PORT, with IPv6 in brackets ([2001:db8::1]:443)", args[1])
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("backend %q: port 0", args[1])
	}
	return path + "/" + backendSegment(ap), nil
}

// backendSegment is one path segment naming a backend; a zone (%eth0)
// is the only part that needs escaping.
func backendSegment(ap netip.AddrPort) string {
	port := strconv.Itoa(int(ap.Port()))
	if ap.Addr().Is4() {
		return ap.Addr().String() + ":" + port
	}
	return "[" + url.PathEscape(ap.Addr().String()) + "]:" + port
}

// overrideRequest is the body of PUT /api/v1/overrides/....
type overrideRequest struct {
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Expires string `json:"expires,omitempty"`
}

func runOverrideSet(c *cli.Context, args []string) error {
	if err := wantArgs(c, args, 1, 2); err != nil {
		return err
	}
	path, err := overridePath(args)
	if err != nil {
		return usageError(c, "%v", err)
	}
	body := overrideRequest{
		State:   strings.ToLower(strings.TrimSpace(c.String("state"))),
		Reason:  c.String("reason"),
		Expires: strings.TrimSpace(c.String("expires")),
	}
	switch {
	case body.State == "":
		return usageError(c, "--state is required: %s", strings.Join(overrideStates, ", "))
	case !slices.Contains(overrideStates, body.State):
		return usageError(c, "--state %q: want %s", body.State, strings.Join(overrideStates, ", "))
	}
	if body.Expires != "" {
		if err := checkExpires(body.Expires, time.Now()); err != nil {
			return usageError(c, "--expires %q: %v", body.Expires, err)
		}
	}
	s, err := newSession(c)
	if err != nil {
		return err
	}
	defer s.close()
	data, err := s.client.do(c.Context, http.MethodPut, path, nil, body)
	if err != nil {
		return err
	}
	var reply struct {
		Override overrideRow `json:"override"`
	}
	if err := s.client.decode(http.MethodPut, path, data, &reply); err != nil {
		return err
	}
	if s.opts.json {
		return writeJSON(c.App.Writer, data)
	}
	o := reply.Override
	if o.State == "" { // a terse server: say what was asked
		o = overrideRow{Service: args[0], State: body.State, Reason: body.Reason}
		if len(args) > 1 {
			o.Backend = args[1]
		}
	}
	msg := fmt.Sprintf("override set: %s %s", overrideTargetText(o.Service, o.Backend), clean(o.State))
	if e := cell(o.Expires); e != "-" {
		msg += ", expires " + e
	} else {
		msg += ", until cleared"
	}
	if o.Reason != "" {
		msg += " (" + clean(o.Reason) + ")"
	}
	_, err = fmt.Fprintln(c.App.Writer, msg)
	return err
}

// checkExpires accepts an RFC 3339 time in the future or a positive
// duration.
func checkExpires(s string, now time.Time) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return errors.New("that time has passed")
		}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want an RFC 3339 time (2025-01-15T10:30:00Z) or a duration (2h, 90m)")
	}
	if d <= 0 {
		return errors.New("the duration must be positive")
	}
	return nil
}

func overrideTargetText(service, backend string) string {
	if backend == "" {
		return clean(service) + " (every backend)"
	}
	return clean(service) + " " + clean(backend)
}

func runOverrideClear(c *cli.Context, args []string) error {
	if err := wantArgs(c, args, 1, 2); err != nil {
		return err
	}
	path, err := overridePath(args)
	if err != nil {
		return usageError(c, "%v", err)
	}
	s, err := newSession(c)
	if err != nil {
		return err
	}
	defer s.close()
	data, err := s.client.do(c.Context, http.MethodDelete, path, nil, nil)
	if err != nil {
		return err
	}
	var reply struct {
		Cleared string `json:"cleared"`
	}
	if len(data) > 0 {
		if err := s.client.decode(http.MethodDelete, path, data, &reply); err != nil {
			return err
		}
	}
	if s.opts.json {
		if len(data) == 0 {
			return writeValue(c.App.Writer, map[string]string{"cleared": strings.Join(args, "/")})
		}
		return writeJSON(c.App.Writer, data)
	}
	what := reply.Cleared
	if what == "" {
		what = strings.Join(args, "/")
	}
	_, err = fmt.Fprintln(c.App.Writer, "override cleared:", clean(what))
	return err
}

func runOverrideList(c *cli.Context, args []string) error {
	var reply struct {
		Overrides []overrideRow `json:"overrides"`
	}
	if printed, err := getForDisplay(c, args, "/api/v1/overrides", nil, &reply); printed || err != nil {
		return err
	}
	rows := reply.Overrides
	slices.SortStableFunc(rows, func(a, b overrideRow) int {
		return cmp.Or(strings.Compare(a.Service, b.Service), strings.Compare(a.Backend, b.Backend))
	})
	t := newTable(c.App.Writer, "SERVICE", "BACKEND", "STATE", "REASON", "EXPIRES", "CREATED", "SOURCE")
	for _, o := range rows {
		t.row(clean(o.Service), textOr(o.Backend, "(every backend)"), textOr(o.State, "-"), textOr(o.Reason, "-"),
			cell(o.Expires), cell(o.Created), textOr(o.Source, "-"))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(c.App.ErrWriter, "no overrides")
		return err
	}
	return nil
}

// --- reload ---

func clientReloadCommand() *cli.Command {
	return clientCommand(&cli.Command{
		Name:  "reload",
		Usage: "ask a node to re-read its configuration (as SIGHUP does) and say what changed or why it refused",
	}, true, runReload)
}

func runReload(c *cli.Context, args []string) error {
	if err := wantArgs(c, args, 0, 0); err != nil {
		return err
	}
	s, err := newSession(c)
	if err != nil {
		return err
	}
	defer s.close()
	const path = "/api/v1/reload"
	data, err := s.client.do(c.Context, http.MethodPost, path, nil, nil)
	if err != nil {
		// A refusal is an answer too: in JSON mode print it as it came.
		var re *requestError
		if s.opts.json && errors.As(err, &re) && json.Valid(re.body) {
			if werr := writeJSON(c.App.Writer, re.body); werr != nil {
				return werr
			}
		}
		return err
	}
	var reply reloadReply
	if err := s.client.decode(http.MethodPost, path, data, &reply); err != nil {
		return err
	}
	if s.opts.json {
		return writeJSON(c.App.Writer, data)
	}
	w := c.App.Writer
	if reply.Applied {
		fmt.Fprintf(w, "reload applied: generation %s\n", cell(reply.Generation))
	} else {
		fmt.Fprintf(w, "reload: nothing to apply, generation %s stays in force\n", cell(reply.Generation))
	}
	for _, ch := range reply.Changes {
		fmt.Fprintf(w, "  %s\n", cell(ch))
	}
	return nil
}
