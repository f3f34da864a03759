package main

// The operator's client: subcommands that talk to a running overwatch's
// HTTP API. This file holds what they share: flags, the HTTP client,
// errors that name the node and what failed, exit statuses and rendering.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"
)

const (
	defaultAPI     = "http://127.0.0.1:9090"
	defaultTimeout = 10 * time.Second
	// maxResponse bounds what the client reads from a node: a backend
	// list is large, but a node that streams forever must not eat memory.
	maxResponse = 64 << 20
)

// Exit statuses. A usage error is the operator's to fix before anything
// was asked of a node; a failure is what a node said or did not say.
const (
	exitFailure = 1
	exitUsage   = 2
)

// reportError prints what Run returned, once, prefixed with the program's
// name, and returns the exit status: an ExitCoder's own (2 for usage
// errors), 1 for anything else. An ExitCoder with an empty message prints
// nothing: the command already said what it had to.
func reportError(w io.Writer, err error) int {
	code := exitFailure
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(w, "opengslb:", msg)
	}
	return code
}

// clientFlags are the flags every API command takes. Each command gets a
// fresh set: urfave flags keep per-run state. withAPI is false for
// commands that name their nodes otherwise (ha check).
func clientFlags(withAPI bool) []cli.Flag {
	var fl []cli.Flag
	if withAPI {
		fl = append(fl, &cli.StringFlag{Name: "api", Value: defaultAPI, EnvVars: []string{"OPENGSLB_API"},
			Usage: "base `URL` of the node's API (http:// or https://)"})
	}
	return append(fl,
		&cli.StringFlag{Name: "token", EnvVars: []string{"OPENGSLB_API_TOKEN"},
			Usage: "bearer `TOKEN` for the API (needed for changes when the node has api.auth_token)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output `FORMAT`: table or json"},
		&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, Usage: "give up on a node after `DURATION`"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of a CA to trust for https, besides the system's"},
		&cli.BoolFlag{Name: "insecure", Usage: "do not verify the node's TLS certificate"},
	)
}

// clientCommand fills in what every API command shares: its flags, usage
// errors that exit 2, and flags accepted after the arguments
// ("override set webapp 10.0.0.1:443 --state drain"), which urfave/cli v2
// would otherwise take for arguments.
func clientCommand(cmd *cli.Command, withAPI bool, action func(c *cli.Context, args []string) error) *cli.Command {
	cmd.Flags = append(cmd.Flags, clientFlags(withAPI)...)
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return usageError(c, "%v", err)
	}
	cmd.Action = func(c *cli.Context) error {
		args, help, err := interspersed(c)
		if err != nil {
			return usageError(c, "%v", err)
		}
		if help {
			return cli.ShowCommandHelp(c.Lineage()[1], c.Command.Name)
		}
		return action(c, args)
	}
	return cmd
}

// commandName is the command's path without the program's name:
// "override set".
func commandName(c *cli.Context) string {
	if c.Command == nil {
		return c.App.Name
	}
	return strings.TrimPrefix(c.Command.HelpName, c.App.Name+" ")
}

// usageError is a mistake in the command line: exit status 2.
func usageError(c *cli.Context, format string, args ...any) error {
	name := commandName(c)
	return cli.Exit(fmt.Sprintf("%s: %s (see opengslb %s --help)", name, fmt.Sprintf(format, args...), name), exitUsage)
}

// interspersed returns the command's positional arguments after applying
// any flags found among them. It reports whether --help was among them.
func interspersed(c *cli.Context) (args []string, help bool, err error) {
	rest := c.Args().Slice()
	hasFlag := false
	for _, a := range rest {
		if strings.HasPrefix(a, "-") && a != "-" {
			hasFlag = true
			break
		}
	}
	if !hasFlag {
		return rest, false, nil
	}
	set := flag.NewFlagSet(commandName(c), flag.ContinueOnError)
	set.SetOutput(io.Discard)
	var seen []recordedFlag
	for _, f := range c.Command.Flags {
		boolean := true
		if df, ok := f.(cli.DocGenerationFlag); ok {
			boolean = !df.TakesValue()
		}
		// Recorded under the flag's first name: urfave keeps each alias
		// as its own flag and copies between them only when it parses.
		names := f.Names()
		for _, name := range names {
			set.Var(&flagRecorder{name: names[0], boolean: boolean, seen: &seen}, name, "")
		}
	}
	for {
		if err := set.Parse(rest); err != nil {
			return nil, false, err
		}
		rest = set.Args()
		if len(rest) == 0 {
			break
		}
		args = append(args, rest[0])
		rest = rest[1:]
	}
	for _, s := range seen {
		if s.name == "help" || s.name == "h" {
			help = true
			continue
		}
		if err := c.Set(s.name, s.value); err != nil {
			return nil, false, fmt.Errorf("invalid value %q for flag --%s: %v", s.value, s.name, err)
		}
	}
	return args, help, nil
}

