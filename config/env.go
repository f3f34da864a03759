package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${NAME} with the value of the environment variable
// NAME, before the text is parsed as TOML.
//
// A reference is meant to sit inside a double-quoted string
// (token = "${WEBAPP_TOKEN}"): the value is inserted escaped for a TOML basic
// string, so quotes, backslashes and newlines in it stay part of the string
// and the file keeps its line numbers. A reference outside a basic string
// is an error rather than a raw paste, which could smuggle keys into the
// file; one in a literal ('...') string is an error too, as escapes mean
// nothing there. $${ writes a literal "${". References in comments are left
// alone. An unset variable is an error that names it and its line; a
// variable set to "" is inserted as empty.
//
// The scanner only needs to know where strings and comments are; the TOML
// parser reports anything malformed afterwards.
func expandEnv(src []byte, lookup func(string) (string, bool), p *problems) []byte {
	const (
		normal = iota
		comment
		basic     // "..."
		literal   // '...'
		mlBasic   // """..."""
		mlLiteral // '''...'''
	)
	s := string(src)
	var out strings.Builder
	out.Grow(len(s))
	state := normal
	line := 1
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\n' {
			line++
			if state == comment || state == basic || state == literal {
				state = normal // single-line constructs end here
			}
			out.WriteByte(c)
			i++
			continue
		}
		if state == comment {
			out.WriteByte(c)
			i++
			continue
		}
		if c == '$' && strings.HasPrefix(s[i:], "$${") {
			out.WriteString("${")
			i += 3
			continue
		}
		if c == '$' && strings.HasPrefix(s[i:], "${") {
			// Look for the closing brace on this line, and not far: a
			// file full of stray "${" must not cost quadratic time.
			rest := s[i:min(len(s), i+maxEnvRef)]
			if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
				rest = rest[:nl]
			}
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				p.atLine(line, "unterminated ${ (write $${ for a literal ${)")
				out.WriteString("${")
				i += 2
				continue
			}
			name := s[i+2 : i+end]
			i += end + 1
			switch {
			case !validEnvName(name):
				p.atLine(line, "${%s}: invalid environment variable name", name)
			case state == literal || state == mlLiteral:
				p.atLine(line, "${%s}: environment references need a double-quoted string, not a literal '...' one", name)
			case state != basic && state != mlBasic:
				p.atLine(line, "${%s}: environment references must be inside a double-quoted string", name)
			default:
				v, ok := lookup(name)
				if !ok {
					p.atLine(line, "environment variable %s is not set", name)
				}
				out.WriteString(escapeBasic(v))
			}
			continue
		}
		switch state {
		case normal:
			switch {
			case c == '#':
				state = comment
			case strings.HasPrefix(s[i:], `"""`):
				state = mlBasic
				out.WriteString(`"""`)
				i += 3
				continue
			case strings.HasPrefix(s[i:], `'''`):
				state = mlLiteral
				out.WriteString(`'''`)
				i += 3
				continue
			case c == '"':
				state = basic
			case c == '\'':
				state = literal
			}
		case basic, mlBasic:
			if c == '\\' && i+1 < len(s) && s[i+1] != '\n' {
				out.WriteString(s[i : i+2]) // an escape: the next byte is not a quote
				i += 2
				continue
			}
			if state == basic && c == '"' {
				state = normal
			}
			if state == mlBasic && strings.HasPrefix(s[i:], `"""`) {
				// Up to two quotes may directly precede the closing """.
				j := i + 3
				for j < len(s) && j < i+5 && s[j] == '"' {
					j++
				}
				out.WriteString(s[i:j])
				i = j
				state = normal
				continue
			}
		case literal:
			if c == '\'' {
				state = normal
			}
		case mlLiteral:
			if strings.HasPrefix(s[i:], `'''`) {
				j := i + 3
				for j < len(s) && j < i+5 && s[j] == '\'' {
					j++
				}
				out.WriteString(s[i:j])
				i = j
				state = normal
				continue
			}
		}
		out.WriteByte(c)
		i++
	}
	return []byte(out.String())
}

// maxEnvRef bounds the length of a ${NAME} reference, braces included.
const maxEnvRef = 256

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// escapeBasic escapes v for the inside of a TOML basic string. Newlines
// become \n, so an inserted value never shifts the file's line numbers.
func escapeBasic(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
