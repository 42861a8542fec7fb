package daemonconfig

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Errors is every error found in one configuration, in file order. Each
// is an *Error; errors.As finds the first.
type Errors []*Error

// Error joins the errors with "; ", one line for a log.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// List returns the configuration errors err holds: every one of an
// Errors, or the one *Error; nil when err holds none.
func List(err error) []*Error {
	switch e := err.(type) {
	case Errors:
		return e
	case *Error:
		return []*Error{e}
	}
	return nil
}

// Where returns "file:line" of the field named by a dotted path as Error
// and gatewaycore.ConfigFields write it ("identity.cert",
// "remotes[1].allowed_prefixes[0]"): the line of the deepest part of it
// that the file holds; the file alone when the line is unknown.
func (c *Config) Where(field string) string {
	if l := c.Line(field); l > 0 {
		return fmt.Sprintf("%s:%d", c.Path, l)
	}
	return c.Path
}

// Line returns the line of field (see Where); 0 when unknown.
func (c *Config) Line(field string) int {
	return lineOf(c.root, parseField(field))
}

// Errorf returns an *Error at field (a dotted path, see Where), with the
// file and line of the field in this configuration.
func (c *Config) Errorf(field, format string, args ...any) *Error {
	return &Error{File: c.Path, Line: c.Line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

var fieldIndex = regexp.MustCompile(`^([^\[]*)((?:\[\d+\])*)$`)

// parseField splits "remotes[1].name" into "remotes", 1, "name".
func parseField(field string) []any {
	var path []any
	if field == "" {
		return nil
	}
	for _, part := range strings.Split(field, ".") {
		m := fieldIndex.FindStringSubmatch(part)
		if m == nil {
			path = append(path, part)
			continue
		}
		if m[1] != "" {
			path = append(path, m[1])
		}
		for _, ix := range strings.Split(strings.Trim(m[2], "[]"), "][") {
			if ix == "" {
				continue
			}
			i, _ := strconv.Atoi(ix)
			path = append(path, i)
		}
	}
	return path
}

// fieldAt returns the path of the deepest key or sequence item written on
// line: where a decoding error of that line belongs.
func fieldAt(root *yaml.Node, line int) []any {
	var best []any
	var walk func(n *yaml.Node, path []any)
	walk = func(n *yaml.Node, path []any) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			// The keys of a flow mapping ({a: 1, b: 2}) may share a
			// line: the error then names the mapping.
			on := 0
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Line == line {
					on++
				}
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				p := append(append([]any{}, path...), k.Value)
				if on <= 1 && (k.Line == line || val.Line == line) {
					best = p
				}
				walk(val, p)
			}
		case yaml.SequenceNode:
			// A flow list ([a, b]) is on its key's line: the error
			// names the list, not an item it may not be about.
			flow := n.Style&yaml.FlowStyle != 0
			for i, c := range n.Content {
				p := append(append([]any{}, path...), i)
				if c.Line == line && !flow && c.Kind == yaml.ScalarNode {
					best = p
				}
				walk(c, p)
			}
		}
	}
	walk(root, nil)
	return best
}

// yamlTypeError matches yaml.v3's "cannot unmarshal !!str `x` into int".
var yamlTypeError = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// decodeError records one message of a yaml.TypeError ("line N: ...") at
// the field written on that line, in the file's words (no Go types).
func (v *validator) decodeError(msg string) {
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	field := fieldAt(v.root, line)
	if m := yamlTypeError.FindStringSubmatch(msg); m != nil {
		got := yamlKinds[m[1]]
		if got == "" {
			got = "a " + m[1]
		}
		value := m[2]
		if n := nodeOf(v.root, field); n != nil && n.Kind == yaml.ScalarNode && n.Line == line {
			value = n.Value // yaml.v3 shortens long values
		}
		if value != "" {
			got += fmt.Sprintf(" (%s)", value)
		}
		msg = fmt.Sprintf("want %s, not %s", goKind(m[3]), got)
	}
	if v.badLines == nil {
		v.badLines = map[int]bool{}
	}
	v.badLines[line] = true
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Field: fieldName(field), Msg: msg})
}

// nodeOf returns the node at path in root; nil when there is none.
func nodeOf(root *yaml.Node, path []any) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, el := range path {
		switch k := el.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return nil
			}
			n = n.Content[k]
		}
	}
	return n
}

// yamlKinds names YAML's tags as an operator reads them.
var yamlKinds = map[string]string{
	"str": "a string", "int": "a number", "float": "a number", "bool": "true or false",
	"map": "a mapping", "seq": "a list", "null": "nothing", "timestamp": "a date",
}

// goKind says what a Go type wants, in the file's words.
func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a mapping"
}

// valueOf returns the value of key in the top-level mapping of root; nil
// when there is none.
func valueOf(root *yaml.Node, key string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
