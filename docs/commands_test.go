package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// binaries are intransit and intransitd built once for the tests.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// tool returns the path of the built command name (intransit or
// intransitd).
func tool(t *testing.T, name string) string {
	t.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "intransit-docs-")
		if binaries.err != nil {
			return
		}
		for _, c := range []string{"intransit", "intransitd"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binaries.dir, c), "../cmd/"+c).CombinedOutput()
			if err != nil {
				binaries.err = fmt.Errorf("go build %s: %v\n%s", c, err, out)
				return
			}
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return filepath.Join(binaries.dir, name)
}

// docFiles are the Markdown files of the documentation and the README.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no documentation found: %v", err)
	}
	return append(files, "../README.md")
}

// commandLines returns the lines of the shell blocks of a Markdown file
// (``` fences with sh or no language), joined where they continue with \.
func commandLines(text string) []string {
	var out []string
	fenced, shell, cont := false, false, ""
	for _, line := range strings.Split(text, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "```") {
			lang := strings.TrimPrefix(trim, "```")
			fenced = !fenced
			shell = fenced && (lang == "sh" || lang == "")
			continue
		}
		if !shell {
			continue
		}
		if strings.HasSuffix(trim, `\`) {
			cont += strings.TrimSuffix(trim, `\`) + " "
			continue
		}
		out = append(out, cont+trim)
		cont = ""
	}
	return out
}

var (
	segmentSep = regexp.MustCompile(`\|\||&&|[|;` + "`" + `]|\$\(`)
	envAssign  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
	flagName   = regexp.MustCompile(`^--?([a-z][a-z0-9-]*)`)
	cmdWord    = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// invocations returns the intransit and intransitd commands of a shell
// line: the commands of its pipes and lists whose program is intransit or
// intransitd (after environment assignments and sudo), as the program's
// base name and its words.
func invocations(line string) [][]string {
	var out [][]string
	for _, seg := range segmentSep.Split(line, -1) {
		words := strings.Fields(strings.Trim(seg, " ()"))
		for len(words) > 0 && (envAssign.MatchString(words[0]) || words[0] == "sudo") {
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		if prog := filepath.Base(words[0]); prog == "intransit" || prog == "intransitd" {
			out = append(out, append([]string{prog}, words[1:]...))
		}
	}
	return out
}

// TestDocumentedCommandsExist runs --help for every intransit command the
// documentation's shell blocks show and checks that each flag they give
// is one of that command's; for intransitd, that each flag is one of its
// flag set. The documentation cannot show a command that does not exist.
func TestDocumentedCommandsExist(t *testing.T) {
	cli, daemon := tool(t, "intransit"), tool(t, "intransitd")
	helps := map[string]string{}
	help := func(bin string, args ...string) string {
		key := bin + " " + strings.Join(args, " ")
		if h, ok := helps[key]; ok {
			return h
		}
		// intransitd's flag set exits 2 after -h; its usage is what counts.
		out, _ := exec.Command(bin, append(args, "--help")...).CombinedOutput()
		helps[key] = string(out)
		return helps[key]
	}
	checked := 0
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range commandLines(string(b)) {
			if strings.HasPrefix(line, "#") {
				continue
			}
			for _, inv := range invocations(line) {
				words := inv[1:]
				if inv[0] == "intransitd" {
					usage := help(daemon)
					for _, w := range words {
						if f := flagName.FindStringSubmatch(w); f != nil && !strings.Contains(usage, "-"+f[1]+" ") && !strings.Contains(usage, "-"+f[1]+"\n") {
							t.Errorf("%s: %q: intransitd has no flag --%s", file, line, f[1])
						}
					}
					checked++
					continue
				}
				// The command path: words naming subcommands.
				var path []string
				rest := words
				for len(rest) > 0 && cmdWord.MatchString(rest[0]) {
					h := help(cli, path...)
					if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(rest[0]) + `\s`).MatchString(commandsPart(h)) {
						break
					}
					path = append(path, rest[0])
					rest = rest[1:]
				}
				h := help(cli, path...)
				if strings.Contains(h, "Available Commands:") && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
					t.Errorf("%s: %q: %q is no subcommand of intransit %s", file, line, rest[0], strings.Join(path, " "))
				}
				for _, w := range rest {
					f := flagName.FindStringSubmatch(w)
					if f == nil || f[1] == "help" {
						continue
					}
					if !strings.Contains(h, "--"+f[1]+" ") && !strings.Contains(h, "--"+f[1]+"\n") && !strings.Contains(h, "--"+f[1]+"=") {
						t.Errorf("%s: %q: intransit %s has no flag --%s", file, line, strings.Join(path, " "), f[1])
					}
				}
				checked++
			}
		}
	}
	if checked < 30 {
		t.Errorf("only %d command lines checked; the documentation lost its examples or the search is broken", checked)
	}
	t.Logf("%d documented command lines checked against --help", checked)
}

// commandsPart is the "Available Commands" part of a cobra help text.
func commandsPart(help string) string {
	i := strings.Index(help, "Available Commands:")
	if i < 0 {
		return ""
	}
	rest := help[i:]
	if j := strings.Index(rest, "\n\n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestDaemonManualHasEveryFlag fails when intransitd has a flag that its
// manual page (intransitd.8.md) does not describe in OPTIONS.
func TestDaemonManualHasEveryFlag(t *testing.T) {
	usage, _ := exec.Command(tool(t, "intransitd"), "-h").CombinedOutput()
	flags := regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(usage), -1)
	if len(flags) < 3 {
		t.Fatalf("intransitd -h shows %d flags:\n%s", len(flags), usage)
	}
	manual := string(DaemonManual())
	for _, f := range flags {
		if !strings.Contains(manual, "**--"+f[1]+"**") {
			t.Errorf("intransitd.8.md does not describe intransitd's flag --%s", f[1])
		}
	}
}
