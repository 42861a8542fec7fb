package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"intransit/tunnel/control"
)

// codeNames are the constants whose values operators read in refusals,
// logs and status: refusal and close reasons, cuts, and states.
var codeNames = regexp.MustCompile(`^(Reason|reason|Cut|State|Block)[A-Z]`)

// codeValue is what a reason or state looks like.
var codeValue = regexp.MustCompile(`^[a-z][a-z_0-9]*$`)

// tableCode is a `name` in the first column of a Markdown table.
var tableCode = regexp.MustCompile("`([a-z_0-9]+)`")

// stateDirs are the packages whose reasons and states reach an operator.
var stateDirs = []string{"internal/gatewaycore", "internal/status", "s2s", "p2s", "tunnel/control", "tunnel/failclosed", "tlspolicy"}

// documentedCodes returns every string constant named by codeNames in the
// non-test Go files under the repository's stateDirs, with where it is.
func documentedCodes(t *testing.T) map[string]string {
	t.Helper()
	codes := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range stateDirs {
		root := filepath.Join("..", dir)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Only the package itself for tlspolicy: its sub-packages
			// (audit, proxy) have findings of their own, not refusals.
			if d.IsDir() && dir == "tlspolicy" && path != root {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !codeNames.MatchString(name.Name) || i >= len(vs.Values) {
							continue
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							return err
						}
						if !codeValue.MatchString(v) {
							continue // a file name, not a code
						}
						codes[v] = fset.Position(name.Pos()).String() + " " + name.Name
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The control channel's reasons are numbers on the wire; their names
	// are what logs and status show.
	for r := control.Reason(1); r < 256; r++ {
		if r.Valid() {
			codes[r.String()] = "tunnel/control Reason " + strconv.Itoa(int(r))
		}
	}
	// control.Outcome's names for a session that ended without a reason.
	codes["closed"], codes["connection"] = "tunnel/control/outcome.go", "tunnel/control/outcome.go"
	return codes
}

// TestTroubleshootingNamesEveryReasonAndState fails when a refusal reason,
// cut or state of the code is not explained in troubleshooting.md (as
// `name` in a table's first column).
func TestTroubleshootingNamesEveryReasonAndState(t *testing.T) {
	b, err := os.ReadFile("troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	explained := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range tableCode.FindAllStringSubmatch(first, -1) {
			explained[m[1]] = true
		}
	}
	codes := documentedCodes(t)
	if len(codes) < 40 {
		t.Fatalf("found only %d reasons and states in the code; the search is broken", len(codes))
	}
	for code, where := range codes {
		if !explained[code] {
			t.Errorf("troubleshooting.md does not explain %q (%s)", code, where)
		}
	}
}
