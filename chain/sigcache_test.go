package chain

import "testing"

func TestSigCacheBounded(t *testing.T) {
	c := NewSigCache(3)
	var keys []Hash
	for i := range 10 {
		msg := Hash{byte(i)}
		k := sigCacheKey(&msg, []byte{2}, []byte{byte(i)})
		c.add(k)
		keys = append(keys, k)
		if c.Len() > 3 {
			t.Fatalf("cache holds %d entries, bound 3", c.Len())
		}
	}
	if !c.contains(keys[9]) {
		t.Fatal("the newest entry was evicted")
	}
	other := keys[9]
	other[0] ^= 1
	if c.contains(other) {
		t.Fatal("an entry never added is reported")
	}
	var nilCache *SigCache
	if nilCache.contains(keys[9]) {
		t.Fatal("a nil cache reports entries")
	}
	off := NewSigCache(0)
	off.add(keys[0])
	if off.Len() != 0 {
		t.Fatal("a cache of size 0 stored an entry")
	}
}

// A signature differing in one byte must not ride on a cached good one: the
// key binds the message, the public key and the signature bytes.
func TestSigCacheKeyBindsEverything(t *testing.T) {
	msg := Hash{1}
	base := sigCacheKey(&msg, []byte{2, 3}, []byte{4, 5})
	msg2 := Hash{2}
	for name, k := range map[string]Hash{
		"message": sigCacheKey(&msg2, []byte{2, 3}, []byte{4, 5}),
		"key":     sigCacheKey(&msg, []byte{2, 4}, []byte{4, 5}),
		"sig":     sigCacheKey(&msg, []byte{2, 3}, []byte{4, 6}),
		"split":   sigCacheKey(&msg, []byte{2}, []byte{3, 4, 5}),
	} {
		if k == base {
			t.Errorf("cache key ignores the %s", name)
		}
	}
}
