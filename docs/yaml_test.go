package docs

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlBlocks returns the ```yaml blocks of a Markdown file.
func yamlBlocks(text string) []string {
	var out []string
	var cur []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case !in && trim == "```yaml":
			in, cur = true, nil
		case in && trim == "```":
			in = false
			out = append(out, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return out
}

// settingPaths returns the dotted paths of the mapping keys of n, with
// "[]" after the keys of lists.
func settingPaths(n *yaml.Node, prefix string, out *[]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			settingPaths(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := prefix + n.Content[i].Value
			*out = append(*out, name)
			v := n.Content[i+1]
			if v.Kind == yaml.SequenceNode {
				for _, item := range v.Content {
					if item.Kind == yaml.MappingNode {
						settingPaths(item, name+"[].", out)
					}
				}
			}
			settingPaths(v, name+".", out)
		}
	}
}

// TestDocumentedSettingsExist fails when a YAML block of the documentation
// (intransitd configurations; tls.md's is a TLS profile) names a setting
// that intransitd does not have.
func TestDocumentedSettingsExist(t *testing.T) {
	known := map[string]bool{}
	for _, f := range Fields() {
		for p := f.Name; ; {
			known[p] = true
			i := strings.LastIndexAny(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	checked := 0
	for _, file := range docFiles(t) {
		if file == "tls.md" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, block := range yamlBlocks(string(b)) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(block), &n); err != nil {
				t.Errorf("%s: a YAML block does not parse: %v\n%s", file, err, block)
				continue
			}
			var paths []string
			settingPaths(&n, "", &paths)
			for _, p := range paths {
				if !known[p] {
					t.Errorf("%s: the YAML block names %s, which is no setting of intransitd", file, p)
				}
				checked++
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d settings checked in the documentation's YAML blocks", checked)
	}
}
