package daemonconfig

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unknownKeys reports every key of n that the type t has no field for,
// with the field probably meant: one of the same mapping spelled alike
// ("psk_rotaton": psk_rotation), else one of that name elsewhere in the
// file ("crl" at the top: identity.crl). Types without yaml fields (the
// value types, listen) check their own keys when decoded.
func (v *validator) unknownKeys(n *yaml.Node, t reflect.Type, path []any) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			v.unknownKeys(c, t, path)
		}
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			v.unknownKeys(c, t.Elem(), append(clonePath(path), i))
		}
	case reflect.Struct:
		names, types := yamlFields(t)
		if len(names) == 0 || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			at := append(clonePath(path), k.Value)
			if k.Tag == "!!merge" {
				continue // "<<": the merged mapping's keys are checked where written
			}
			if ft, ok := types[k.Value]; ok {
				v.unknownKeys(val, ft, at)
				continue
			}
			msg := "unknown field"
			if s := suggest(k.Value, names); s != "" {
				meant := fieldName(append(clonePath(path), s))
				msg += " (did you mean " + meant + "?)"
				// That the field meant is missing would only repeat this.
				if v.meant == nil {
					v.meant = map[string]bool{}
				}
				v.meant[meant] = true
			} else if s := elsewhere(k.Value); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			v.errs = append(v.errs, &Error{File: v.file, Line: k.Line, Field: fieldName(at), Msg: msg})
		}
	}
}

func clonePath(p []any) []any { return append([]any(nil), p...) }

// yamlFields returns the yaml keys of struct t, in declaration order, and
// their types; the keys of an inlined struct (`yaml:",inline"`) count as
// t's own.
func yamlFields(t reflect.Type) ([]string, map[string]reflect.Type) {
	var names []string
	types := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			in, inTypes := yamlFields(f.Type)
			names = append(names, in...)
			for k, v := range inTypes {
				types[k] = v
			}
			continue
		}
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

// elsewhere returns the dotted path of a field named key (spelled alike)
// in another section of the file; "" when there is none or more than one.
func elsewhere(key string) string {
	var found []string
	var walk func(t reflect.Type, prefix string, depth int)
	walk = func(t reflect.Type, prefix string, depth int) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				prefix += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 4 {
			return
		}
		names, types := yamlFields(t)
		for _, name := range names {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			if normalize(name) == normalize(key) {
				found = append(found, p)
			}
			walk(types[name], p, depth+1)
		}
	}
	walk(reflect.TypeOf(Config{}), "", 0)
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// suggest returns the candidate closest to key when it is close enough to
// be a slip of the keyboard; "" otherwise.
func suggest(key string, candidates []string) string {
	k := normalize(key)
	limit := 1
	switch {
	case len(k) >= 10:
		limit = 3
	case len(k) >= 5:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := distance(k, normalize(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// normalize folds case and writes "-" as "_".
func normalize(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }

// distance is the edit distance of a and b in bytes, a swap of two
// neighbours counting as one edit (optimal string alignment).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
