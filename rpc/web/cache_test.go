package web

import (
	"testing"
	"time"
)

// The cache keeps a value until the tip changes or its ttl passes, never
// holds more than its cost budget, and never keeps a value built at an older
// tip.
func TestCache(t *testing.T) {
	c := newCache()
	builds := 0
	get := func(key string, ttl time.Duration, cost int) int {
		v, err := cachedCost(c, key, ttl, func() (int, int, error) {
			builds++
			return builds, cost, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if a, b := get("a", 0, 1), get("a", 0, 1); a != b || builds != 1 {
		t.Fatalf("built %d times for one tip", builds)
	}
	c.invalidate()
	if get("a", 0, 1); builds != 2 {
		t.Fatal("kept a value across a tip change")
	}
	get("short", time.Nanosecond, 1)
	time.Sleep(time.Millisecond)
	if get("short", time.Nanosecond, 1); builds != 4 {
		t.Fatal("kept a value past its ttl")
	}
	get("huge", 0, maxCacheCost+1)
	if get("huge", 0, maxCacheCost+1); builds != 6 {
		t.Fatal("kept a value over the whole budget")
	}
	c.invalidate()
	get("half1", 0, maxCacheCost/2)
	get("half2", 0, maxCacheCost/2)
	if c.cost != maxCacheCost || len(c.entries) != 2 {
		t.Fatalf("cost %d in %d entries, want the whole budget in 2", c.cost, len(c.entries))
	}
	get("more", 0, 10) // over budget: everything else goes
	if c.cost != 10 || len(c.entries) != 1 {
		t.Fatalf("cost %d in %d entries after overflowing the budget", c.cost, len(c.entries))
	}

	// A value whose build straddles a tip change is returned but not kept.
	v, _ := cached(c, "racy", 0, func() (int, error) {
		c.invalidate()
		return 42, nil
	})
	if _, kept := c.entries["racy"]; v != 42 || kept {
		t.Fatal("kept a value built at an older tip")
	}
}
