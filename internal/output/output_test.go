package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFormatSet(t *testing.T) {
	var f Format
	for in, want := range map[string]Format{"json": JSON, "JSON": JSON, "table": Table, "text": Table} {
		if err := f.Set(in); err != nil || f != want {
			t.Errorf("Set(%q) = %v, %q; want %q", in, err, f, want)
		}
	}
	if err := f.Set("yaml"); err == nil || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("Set(yaml) error = %v, want one naming the bad value", err)
	}
}

func TestWriteTableAndJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, []string{"NAME", "STATUS"}, [][]string{{"gw-a", "valid"}, {"laptop-long-name", "revoked"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || strings.Index(lines[1], "valid") != strings.Index(lines[2], "revoked") {
		t.Fatalf("columns not aligned:\n%s", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, map[string]int{"n": 3}); err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || got["n"] != 3 {
		t.Fatalf("round trip: %v %v", got, err)
	}
}