type recordedFlag struct{ name, value string }

// flagRecorder notes each flag as it is parsed, in order, so repeated
// flags (--node A --node B) keep every value.
type flagRecorder struct {
	name    string
	boolean bool
	seen    *[]recordedFlag
}

func (r *flagRecorder) String() string { return "" }
func (r *flagRecorder) Set(v string) error {
	*r.seen = append(*r.seen, recordedFlag{r.name, v})
	return nil
}
func (r *flagRecorder) IsBoolFlag() bool { return r.boolean }

// clientOptions are the validated common flags.
type clientOptions struct {
	json     bool
	token    string
	timeout  time.Duration
	caFile   string
	insecure bool
}

func parseClientOptions(c *cli.Context) (clientOptions, error) {
	o := clientOptions{
		token:    strings.TrimSpace(c.String("token")),
		timeout:  c.Duration("timeout"),
		caFile:   c.String("ca-file"),
		insecure: c.Bool("insecure"),
	}
	switch out := c.String("output"); out {
	case "table", "":
	case "json":
		o.json = true
	default:
		return o, usageError(c, "--output %q: want table or json", out)
	}
	if o.timeout <= 0 {
		return o, usageError(c, "--timeout must be positive, not %s", o.timeout)
	}
	return o, nil
}

// newHTTPClient builds the client for one command run, with the TLS trust
// the flags ask for. The caller closes its idle connections when done.
func newHTTPClient(c *cli.Context, o clientOptions) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, usageError(c, "--ca-file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError(c, "--ca-file %s: no PEM certificate in it", o.caFile)
		}
		tlsConfig.RootCAs = pool
	}
	if o.insecure {
		// The operator asked for it: a self-signed test node, say.
		tlsConfig.InsecureSkipVerify = true
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return &http.Client{Transport: transport}, nil
}

// parseNodeURL checks a node's base URL. "host:port" alone means http.
func parseNodeURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("empty URL")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: give only scheme, host, port and an optional path prefix", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}

// apiClient talks to one node.
type apiClient struct {
	base    *url.URL
	name    string // the node as errors name it: its base URL
	token   string
	timeout time.Duration
	http    *http.Client
}

func newAPIClient(base *url.URL, o clientOptions, hc *http.Client) *apiClient {
	return &apiClient{base: base, name: base.String(), token: o.token, timeout: o.timeout, http: hc}
}

// requestError is a request to a node that did not succeed. Its message
// names the node, the request and what failed.
type requestError struct {
	node   string
	method string
	path   string
	status int    // the HTTP status; 0 when no response came
	what   string // what failed, in words
	body   []byte // the response body, when there was one
}

func (e *requestError) Error() string {
	return fmt.Sprintf("%s: %s %s: %s", e.node, e.method, e.path, e.what)
}

// do sends one request and returns the response body when the status is
// 2xx. Otherwise the error is a *requestError, which keeps the body.
// rawPath is already escaped; query may be nil; body, when not nil, is
// sent as JSON.
func (a *apiClient) do(ctx context.Context, method, rawPath string, query url.Values, body any) ([]byte, error) {
	fail := func(status int, respBody []byte, format string, args ...any) error {
		return &requestError{node: a.name, method: method, path: rawPath, status: status, body: respBody, what: fmt.Sprintf(format, args...)}
	}
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, fail(0, nil, "bad path: %v", err)
	}
	u := *a.base
	u.Path = a.base.Path + path
	u.RawPath = a.base.EscapedPath() + rawPath
	u.RawQuery = query.Encode()

	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fail(0, nil, "encode request: %v", err)
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, fail(0, nil, "build request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "opengslb-cli/"+strings.Fields(versionString())[0])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fail(0, nil, "%s", a.describe(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fail(resp.StatusCode, nil, "HTTP %d, then reading the body: %s", resp.StatusCode, a.describe(err))
	}
	if len(data) > maxResponse {
		return nil, fail(resp.StatusCode, nil, "HTTP %d, body larger than %d MiB", resp.StatusCode, maxResponse>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		what := fmt.Sprintf("HTTP %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), serverError(data))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			if a.token == "" {
				what += " (no token given: use --token or OPENGSLB_API_TOKEN)"
			} else {
				what += " (check --token / OPENGSLB_API_TOKEN)"
			}
		}
		return data, fail(resp.StatusCode, data, "%s", what)
	}
	return data, nil
}

// getJSON fetches path and decodes it into v, returning the raw body too
// (--output json prints what the node said, fields this client does not
// know included).
func (a *apiClient) getJSON(ctx context.Context, rawPath string, query url.Values, v any) ([]byte, error) {
	data, err := a.do(ctx, http.MethodGet, rawPath, query, nil)
	if err != nil {
		return nil, err
	}
	return data, a.decode(http.MethodGet, rawPath, data, v)
}

