package chain

import "crypto/sha256"

// MerkleRoot computes Bitcoin's merkle tree over leaves: pairs are hashed with
// SHA-256d, and a level with an odd count pairs its last hash with itself. The
// leaves are not modified. An empty list has the zero root.
//
// Because the last hash is duplicated, two different lists can share a root
// (CVE-2012-2459); the duplicate-transaction rule of the block sanity check is
// what makes that harmless.
func MerkleRoot(leaves []Hash) Hash {
	if len(leaves) == 0 {
		return Hash{}
	}
	level := make([]Hash, len(leaves))
	copy(level, leaves)
	var pair [2 * HashSize]byte
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			j := min(i+1, len(level)-1)
			copy(pair[:HashSize], level[i][:])
			copy(pair[HashSize:], level[j][:])
			first := sha256.Sum256(pair[:])
			next = append(next, sha256.Sum256(first[:]))
		}
		level = next
	}
	return level[0]
}
