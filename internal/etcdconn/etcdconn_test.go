package etcdconn

import (
	"context"
	"errors"
	"testing"

	"intransit/internal/testutil/etcdtest"
)

func TestCheck(t *testing.T) {
	tlsFiles := Config{CA: "ca.pem", Cert: "c.pem", Key: "c.key"}
	with := func(c Config, eps ...string) Config { c.Endpoints = eps; return c }
	for _, tc := range []struct {
		name  string
		c     Config
		field string
		index int
	}{
		{"ok", with(tlsFiles, "https://10.0.0.1:2379", "https://10.0.0.1:2380"), "", 0},
		{"plain http without TLS files", with(Config{}, "http://127.0.0.1:2379"), "", 0},
		{"no endpoints", tlsFiles, "endpoints", -1},
		{"half the TLS files", Config{Endpoints: []string{"https://a:1"}, CA: "ca.pem"}, "ca", -1},
		{"http with TLS files", with(tlsFiles, "https://a:1", "http://a:2"), "endpoints", 1},
		{"not a URL", with(tlsFiles, "a:1"), "endpoints", 0},
		{"a path", with(tlsFiles, "https://a:1/v3"), "endpoints", 0},
		{"hosts differ without server_name", with(tlsFiles, "https://a:1", "https://b:1"), "server_name", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Check()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Index != tc.index {
				t.Fatalf("got %v, want field %s[%d]", err, tc.field, tc.index)
			}
		})
	}
}

func TestApplied(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	cl := c.Client()
	ctx := context.Background()
	if _, err := cl.Put(ctx, "/k", "mine"); err != nil {
		t.Fatal(err)
	}
	if !Applied(ctx, cl, "/k", "mine") {
		t.Error("a write that is there is not seen as applied")
	}
	if Applied(ctx, cl, "/k", "theirs") || Applied(ctx, cl, "/missing", "mine") {
		t.Error("another value or no value seen as applied")
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if Applied(done, cl, "/k", "mine") {
		t.Error("a cancelled caller was told its write applied")
	}
}
