package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file. Load and Parse return every
// Error they find joined with errors.Join, so an operator fixes a file in one
// pass; errors.As reaches the individual values.
type Error struct {
	File string // the source name given to Parse (the path, for Load)
	Line int    // 1-based; 0 when no line can be named
	Key  string // display form of the key: "domains[0].ttl"; may be empty
	Msg  string // what is wrong, lower case
}

// Error formats the problem as "file:line: key: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// problems collects the errors of one load. A key or line that already has
// an error is not reported again by a later step: a value that failed to
// decode (left zero) would otherwise also fail validation, and a line whose
// ${VAR} was unset would fail for the empty value that replaced it.
type problems struct {
	file     string
	lines    map[string]int
	list     []*Error
	badKeys  map[string]bool
	badLines map[int]bool
}

func newProblems(file string) *problems {
	return &problems{file: file, badKeys: make(map[string]bool), badLines: make(map[int]bool)}
}

// atLine records a problem at a known line, without a key.
func (p *problems) atLine(line int, format string, args ...any) {
	if line > 0 {
		p.badLines[line] = true
	}
	p.list = append(p.list, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// add records a problem with the key at path ("domains.0.ttl"). The line
// comes from the scanner, falling back to the nearest enclosing table.
func (p *problems) add(path, format string, args ...any) {
	line := lineOf(p.lines, path)
	if p.suppressed(path, line) {
		return
	}
	p.badKeys[path] = true
	p.list = append(p.list, &Error{File: p.file, Line: line, Key: displayKey(path), Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) suppressed(path string, line int) bool {
	if line > 0 && p.badLines[line] {
		return true
	}
	for k := path; k != ""; k = parentPath(k) {
		if p.badKeys[k] {
			return true
		}
	}
	return false
}

// maxProblems caps the problems reported: beyond it, a file is broken
// wholesale and more lines would only bury the first ones.
const maxProblems = 100

// err returns the problems ordered by line (then key) as one joined error,
// or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i], p.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Key < b.Key
	})
	list := p.list
	if len(list) > maxProblems {
		more := &Error{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", len(list)-maxProblems)}
		list = append(list[:maxProblems:maxProblems], more)
	}
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// displayKey turns a dotted path into the form operators read:
// "backends.1.health_check.interval" becomes "backends[1].health_check.interval".
func displayKey(path string) string {
	if path == "" {
		return ""
	}
	var b strings.Builder
	for i, seg := range strings.Split(path, ".") {
		switch {
		case i > 0 && isIndex(seg):
			b.WriteString("[" + seg + "]")
		case i > 0:
			b.WriteString("." + seg)
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}

// dottedKey is the inverse of displayKey, so LineOf accepts either form.
func dottedKey(key string) string {
	key = strings.ReplaceAll(key, "[", ".")
	return strings.ReplaceAll(key, "]", "")
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func parentPath(path string) string {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return ""
	}
	return path[:i]
}

// lineOf finds the line of path, or of its nearest enclosing table when the
// key itself is absent (a missing required key points at its table header).
func lineOf(lines map[string]int, path string) int {
	for k := path; k != ""; k = parentPath(k) {
		if n, ok := lines[k]; ok {
			return n
		}
	}
	return 0
}

// LineOf returns the line of key in the file c was loaded from, or of its
// nearest enclosing table when the key was not written, or 0. The key may
// be dotted ("domains.0.ttl") or in display form ("domains[0].ttl").
func (c *Config) LineOf(key string) int {
	if c == nil {
		return 0
	}
	return lineOf(c.Lines, dottedKey(key))
}
