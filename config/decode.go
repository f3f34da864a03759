package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decoder moves the generic tree BurntSushi/toml parsed into the typed
// Config. It replaces toml's own struct decoding because that decoding
// stops at the first type error, matches keys case-insensitively (so
// "Mode" would pass as "mode") and cannot tell whether a key inside an array
// of tables was written. This one matches toml tags exactly, reports every
// unknown key and every type error with its indexed path, and records which
// paths were written, for defaults that depend on it (weight = 0).
type decoder struct {
	p       *problems
	defined map[string]bool
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) decode(path string, data any, rv reflect.Value) {
	if path != "" {
		d.defined[path] = true
	}
	if rv.CanAddr() && rv.Addr().Type().Implements(textUnmarshaler) {
		s, ok := data.(string)
		if !ok {
			d.p.add(path, "must be a string, not %s", tomlType(data))
			return
		}
		if err := rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.p.add(path, "%v", err)
		}
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.decode(path, data, rv.Elem())
	case reflect.Struct:
		d.table(path, data, rv)
	case reflect.Slice:
		d.array(path, data, rv)
	case reflect.Map:
		d.mapTable(path, data, rv)
	case reflect.String:
		s, ok := data.(string)
		if !ok {
			d.p.add(path, "must be a string, not %s", tomlType(data))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			d.p.add(path, "must be true or false, not %s", tomlType(data))
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.integer(path, data, rv)
	default:
		// A field type this decoder does not know is a programming error
		// in types.go, not in the operator's file.
		panic(fmt.Sprintf("config: cannot decode into %s at %s", rv.Type(), path))
	}
}

func (d *decoder) table(path string, data any, rv reflect.Value) {
	m, ok := data.(map[string]any)
	if !ok {
		d.p.add(path, "must be a table, not %s", tomlType(data))
		return
	}
	fields := tomlFields(rv.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := joinPath(path, k)
		i, ok := fields[k]
		if !ok {
			d.p.add(sub, "unknown key")
			continue
		}
		d.decode(sub, m[k], rv.Field(i))
	}
}

// mapTable decodes a table whose keys are data, not schema (service
// names, for the token tables): every key is accepted here and checked by
// validation; each value decodes as the map's element type, its errors
// naming the key. A key is a path segment like any other, so its line is
// found the same way.
func (d *decoder) mapTable(path string, data any, rv reflect.Value) {
	if rv.Type().Key().Kind() != reflect.String {
		panic(fmt.Sprintf("config: cannot decode into %s at %s", rv.Type(), path))
	}
	m, ok := data.(map[string]any)
	if !ok {
		d.p.add(path, "must be a table, not %s", tomlType(data))
		return
	}
	out := reflect.MakeMapWithSize(rv.Type(), len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		elem := reflect.New(rv.Type().Elem()).Elem()
		d.decode(joinPath(path, k), m[k], elem)
		out.SetMapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()), elem)
	}
	rv.Set(out)
}

// tomlFields maps the toml tag of each decodable field of t to its index.
func tomlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" || !f.IsExported() || f.Anonymous {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = i
	}
	return fields
}

func (d *decoder) array(path string, data any, rv reflect.Value) {
	var elems []any
	switch v := data.(type) {
	case []any:
		elems = v
	case []map[string]any: // an array of tables
		elems = make([]any, len(v))
		for i := range v {
			elems[i] = v[i]
		}
	default:
		d.p.add(path, "must be an array, not %s", tomlType(data))
		return
	}
	s := reflect.MakeSlice(rv.Type(), len(elems), len(elems))
	for i, e := range elems {
		d.decode(joinPath(path, strconv.Itoa(i)), e, s.Index(i))
	}
	rv.Set(s)
}

func (d *decoder) integer(path string, data any, rv reflect.Value) {
	n, ok := data.(int64)
	if !ok {
		d.p.add(path, "must be an integer, not %s", tomlType(data))
		return
	}
	lo, hi := intRange(rv.Type())
	b, ok := bounds[schemaPath(path)]
	if !ok {
		b = bound{lo, hi}
	}
	if n < b.min || n > b.max || n < lo || n > hi {
		d.p.add(path, "%s", b)
		return
	}
	if rv.CanInt() {
		rv.SetInt(n)
	} else {
		rv.SetUint(uint64(n))
	}
}

func intRange(t reflect.Type) (lo, hi int64) {
	bits := t.Bits()
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		if bits >= 63 {
			return 0, math.MaxInt64
		}
		return 0, 1<<bits - 1
	}
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

// schemaPath drops the array indices: "domains.3.ttl" -> "domains.ttl".
func schemaPath(path string) string {
	segs := strings.Split(path, ".")
	out := segs[:0]
	for _, s := range segs {
		if !isIndex(s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ".")
}

// tomlType names the TOML type of a parsed value for messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}