// decode unmarshals a 2xx body, naming the node when it is not the JSON
// the contract promised.
func (a *apiClient) decode(method, rawPath string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return &requestError{node: a.name, method: method, path: rawPath, status: http.StatusOK, body: data,
			what: fmt.Sprintf("bad JSON in the response (%v): %s", err, snippet(data))}
	}
	return nil
}

// describe turns a transport error into words an operator can act on.
func (a *apiClient) describe(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		netErr    net.Error
		dnsErr    *net.DNSError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Sprintf("timed out after %s (--timeout)", a.timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the node running, and is the URL right?)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &verifyErr):
		return fmt.Sprintf("TLS certificate not accepted: %v (trust its CA with --ca-file, or skip checks with --insecure)", err)
	case errors.As(err, &recordErr):
		return "the node did not answer with TLS (is it http:// rather than https://?)"
	}
	return err.Error()
}

// serverError renders an error body: {"error": "...", "detail": ...} as
// "error: detail", anything else as a short excerpt.
func serverError(data []byte) string {
	var e struct {
		Error  string          `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		if len(bytes.TrimSpace(data)) == 0 {
			return "empty body"
		}
		return snippet(data)
	}
	msg := clean(e.Error)
	if d := detailText(e.Detail); d != "" {
		msg += ": " + d
	}
	return msg
}

// detailText renders the "detail" of an error, which may be any JSON.
func detailText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clean(s)
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		for i := range list {
			list[i] = clean(list[i])
		}
		return strings.Join(list, "; ")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return clean(buf.String())
	}
	return snippet(raw)
}

// snippet is the start of a body, quoted so that whatever is in it cannot
// disturb the terminal.
func snippet(data []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(data))
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "…"
	}
	return strconv.Quote(s)
}

// clean keeps a string the node sent from disturbing a table or a
// terminal: anything unprintable gets it quoted.
func clean(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// cell renders a JSON value for a table: "-" for null or empty, yes/no
// for booleans, strings bare, lists joined with commas, anything else as
// compact JSON. The server is younger than this client, so fields the
// contract leaves loose are rendered as they come rather than refused.
func cell(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0, string(raw) == "null":
		return "-"
	case string(raw) == "true":
		return "yes"
	case string(raw) == "false":
		return "no"
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s == "" {
				return "-"
			}
			return clean(s)
		}
	case raw[0] == '[':
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil {
			if len(list) == 0 {
				return "-"
			}
			parts := make([]string, len(list))
			for i, v := range list {
				parts[i] = cell(v)
			}
			return strings.Join(parts, ",")
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return clean(buf.String())
	}
	return clean(string(raw))
}

func textOr(s, empty string) string {
	if s == "" {
		return empty
	}
	return clean(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeJSON prints a node's JSON answer indented, as it came.
func writeJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeValue prints a value of ours as indented JSON.
func writeValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }
func (t *table) flush() error        { return t.tw.Flush() }

// session is what one run of an API command against one node needs.
type session struct {
	opts   clientOptions
	client *apiClient
	http   *http.Client
}

// newSession validates the common flags and --api. Close it when done.
func newSession(c *cli.Context) (*session, error) {
	o, err := parseClientOptions(c)
	if err != nil {
		return nil, err
	}
	base, err := parseNodeURL(c.String("api"))
	if err != nil {
		return nil, usageError(c, "--api: %v", err)
	}
	hc, err := newHTTPClient(c, o)
	if err != nil {
		return nil, err
	}
	return &session{opts: o, client: newAPIClient(base, o, hc), http: hc}, nil
}

// close drops the kept-alive connections so that nothing outlives the
// command.
func (s *session) close() { s.http.CloseIdleConnections() }

// getForDisplay is what every read command starts with: no arguments, one
// GET decoded into reply, and with --output json the node's answer printed
// as it came (printed is then true: nothing is left to do).
func getForDisplay(c *cli.Context, args []string, path string, query url.Values, reply any) (printed bool, err error) {
	if err := wantArgs(c, args, 0, 0); err != nil {
		return false, err
	}
	s, err := newSession(c)
	if err != nil {
		return false, err
	}
	defer s.close()
	data, err := s.client.getJSON(c.Context, path, query, reply)
	if err != nil {
		return false, err
	}
	if s.opts.json {
		return true, writeJSON(c.App.Writer, data)
	}
	return false, nil
}

// wantArgs is a usage error unless the command got between min and max
// arguments.
func wantArgs(c *cli.Context, args []string, minArgs, maxArgs int) error {
	if len(args) < minArgs || len(args) > maxArgs {
		usage := c.Command.ArgsUsage
		if usage == "" {
			return usageError(c, "takes no arguments, got %q", strings.Join(args, " "))
		}
		return usageError(c, "want %s, got %d argument(s)", usage, len(args))
	}
	return nil
}
