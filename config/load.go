package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the file at path and returns its configuration: environment
// references expanded, decoded strictly, defaulted, canonical and
// validated. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse turns the text of a configuration file into a Config. source names
// the file in messages.
//
// The steps: ${NAME} references are expanded from the environment (inside
// double-quoted strings only; see expandEnv); the text is parsed as TOML;
// every key is decoded exactly, an unknown key being an error; omitted keys
// take their defaults; names and addresses become canonical (zones and
// domains lower case with a trailing dot, addresses as netip.Addr.String);
// and the whole is validated. Every problem found is returned at once,
// joined with errors.Join, each an *Error formatted as
// "file:line: key: what is wrong". A TOML syntax error stops at the parse
// step, as nothing after it can be trusted.
func Parse(source string, data []byte) (*Config, error) {
	return parse(source, data, os.LookupEnv)
}

func parse(source string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	p := newProblems(source)
	text := string(expandEnv(data, lookup, p))

	var tree map[string]any
	if _, err := toml.Decode(text, &tree); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// A line whose ${} was refused is likely broken by it; its
			// syntax error would only repeat the problem.
			if line := syntaxLine(text, pe.Position); !p.badLines[line] {
				p.atLine(line, "%s", pe.Message)
			}
		} else {
			p.atLine(0, "%v", err)
		}
		return nil, p.err()
	}

	c := &Config{Source: source, Lines: scanLines(text)}
	p.lines = c.Lines
	d := &decoder{p: p, defined: make(map[string]bool)}
	d.decode("", tree, reflect.ValueOf(c).Elem())
	defined := func(path string) bool { return d.defined[path] }

	applyDefaults(c, defined)
	validate(c, p, defined)
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// syntaxLine is the line of a TOML syntax error. The parser counts a
// newline it stumbled on as the start of the next line ("[dns" followed by
// a newline is reported one line late), so the byte offset decides.
func syntaxLine(text string, pos toml.Position) int {
	if pos.Start >= 0 && pos.Start < len(text) && pos.Line > 0 {
		return 1 + strings.Count(text[:pos.Start], "\n")
	}
	return pos.Line
}
