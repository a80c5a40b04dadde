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
	level := append([]Hash(nil), leaves...)
	for len(level) > 1 {
		level = nextLevel(level)
	}
	return level[0]
}

// MerkleBranch returns the hashes that, folded with the first leaf, give the
// merkle root: what a miner needs to recompute the root after changing only the
// coinbase (its extra nonce) without rebuilding the tree.
func MerkleBranch(leaves []Hash) []Hash {
	level := append([]Hash(nil), leaves...)
	var branch []Hash
	for len(level) > 1 {
		branch = append(branch, level[1])
		level = nextLevel(level)
	}
	return branch
}

// MerkleRootFromBranch folds the first leaf with its branch into the root.
func MerkleRootFromBranch(first Hash, branch []Hash) Hash {
	for _, sibling := range branch {
		first = hashPair(&first, &sibling)
	}
	return first
}

// nextLevel hashes a level of two or more hashes into the next, in place.
func nextLevel(level []Hash) []Hash {
	next := level[:0]
	for i := 0; i < len(level); i += 2 {
		j := min(i+1, len(level)-1)
		next = append(next, hashPair(&level[i], &level[j]))
	}
	return next
}

func hashPair(a, b *Hash) Hash {
	var pair [2 * HashSize]byte
	copy(pair[:HashSize], a[:])
	copy(pair[HashSize:], b[:])
	first := sha256.Sum256(pair[:])
	return sha256.Sum256(first[:])
}
