package config

import (
	"strconv"
	"strings"
)

// scanLines maps every dotted key path in a TOML document to the line it
// is written on. BurntSushi/toml keeps no positions for keys, and messages
// must name a line, so this small scanner walks the text again.
//
// Paths index arrays of tables and arrays: "domains.0.name",
// "backends.1.health_check.interval", "dns.zones.0". A table header maps to
// its own line ("domains.0", "dns"); a multi-line value maps to the line
// its key is on. The first occurrence of a path wins.
//
// It runs only on text the TOML parser accepted, so it does not diagnose
// anything; on a surprise it skips ahead rather than fail.
func scanLines(text string) map[string]int {
	s := &lineScanner{src: text, line: 1, lines: make(map[string]int), arrays: make(map[string]int)}
	s.document()
	return s.lines
}

type lineScanner struct {
	src   string
	pos   int
	line  int
	lines map[string]int
	// arrays counts the elements of each array of tables, keyed by its
	// resolved path without the index ("backends", "domains").
	arrays map[string]int
}

func (s *lineScanner) eof() bool  { return s.pos >= len(s.src) }
func (s *lineScanner) peek() byte { return s.src[s.pos] }

func (s *lineScanner) advance(n int) {
	for i := 0; i < n && s.pos < len(s.src); i++ {
		if s.src[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

func (s *lineScanner) record(path string, line int) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = line
	}
}

// skipSpace skips blanks and, when newlines is set, newlines and comments.
func (s *lineScanner) skipSpace(newlines bool) {
	for !s.eof() {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.advance(1)
		case newlines && c == '\n':
			s.advance(1)
		case newlines && c == '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (s *lineScanner) skipLine() {
	for !s.eof() && s.peek() != '\n' {
		s.advance(1)
	}
	s.advance(1)
}

func (s *lineScanner) document() {
	table := ""
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.pos
		switch {
		case strings.HasPrefix(s.src[s.pos:], "[["):
			s.advance(2)
			table = s.arrayTable(s.keyPath())
			s.skipPast("]]")
		case s.peek() == '[':
			s.advance(1)
			table = s.table(s.keyPath())
			s.skipPast("]")
		default:
			s.keyValue(table)
		}
		s.skipSpace(false)
		if !s.eof() && (s.peek() == '#' || s.peek() == '\n') {
			s.skipLine()
		}
		if s.pos == start { // never loop on something unexpected
			s.skipLine()
		}
	}
}

// resolve turns header segments into an indexed path: a segment that names
// an array of tables refers to its last element so far.
func (s *lineScanner) resolve(segs []string) string {
	path := ""
	for _, seg := range segs {
		path = joinPath(path, seg)
		if n, ok := s.arrays[path]; ok {
			path = joinPath(path, strconv.Itoa(n-1))
		}
	}
	return path
}

func (s *lineScanner) table(segs []string) string {
	path := s.resolve(segs)
	s.recordParents(path, s.line)
	return path
}

func (s *lineScanner) arrayTable(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	base := joinPath(s.resolve(segs[:len(segs)-1]), segs[len(segs)-1])
	n := s.arrays[base]
	s.arrays[base] = n + 1
	path := joinPath(base, strconv.Itoa(n))
	s.recordParents(path, s.line)
	return path
}

// recordParents records path and every path above it not yet seen, so
// "[overwatch.identity]" also locates "overwatch".
func (s *lineScanner) recordParents(path string, line int) {
	for k := path; k != ""; k = parentPath(k) {
		s.record(k, line)
	}
}

func (s *lineScanner) skipPast(close string) {
	for !s.eof() && !strings.HasPrefix(s.src[s.pos:], close) && s.peek() != '\n' {
		s.advance(1)
	}
	if strings.HasPrefix(s.src[s.pos:], close) {
		s.advance(len(close))
	}
}

// keyValue reads `key = value` inside table.
func (s *lineScanner) keyValue(table string) {
	line := s.line
	segs := s.keyPath()
	if len(segs) == 0 {
		s.skipLine()
		return
	}
	path := table
	for _, seg := range segs {
		path = joinPath(path, seg)
		s.record(path, line)
	}
	s.skipSpace(false)
	if s.eof() || s.peek() != '=' {
		return
	}
	s.advance(1)
	s.skipSpace(false)
	s.value(path)
}

// keyPath reads a possibly dotted, possibly quoted key.
func (s *lineScanner) keyPath() []string {
	var segs []string
	for {
		s.skipSpace(false)
		if s.eof() {
			return segs
		}
		switch c := s.peek(); {
		case c == '"':
			segs = append(segs, s.basicString())
		case c == '\'':
			segs = append(segs, s.literalString())
		default:
			start := s.pos
			for !s.eof() && isBareKeyChar(s.peek()) {
				s.advance(1)
			}
			if s.pos == start {
				return segs
			}
			segs = append(segs, s.src[start:s.pos])
		}
		s.skipSpace(false)
		if s.eof() || s.peek() != '.' {
			return segs
		}
		s.advance(1)
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value, recording the keys of inline tables and the
// elements of arrays under path.
func (s *lineScanner) value(path string) {
	if s.eof() {
		return
	}
	switch c := s.peek(); {
	case strings.HasPrefix(s.src[s.pos:], `"""`):
		s.multiline(`"""`, true)
	case strings.HasPrefix(s.src[s.pos:], `'''`):
		s.multiline(`'''`, false)
	case c == '"':
		s.basicString()
	case c == '\'':
		s.literalString()
	case c == '[':
		s.array(path)
	case c == '{':
		s.inlineTable(path)
	default:
		for !s.eof() {
			switch s.peek() {
			case ',', ']', '}', '\n', '#', ' ', '\t', '\r':
				// A datetime may hold one space ("1979-05-27 07:32:00"):
				// only a digit after it continues the value.
				if s.peek() == ' ' && s.pos+1 < len(s.src) && s.src[s.pos+1] >= '0' && s.src[s.pos+1] <= '9' {
					s.advance(1)
					continue
				}
				return
			}
			s.advance(1)
		}
	}
}

func (s *lineScanner) array(path string) {
	s.advance(1) // [
	for i := 0; ; i++ {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		if s.peek() == ']' {
			s.advance(1)
			return
		}
		elem := joinPath(path, strconv.Itoa(i))
		s.record(elem, s.line)
		start := s.pos
		s.value(elem)
		s.skipSpace(true)
		if !s.eof() && s.peek() == ',' {
			s.advance(1)
		} else if s.pos == start {
			s.advance(1)
		}
	}
}

func (s *lineScanner) inlineTable(path string) {
	s.advance(1) // {
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		if s.peek() == '}' {
			s.advance(1)
			return
		}
		start := s.pos
		s.keyValue(path)
		s.skipSpace(true)
		if !s.eof() && s.peek() == ',' {
			s.advance(1)
		} else if s.pos == start {
			s.advance(1)
		}
	}
}

// basicString reads "..." and returns its unescaped content (for keys).
func (s *lineScanner) basicString() string {
	s.advance(1)
	start := s.pos
	for !s.eof() && s.peek() != '"' && s.peek() != '\n' {
		if s.peek() == '\\' {
			s.advance(1)
		}
		s.advance(1)
	}
	raw := s.src[start:s.pos]
	s.advance(1)
	if v, err := strconv.Unquote(`"` + raw + `"`); err == nil {
		return v
	}
	return raw
}

func (s *lineScanner) literalString() string {
	s.advance(1)
	start := s.pos
	for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
		s.advance(1)
	}
	v := s.src[start:s.pos]
	s.advance(1)
	return v
}

func (s *lineScanner) multiline(delim string, escapes bool) {
	s.advance(3)
	for !s.eof() {
		if escapes && s.peek() == '\\' {
			s.advance(2)
			continue
		}
		if strings.HasPrefix(s.src[s.pos:], delim) {
			s.advance(3)
			// Up to two more quote characters belong to the content.
			for i := 0; i < 2 && !s.eof() && s.peek() == delim[0]; i++ {
				s.advance(1)
			}
			return
		}
		s.advance(1)
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
