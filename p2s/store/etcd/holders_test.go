package etcd

import (
	"context"
	"fmt"
	"testing"

	"intransit/internal/testutil/etcdtest"
	"intransit/p2s"
	"intransit/p2s/store/storetest"
)

func TestHoldersContract(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	cl := c.Client()
	storetest.RunHolders(t, storetest.HoldersBackend{New: func(t *testing.T) (func(string) p2s.Holders, func(string) string, func(p2s.Holders)) {
		prefix := fmt.Sprintf("/%s/", t.Name())
		open := func(id string) p2s.Holders {
			h, err := NewHolders(c.Client(), HolderOptions{Prefix: prefix, ID: id})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		holder := func(client string) string {
			resp, err := cl.Get(context.Background(), prefix+"p2s/holders/"+client)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Kvs) == 0 {
				return ""
			}
			return string(resp.Kvs[0].Value)
		}
		expire := func(h p2s.Holders) {
			eh := h.(*Holders)
			eh.mu.Lock()
			l := eh.lease
			eh.mu.Unlock()
			if _, err := cl.Revoke(context.Background(), l); err != nil {
				t.Fatal(err)
			}
		}
		return open, holder, expire
	}})
}
