package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"reflect"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"
)

// maxBody bounds a request body: the API's bodies are a few fields.
const maxBody = 64 << 10

var apiPanics = metrics.NewCounter(`opengslb_api_panics_total`)

// route is one path of the API with its handler per method. Routing the
// methods here rather than in ServeMux ("GET /path") keeps the 405 in the
// API's JSON error shape and lets write checks run in one place.
type route struct {
	pattern string
	methods map[string]http.HandlerFunc
}

// requestInfo travels with a request so the outer layer can label its
// metrics with the route the mux chose and handlers can see the client.
type requestInfo struct {
	route  string
	client netip.Addr
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{route: "unmatched", client: remoteAddr(r)}
}

// recorder remembers the status a handler wrote, for metrics and so a
// panic after the header went out does not write a second one.
type recorder struct {
	http.ResponseWriter
	status int
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countRequest feeds opengslb_api_requests_total. The route is the mux
// pattern and unknown methods fold into one value, so no client can grow
// the number of series.
func countRequest(method, route string, code int) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions, http.MethodPatch:
	default:
		method = "OTHER"
	}
	if code == 0 {
		code = http.StatusOK
	}
	metrics.GetOrCreateCounter(fmt.Sprintf(`opengslb_api_requests_total{method=%q,route=%q,code="%d"}`, method, route, code)).Inc()
}

// guard is the outer layer of every request: it turns a handler's panic
// into a 500 and a counter rather than a dropped connection, and counts
// the request once it is answered.
func guard(log zerolog.Logger, r *http.Request, rec *recorder, info *requestInfo) {
	p := recover()
	if p != nil {
		if p == http.ErrAbortHandler {
			countRequest(r.Method, info.route, rec.status)
			panic(p)
		}
		apiPanics.Inc()
		log.Error().Str("panic", fmt.Sprint(p)).Str("method", r.Method).Str("route", info.route).
			Bytes("stack", debug.Stack()).Msg("API handler panicked; answered 500")
		if rec.status == 0 {
			writeError(rec, http.StatusInternalServerError, "internal error", "the request failed; the reason is in the overwatch's log")
		}
	}
	countRequest(r.Method, info.route, rec.status)
}

// allowHeader lists a route's methods for Allow, HEAD with GET.
func allowHeader(methods map[string]http.HandlerFunc) string {
	var names []string
	for m := range methods {
		names = append(names, m)
		if m == http.MethodGet {
			names = append(names, http.MethodHead)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// hasBody reports whether the request carries a body at all: a declared
// length above zero, or chunked (unknown length).
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// readJSON decodes the request body strictly into v: JSON only, at most
// maxBody bytes, no unknown fields, one value. It writes the error itself;
// ok false means the request is answered. present is false when the
// request had no body, leaving v as it was.
func readJSON(w http.ResponseWriter, r *http.Request, v any) (present, ok bool) {
	if !hasBody(r) {
		return false, true
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported media type",
			fmt.Sprintf("send the body as application/json, not %q", r.Header.Get("Content-Type")))
		return true, false
	}
	if r.ContentLength > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large", "a request body may hold at most "+strconv.Itoa(maxBody)+" bytes")
		return true, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return false, true // chunked with nothing in it
	}
	if err == nil {
		if extra := dec.Decode(&json.RawMessage{}); !errors.Is(extra, io.EOF) {
			err = extra
			if extra == nil {
				err = errors.New("the body holds more than one JSON value")
			}
		}
	}
	if err == nil {
		return true, true
	}
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "body too large", "a request body may hold at most "+strconv.Itoa(maxBody)+" bytes")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		writeError(w, http.StatusBadRequest, "invalid body", fmt.Sprintf("field %q must be a JSON %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value))
	default:
		// Unknown fields come out as `json: unknown field "name"`.
		writeError(w, http.StatusBadRequest, "invalid body", strings.TrimPrefix(err.Error(), "json: "))
	}
	return true, false
}

// withInfo returns r carrying info for the handlers below.
func withInfo(r *http.Request, info *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
}

// jsonKind names a Go type as a client writes it in JSON.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}
